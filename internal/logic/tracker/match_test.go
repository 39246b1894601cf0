package tracker

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

func tracker(id int64, affiliation string, keywords ...string) model.Tracker {
	data, _ := json.Marshal(keywords)
	return model.Tracker{ID: id, TenantID: 7, Name: fmt.Sprint("t", id), Keywords: string(data), Affiliation: affiliation, Version: 1}
}

// hitKeys renders hits as "tracker:seq:phrase" for comparison.
func hitKeys(hits []model.TrackerHit) []string {
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		out = append(out, fmt.Sprintf("%d:%d:%s", h.TrackerID, h.Seq, h.Phrase))
	}
	return out
}

func TestMatchKeywords(t *testing.T) {
	tests := []struct {
		name     string
		keywords []string
		text     string
		want     []string // phrases hit, in the order of the keyword list
	}{
		{"word, case-insensitive", []string{"price"}, "What is the PRICE?", []string{"price"}},
		{"word boundary: not inside a longer word", []string{"price"}, "This is priceless.", nil},
		{"word boundary: not a prefix of the keyword", []string{"prices"}, "The price is fine", nil},
		{"possessive still hits", []string{"price"}, "The price's fine", []string{"price"}},
		{"digits are word characters", []string{"3"}, "we need 300 seats", nil},
		{"digits alone", []string{"300"}, "we need 300 seats", []string{"300"}},
		{"phrase as a sequence", []string{"free trial"}, "Can we get a free trial first?", []string{"free trial"}},
		{"phrase across punctuation and case", []string{"free trial"}, "FREE-trial, please", []string{"free trial"}},
		{"phrase words must be adjacent", []string{"free trial"}, "a free, long trial", nil},
		{"phrase in reverse order", []string{"free trial"}, "trial free", nil},
		{"phrase at the very end", []string{"next step"}, "so what is the next step", []string{"next step"}},
		{"phrase longer than the sentence", []string{"a b c d"}, "a b c", nil},
		{"Chinese substring", []string{"预算"}, "我们今年的预算有限", []string{"预算"}},
		{"Chinese shares one character only", []string{"预算"}, "预计下周签约", nil},
		{"Chinese not across a space", []string{"预算"}, "今年 预 算 有限", nil},
		{"Chinese not across a comma", []string{"好用"}, "产品很好，用户都满意", nil},
		{"Chinese not across punctuation", []string{"预算"}, "预，算", nil},
		{"Chinese not across spaced punctuation", []string{"好用"}, "很好 。 用", nil},
		{"Chinese inside a longer run", []string{"好用"}, "这个很好用啊", []string{"好用"}},
		{"one character wherever it stands", []string{"贵"}, "太贵了，贵", []string{"贵"}},
		{"spaces in a keyword join Han", []string{"预算 有限"}, "我们今年的预算有限", []string{"预算 有限"}},
		{"a keyword with punctuation needs a separator", []string{"预算，有限"}, "预算。有限", []string{"预算，有限"}},
		{"a keyword with punctuation not without one", []string{"预算，有限"}, "预算有限", nil},
		{"Latin beside CJK, glued", []string{"买iPhone"}, "想买 iPhone 15", []string{"买iPhone"}},
		{"Latin beside CJK, spaced", []string{"买 iPhone"}, "想买iPhone", []string{"买 iPhone"}},
		{"Latin beside CJK, after punctuation", []string{"买iPhone"}, "想买，iPhone", []string{"买iPhone"}},
		{"a number is whole", []string{"3"}, "打3.5折", nil},
		{"a number with a comma is whole", []string{"1"}, "1,000 seats", nil},
		{"a decimal hits itself", []string{"3.5"}, "打3.5折", []string{"3.5"}},
		{"a decimal is not its digits apart", []string{"3.5"}, "3 5", nil},
		{"a number's full stop ends a sentence", []string{"3"}, "we need 3. Then", []string{"3"}},
		{"Chinese keyword next to Latin", []string{"微信"}, "加个WeChat微信吧", []string{"微信"}},
		{"English word inside Chinese", []string{"demo"}, "下周给您做个demo演示", []string{"demo"}},
		{"English word glued to letters is no hit", []string{"demo"}, "demos are ready", nil},
		{"mixed keyword", []string{"A轮融资"}, "他们刚完成a轮融资", []string{"A轮融资"}},
		{"full-width Latin folds", []string{"price"}, "ＰＲＩＣＥ是多少", []string{"price"}},
		{"one hit per keyword per sentence", []string{"price"}, "price, price and price", []string{"price"}},
		{"several keywords in one sentence", []string{"budget", "price", "预算"}, "Price and budget, 预算", []string{"budget", "price", "预算"}},
		{"duplicate keywords count once", []string{"price", "PRICE"}, "the price", []string{"price"}},
		{"Japanese kana as characters", []string{"カタ"}, "カタカナ", []string{"カタ"}},
		{"accented words", []string{"café"}, "un Café noir", []string{"café"}},
		{"no match in empty text", []string{"price"}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := Match([]model.Tracker{tracker(1, model.AffiliationAnyone, tc.keywords...)},
				[]model.Sentence{{ConversationID: 9, Seq: 0, SpeakerKey: "A", StartMS: 10, Text: tc.text}}, nil)
			var got []string
			for _, h := range hits {
				got = append(got, h.Phrase)
				if h.TenantID != 7 || h.TrackerID != 1 || h.ConversationID != 9 || h.StartMS != 10 || h.SpeakerKey != "A" {
					t.Errorf("hit fields: %+v", h)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("text %q, keywords %q: got %q, want %q", tc.text, tc.keywords, got, tc.want)
			}
		})
	}
}

func TestMatchAffiliation(t *testing.T) {
	participants := []model.Participant{
		{SpeakerKey: "rep", Affiliation: model.AffiliationInternal},
		{SpeakerKey: "cust", Affiliation: model.AffiliationExternal},
		{SpeakerKey: "who", Affiliation: model.AffiliationUnknown},
		// "ghost" has no participant row: external, like unknown.
	}
	sentences := []model.Sentence{
		{Seq: 0, SpeakerKey: "rep", Text: "our price is fair"},
		{Seq: 1, SpeakerKey: "cust", Text: "the price is high"},
		{Seq: 2, SpeakerKey: "who", Text: "价格 price"},
		{Seq: 3, SpeakerKey: "ghost", Text: "price!"},
	}
	trackers := []model.Tracker{
		tracker(1, model.AffiliationAnyone, "price"),
		tracker(2, model.AffiliationInternal, "price"),
		tracker(3, model.AffiliationExternal, "price"),
	}
	got := hitKeys(Match(trackers, sentences, participants))
	want := []string{
		"1:0:price", "2:0:price",
		"1:1:price", "3:1:price",
		"1:2:price", "3:2:price",
		"1:3:price", "3:3:price",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestMatchOrderAndBadRows(t *testing.T) {
	trackers := []model.Tracker{
		tracker(5, model.AffiliationAnyone, "budget"),
		{ID: 6, TenantID: 7, Keywords: "not json", Affiliation: model.AffiliationAnyone},
		tracker(4, model.AffiliationAnyone, "price", "budget"),
	}
	// Hits come ordered by seq, tracker id, then the tracker's keyword list,
	// whatever the order of sentences and trackers.
	sentences := []model.Sentence{
		{Seq: 2, SpeakerKey: "A", Text: "budget and price"},
		{Seq: 1, SpeakerKey: "A", Text: "budget"},
	}
	got := hitKeys(Match(trackers, sentences, nil))
	want := []string{"4:1:budget", "5:1:budget", "4:2:price", "4:2:budget", "5:2:budget"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if hits := Match(nil, sentences, nil); len(hits) != 0 {
		t.Errorf("no trackers: %v", hits)
	}
}

// Overlapping keywords make every sentence hit every keyword; a tracker
// keeps its first MaxHitsPerConversation hits of a conversation, in the
// order of Match, whatever the other trackers matched alongside, and a
// tracker with few hits keeps them all.
func TestMatchHitsPerConversationBounded(t *testing.T) {
	var kws []string
	for i := 1; i <= 50; i++ {
		kws = append(kws, strings.Repeat("啊", i))
	}
	greedy := tracker(1, model.AffiliationAnyone, kws...)
	also := tracker(2, model.AffiliationAnyone, kws[:40]...)
	rare := tracker(3, model.AffiliationAnyone, "预算")
	sentences := make([]model.Sentence, 200)
	for i := range sentences {
		sentences[i] = model.Sentence{Seq: i, SpeakerKey: "A", Text: strings.Repeat("啊", 60)}
	}
	sentences[150].Text += "预算"
	sentences[199].Text += "预算"

	hits := Match([]model.Tracker{greedy, also, rare}, sentences, nil)
	per := map[int64][]string{}
	for _, h := range hits {
		per[h.TrackerID] = append(per[h.TrackerID], fmt.Sprintf("%d:%s", h.Seq, h.Phrase))
	}
	if n := len(per[1]); n != MaxHitsPerConversation {
		t.Errorf("tracker 1 kept %d hits, want %d", n, MaxHitsPerConversation)
	}
	if n := len(per[2]); n != MaxHitsPerConversation {
		t.Errorf("tracker 2 kept %d hits, want %d", n, MaxHitsPerConversation)
	}
	if want := []string{"150:预算", "199:预算"}; !slices.Equal(per[3], want) {
		t.Errorf("tracker 3: %q, want %q", per[3], want)
	}
	// The first ones: 40 whole sentences of 50 hits for tracker 1.
	if first, last := per[1][0], per[1][len(per[1])-1]; first != "0:啊" || last != "39:"+strings.Repeat("啊", 50) {
		t.Errorf("tracker 1 kept %s .. %s", first, last)
	}
	// Alone, as its re-application matches it, a tracker keeps the same.
	for _, tr := range []model.Tracker{greedy, also, rare} {
		alone := hitKeys(Match([]model.Tracker{tr}, sentences, nil))
		var together []string
		for _, h := range hitKeys(hits) {
			if strings.HasPrefix(h, fmt.Sprint(tr.ID, ":")) {
				together = append(together, h)
			}
		}
		if !slices.Equal(alone, together) {
			t.Errorf("tracker %d: %d hits alone, %d with the others", tr.ID, len(alone), len(together))
		}
	}
}

// naiveHits is the rule of Match read literally: a keyword hits a sentence
// whose tokens hold its tokens consecutively somewhere, once per sentence.
func naiveHits(trackers []model.Tracker, sentences []model.Sentence) []string {
	var out []string
	for _, s := range sentences {
		toks := strings.Join(interaction.MatchTokens(s.Text), "\x00")
		for _, tr := range trackers {
			var kws []string
			_ = json.Unmarshal([]byte(tr.Keywords), &kws)
			seen := map[string]bool{}
			for _, k := range kws {
				kt := strings.Join(interaction.KeywordTokens(k), "\x00")
				if kt == "" || seen[kt] {
					continue
				}
				seen[kt] = true
				if toks == kt || strings.HasPrefix(toks, kt+"\x00") || strings.HasSuffix(toks, "\x00"+kt) || strings.Contains(toks, "\x00"+kt+"\x00") {
					out = append(out, fmt.Sprintf("%d:%d:%s", tr.ID, s.Seq, k))
				}
			}
		}
	}
	return out
}

// Keywords that are prefixes, suffixes and inner parts of one another, of
// one tracker or several, hit exactly where the rule says, in the order of
// Match.
func TestMatchAgreesWithTheRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Spaces and commas between Han characters: a boundary in a sentence;
	// in a keyword a boundary for the comma, none for spaces alone.
	words := []string{"a", "b", "啊", "吧", "ab", "，", "啊吧"}
	phrase := func(maxLen int) string {
		var b strings.Builder
		for range 1 + rng.IntN(maxLen) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteString(" ")
		}
		return strings.TrimSpace(b.String())
	}
	for round := range 300 {
		var trackers []model.Tracker
		for id := range 1 + rng.IntN(4) {
			var kws []string
			for range 1 + rng.IntN(6) {
				kws = append(kws, phrase(5))
			}
			trackers = append(trackers, tracker(int64(id+1), model.AffiliationAnyone, kws...))
		}
		var sentences []model.Sentence
		for seq := range 1 + rng.IntN(5) {
			sentences = append(sentences, model.Sentence{Seq: seq, SpeakerKey: "A", Text: phrase(20)})
		}
		got, want := hitKeys(Match(trackers, sentences, nil)), naiveHits(trackers, sentences)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: trackers %v, sentences %v:\ngot  %q\nwant %q", round, trackers, sentences, got, want)
		}
	}
}

// The rule with speakers and the bound: trackers given in any order, of
// every affiliation, against the sentences of an internal speaker, an
// external one and one without a participant row, in any order of seq and
// long enough to reach MaxHitsPerConversation, hit as naiveHits says for
// the sentences their affiliation counts, each tracker's first
// MaxHitsPerConversation kept; and one Matcher shared by concurrent
// matches (as the Hook shares a tenant's) gives each the same.
func TestMatchAgreesWithTheRuleBySpeakerAndBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"a", "b", "啊", "吧"}
	phrase := func(maxLen int) string {
		parts := make([]string, 1+rng.IntN(maxLen))
		for i := range parts {
			parts[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(parts, " ")
	}
	affiliations := []string{model.AffiliationAnyone, model.AffiliationInternal, model.AffiliationExternal}
	participants := []model.Participant{{SpeakerKey: "in", Affiliation: model.AffiliationInternal}, {SpeakerKey: "out", Affiliation: model.AffiliationExternal}}
	side := map[string]string{"in": model.AffiliationInternal, "out": model.AffiliationExternal, "nobody": model.AffiliationExternal}
	for round := range 40 {
		var trackers []model.Tracker
		for _, id := range rng.Perm(1 + rng.IntN(4)) {
			var kws []string
			for range 1 + rng.IntN(12) {
				kws = append(kws, phrase(3))
			}
			trackers = append(trackers, tracker(int64(id+1), affiliations[rng.IntN(len(affiliations))], kws...))
		}
		sentences := make([]model.Sentence, 200+rng.IntN(800))
		for i, seq := range rng.Perm(len(sentences)) {
			speaker := []string{"in", "out", "nobody"}[rng.IntN(3)]
			sentences[i] = model.Sentence{Seq: seq, SpeakerKey: speaker, Text: phrase(30)}
		}
		byID := slices.SortedFunc(slices.Values(trackers), func(a, b model.Tracker) int { return int(a.ID - b.ID) })
		bySeq := slices.SortedFunc(slices.Values(sentences), bySeq)
		var want []string
		kept := map[int64]int{}
		for _, s := range bySeq {
			for _, tr := range byID {
				if tr.Affiliation != model.AffiliationAnyone && tr.Affiliation != side[s.SpeakerKey] {
					continue
				}
				for _, h := range naiveHits([]model.Tracker{tr}, []model.Sentence{s}) {
					if kept[tr.ID] < MaxHitsPerConversation {
						kept[tr.ID]++
						want = append(want, h)
					}
				}
			}
		}
		m := NewMatcher(trackers)
		got := make([][]string, 4)
		done := make(chan struct{})
		for i := range got {
			go func() {
				defer func() { done <- struct{}{} }()
				got[i] = hitKeys(m.Match(sentences, participants))
			}()
		}
		for range got {
			<-done
		}
		for i := range got {
			if !slices.Equal(got[i], want) {
				t.Fatalf("round %d, match %d: %d hits, want %d; trackers %v", round, i, len(got[i]), len(want), trackers)
			}
		}
	}
}

// A transcript is read once, token by token, whatever the keywords: 100
// keywords of 63 "啊" and one other character, which never complete,
// against sentences of "啊" only, cost about what one absent keyword
// costs (a trie walked again from every token read each "啊" 63 times).
// Compare the two with:
//
//	go test -run X -bench BenchmarkMatcherDeepKeywords ./internal/logic/tracker
func BenchmarkMatcherDeepKeywords(b *testing.B) {
	var kws []string
	for i := range 100 {
		kws = append(kws, strings.Repeat("啊", 63)+string(rune('一'+i)))
	}
	sentences := make([]model.Sentence, 100)
	for i := range sentences {
		sentences[i] = model.Sentence{Seq: i, SpeakerKey: "A", Text: strings.Repeat("啊", 1365)}
	}
	for _, c := range []struct {
		name string
		m    *Matcher
	}{
		{"deep", NewMatcher([]model.Tracker{tracker(1, model.AffiliationAnyone, kws...)})},
		{"one-absent-keyword", NewMatcher([]model.Tracker{tracker(1, model.AffiliationAnyone, "吧")})},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if hits := c.m.Match(sentences, nil); len(hits) != 0 {
					b.Fatalf("hits: %v", hitKeys(hits))
				}
			}
		})
	}
}

// longKeywordTrackers are 50 trackers of 100 keywords of 64 distinct
// characters: a quarter of a tenant's allowance.
func longKeywordTrackers() []model.Tracker {
	rng := rand.New(rand.NewPCG(3, 4))
	var trackers []model.Tracker
	for i := range 50 {
		var kws []string
		for range 100 {
			r := make([]rune, 64)
			for k := range r {
				r[k] = rune(0x4e00 + rng.IntN(20000))
			}
			kws = append(kws, string(r))
		}
		trackers = append(trackers, tracker(int64(i+1), model.AffiliationAnyone, kws...))
	}
	return trackers
}

// The trie is flat: a node per distinct prefix of the keywords' tokens, an
// edge per node but the root, a number per distinct token, and nothing
// else per node (a map of children per node took 96 MB for the 320,000
// nodes here; BenchmarkMatcherMemory reports what it takes now).
func TestMatcherTrieIsFlat(t *testing.T) {
	trackers := longKeywordTrackers()
	prefixes, tokens := map[string]bool{}, map[string]bool{}
	for _, tr := range trackers {
		var keywords []string
		if err := json.Unmarshal([]byte(tr.Keywords), &keywords); err != nil {
			t.Fatal(err)
		}
		for _, kw := range keywords {
			toks := interaction.KeywordTokens(kw)
			for i := range toks {
				prefixes[strings.Join(toks[:i+1], "\x00")] = true
				tokens[toks[i]] = true
			}
		}
	}
	m := NewMatcher(trackers)
	if len(m.nodes) != len(prefixes)+1 || len(m.edges) != len(prefixes) || len(m.tokens) != len(tokens) {
		t.Errorf("%d nodes, %d edges, %d tokens; want %d, %d and %d", len(m.nodes), len(m.edges), len(m.tokens),
			len(prefixes)+1, len(prefixes), len(tokens))
	}
	sentences := []model.Sentence{{Seq: 0, SpeakerKey: "A", Text: "前言" + trackers[7].Keywords[2:2+3*64] + "后记"}}
	if got := hitKeys(m.Match(sentences, nil)); len(got) != 1 || !strings.HasPrefix(got[0], "8:0:") {
		t.Errorf("hits %q", got)
	}
}

// BenchmarkMatcherMemory reports the heap a prepared matcher of 5,000
// keywords of 64 characters holds (the Hook keeps one per tenant).
func BenchmarkMatcherMemory(b *testing.B) {
	trackers := longKeywordTrackers()
	var held float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := NewMatcher(trackers)
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
		runtime.KeepAlive(m)
	}
	b.ReportMetric(held, "MiB-held")
}

// A stored keyword longer than the API allows (64 characters) still
// matches: the matcher does not rely on the limit.
func TestMatchKeywordPastTheLimit(t *testing.T) {
	long := strings.Repeat("啊", 300)
	hits := Match([]model.Tracker{tracker(1, model.AffiliationAnyone, long)},
		[]model.Sentence{{Seq: 0, SpeakerKey: "A", Text: "嗯" + long}, {Seq: 1, SpeakerKey: "A", Text: long[3:]}}, nil)
	if got := hitKeys(hits); !slices.Equal(got, []string{"1:0:" + long}) {
		t.Errorf("hits %d: %.20q", len(got), got)
	}
}

// BenchmarkMatcher matches a 3-hour call (5,000 sentences) against
// 50 trackers of 10 keywords each, about one hit in ten sentences.
func BenchmarkMatcher(b *testing.B) {
	var trackers []model.Tracker
	for i := range 50 {
		var kws []string
		for j := range 10 {
			kws = append(kws, fmt.Sprintf("keyword%d", i*10+j), fmt.Sprintf("预算%d", i*10+j))
		}
		trackers = append(trackers, tracker(int64(i+1), model.AffiliationAnyone, kws[:10]...))
	}
	sentences := make([]model.Sentence, 5000)
	for i := range sentences {
		text := "我们今年的预算有限，但是价格还可以再谈一谈, so what would the next step be for your team"
		if i%10 == 0 {
			text += fmt.Sprintf(" keyword%d", i%500)
		}
		sentences[i] = model.Sentence{Seq: i, SpeakerKey: "A", Text: text}
	}
	m := NewMatcher(trackers)
	b.ReportAllocs()
	for b.Loop() {
		m.Match(sentences, nil)
	}
}
