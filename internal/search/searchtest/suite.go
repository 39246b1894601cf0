// Package searchtest is the behaviour suite every search engine passes
// (PRODUCT §5): Chinese and English matching, phrases, filters, scope,
// highlights, facets, pagination and transcript replacement.
package searchtest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/search"
)

// Options describe the engine under test.
type Options struct {
	// New returns an empty engine.
	New func(t *testing.T) search.Engine
	// Refresh makes what was written searchable (nil: nothing to do).
	Refresh func(t *testing.T, e search.Engine)
	// Stemming: the engine's analysis stems English words.
	Stemming bool
	// CJKBigrams: the engine indexes Han text as overlapping bigrams, which
	// form only between characters that stand together, never across
	// punctuation. Indexed one character at a time, a phrase query still
	// matches a word, but also two characters a comma separates.
	CJKBigrams bool
	// WidthFolding: the engine folds full-width Latin letters and digits (as
	// Chinese input methods type them) to their ASCII forms.
	WidthFolding bool
}

// Fixture ids.
const (
	tenant      = 7001
	otherTenant = 7002
	repA        = 11
	repB        = 12
	repC        = 13
	dealX       = 501
)

var shanghai = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone(name, 8*3600)
	}
	return loc
}

// day0 is 2025-03-10 09:00 in Shanghai.
var day0 = time.Date(2025, 3, 10, 1, 0, 0, 0, time.UTC)

func conv(id, owner int64, begin time.Time, durMS int64, dir string, lines ...string) *search.Doc {
	d := &search.Doc{
		TenantID: tenant, ConversationID: id, OwnerUserID: owner, DepartmentPath: "/1/",
		Title: fmt.Sprintf("call %d", id), Channel: "call", Direction: dir, BeginTime: begin,
		DurationMS: durMS, Language: "zh-CN", Version: 1,
	}
	for i, l := range lines {
		// "I:" lines are spoken by the sales side, others by the customer.
		aff, key := "external", "spk_1"
		if text, ok := strings.CutPrefix(l, "I:"); ok {
			aff, key, l = "internal", "spk_0", text
		}
		d.Sentences = append(d.Sentences, search.Sentence{
			Seq: i, SpeakerKey: key, Affiliation: aff, StartMS: int64(i) * 4000, EndMS: int64(i)*4000 + 3000, Text: l,
		})
	}
	return d
}

// corpus is the shared fixture: conversations 1..9 of the tenant, one of
// another tenant with the same words.
func corpus() []*search.Doc {
	docs := []*search.Doc{
		conv(1, repA, day0, 600_000, "outbound",
			"I:你好，我是销售小王",
			"我们今年的预算有限",
			"I:明白，我们可以分期付款"),
		conv(2, repA, day0.Add(2*time.Hour), 300_000, "inbound",
			"I:我们预计下周签约",
			"好的，下周见"),
		conv(3, repB, day0.Add(24*time.Hour), 1_200_000, "outbound",
			"I:The BUDGET is tight this quarter",
			"Our budgets are approved every January",
			"I:Let us talk about pricing"),
		conv(4, repB, day0.Add(48*time.Hour), 120_000, "inbound",
			"Tight budget is normal for us",
			"I:预算 approval takes two weeks"),
		conv(5, repC, day0.Add(48*time.Hour+time.Hour), 900_000, "outbound",
			"I:预算的问题我们下次再谈",
			"预算",
			"关于预算，老板说要再看看",
			"预算审批需要两周",
			"I:好的"),
		conv(6, repC, day0.Add(72*time.Hour), 60_000, "unknown",
			"签约的事情再说",
			"预算已经批了"),
		conv(7, repA, day0.Add(96*time.Hour), 450_000, "outbound",
			"I:<b>Special</b> & characters: budget"),
		conv(8, repA, day0.Add(120*time.Hour), 450_000, "outbound",
			"I:价格 can be discussed",
			"预算 is fixed"),
		conv(9, repB, day0.Add(144*time.Hour), 450_000, "inbound",
			"I:价格和预算都谈好了"),
		conv(10, repB, day0.Add(168*time.Hour), 300_000, "outbound",
			"I:这套系统非常好用",
			"The price is final"),
		// 好，用 meet only across a comma: no word 好用 here.
		conv(11, repC, day0.Add(168*time.Hour), 300_000, "inbound",
			"产品很好，用户都满意",
			"I:报价是１２０万，含ＶＡＴ"),
	}
	docs[3].DealID = dealX
	docs[4].DealID = dealX
	other := conv(100, repA, day0, 600_000, "outbound", "我们今年的预算有限", "budget budget")
	other.TenantID = otherTenant
	return append(docs, other)
}

// Run runs the suite.
func Run(t *testing.T, o Options) {
	e := o.New(t)
	ctx := context.Background()
	write(t, e, corpus()...)
	if o.Refresh != nil {
		o.Refresh(t, e)
	}
	q := func(query string) search.Query {
		terms, err := search.Parse(query)
		if err != nil {
			t.Fatalf("Parse(%q): %v", query, err)
		}
		return search.Query{TenantID: tenant, Terms: terms, Size: 20, Location: shanghai}
	}
	ids := func(t *testing.T, qq search.Query) []int64 {
		t.Helper()
		res, err := e.Search(ctx, qq)
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		var out []int64
		for _, h := range res.Hits {
			out = append(out, h.ConversationID)
		}
		slices.Sort(out)
		return out
	}
	expect := func(t *testing.T, qq search.Query, want ...int64) {
		t.Helper()
		if got := ids(t, qq); !slices.Equal(got, want) {
			t.Errorf("terms %v: got conversations %v, want %v", qq.Terms, got, want)
		}
	}

	t.Run("ChineseWords", func(t *testing.T) {
		// 预算 matches 我们今年的预算有限 but not 预计下周签约.
		expect(t, q("预算"), 1, 4, 5, 6, 8, 9)
		expect(t, q("预计"), 2)
		expect(t, q("签约"), 2, 6)
		expect(t, q("预算有限"), 1)
	})
	t.Run("AllTermsInOneSentence", func(t *testing.T) {
		// 预算 and 签约 are both in 6, but in different sentences.
		expect(t, q("预算 签约"))
		expect(t, q("价格 预算"), 9)
		expect(t, q("预算 fixed"), 8)
	})
	t.Run("EnglishCaseInsensitive", func(t *testing.T) {
		expect(t, q("budget"), 3, 4, 7)
		expect(t, q("BUDGET Tight"), 3, 4)
		expect(t, q("january"), 3)
	})
	t.Run("Stemming", func(t *testing.T) {
		if !o.Stemming {
			t.Skip("the engine's analysis does not stem English")
		}
		expect(t, q("budgets"), 3, 4, 7)
		expect(t, q("approve"), 3, 4)
		// "Let us talk about pricing" (3) and "The price is final" (10).
		expect(t, q("pricing"), 3, 10)
		expect(t, q("prices"), 3, 10)
		expect(t, q("price"), 3, 10)
	})
	t.Run("ChineseWordWithinASentence", func(t *testing.T) {
		// Every engine: a word found inside a longer sentence, and only
		// there.
		expect(t, q("系统"), 10)
		expect(t, q("满意"), 11)
		expect(t, q("非常好用"), 10)
	})
	t.Run("CJKBigrams", func(t *testing.T) {
		if !o.CJKBigrams {
			t.Skip("the engine's analysis indexes Han characters one at a time, so 好用 also matches 很好，用户 across the comma")
		}
		expect(t, q("好用"), 10)
		expect(t, q(`"好用"`), 10)
		expect(t, q("好用 系统"), 10)
	})
	t.Run("OneCharacterWords", func(t *testing.T) {
		// A one-character Chinese word is a word (PRODUCT §5), found
		// wherever the character stands, its neighbours Han or not;
		// with bigrams, the index holds it as a token of its own only
		// where it stands alone.
		expect(t, q("好"), 1, 2, 5, 9, 10, 11)
		const own = tenant + 10
		docs := []*search.Doc{
			conv(9401, repA, day0, 60_000, "inbound", "太贵了，我们买不起"),
			conv(9402, repA, day0, 60_000, "inbound", "贵得离谱，真的太贵"),
			conv(9403, repA, day0, 60_000, "inbound", "价格还可以"),
			conv(9404, repA, day0, 60_000, "inbound", "我想买iPhone"),
		}
		for _, d := range docs {
			d.TenantID = own
		}
		write(t, e, docs...)
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		mine := func(query string) search.Query {
			qq := q(query)
			qq.TenantID = own
			return qq
		}
		expect(t, mine("贵"), 9401, 9402)
		expect(t, mine("贵 买"), 9401)
		expect(t, mine("太贵"), 9401, 9402)
		expect(t, mine("贵了"), 9401)
		expect(t, mine("买iPhone"), 9404)
		res, err := e.Search(ctx, mine("贵"))
		if err != nil || len(res.Hits) != 2 {
			t.Fatalf("贵: %+v %v", res, err)
		}
		// Twice in a sentence of nine words outranks once in one of
		// eight, each occurrence marked.
		first, second := res.Hits[0], res.Hits[1]
		text := docs[1].Sentences[0].Text
		if want := search.Norm(text) * search.TermWeight(2); first.ConversationID != 9402 || math.Abs(first.Score-want) > 1e-4*want {
			t.Errorf("贵 ranks %d first with %v, want 9402 with %v", first.ConversationID, first.Score, want)
		}
		if want := search.Norm(docs[0].Sentences[0].Text); second.ConversationID != 9401 || math.Abs(second.Score-want) > 1e-4*want {
			t.Errorf("贵 ranks %d second with %v, want 9401 with %v", second.ConversationID, second.Score, want)
		}
		for h, want := range map[*search.Hit]string{&first: "<em>贵</em>得离谱，真的太<em>贵</em>", &second: "太<em>贵</em>了，我们买不起"} {
			if len(h.Snippets) != 1 || h.Snippets[0].Text != want {
				t.Errorf("贵 in conversation %d: snippets %+v, want %q", h.ConversationID, h.Snippets, want)
			}
		}
	})
	t.Run("WidthFolding", func(t *testing.T) {
		if !o.WidthFolding {
			t.Skip("the engine's analysis does not make full-width digits and letters match their ASCII forms (120万 does not find １２０万)")
		}
		expect(t, q("120万"), 11)
		expect(t, q("vat"), 11)
		expect(t, q("１２０万"), 11)
	})
	t.Run("Phrases", func(t *testing.T) {
		expect(t, q(`"budget is tight"`), 3)
		expect(t, q(`"tight budget"`), 4)
		expect(t, q(`"下周签约"`), 2)
		expect(t, q(`"预算 approval"`), 4)
	})
	t.Run("OddInputIsText", func(t *testing.T) {
		for _, s := range []string{`budget AND`, `budget*`, `title:budget`, `(budget)`, `budget~2`, `\"budget\"`, `<b>`, `budget^10 OR x`} {
			terms, err := search.Parse(s)
			if err != nil {
				continue
			}
			qq := q("x")
			qq.Terms = terms
			if _, err := e.Search(ctx, qq); err != nil {
				t.Errorf("%q: %v", s, err)
			}
		}
		expect(t, q("(budget)"), 3, 4, 7)
		expect(t, q("title:budget"))
	})
	t.Run("TenantIsolation", func(t *testing.T) {
		qq := q("预算有限")
		qq.TenantID = otherTenant
		expect(t, qq, 100)
	})
	t.Run("Scope", func(t *testing.T) {
		qq := q("预算")
		qq.Owners = []int64{repA}
		expect(t, qq, 1, 8)
		qq.Owners = []int64{repA, repC}
		expect(t, qq, 1, 5, 6, 8)
		qq.Owners = []int64{}
		expect(t, qq)
		// A filter cannot widen the scope.
		qq.Owners = []int64{repA}
		qq.OwnerIDs = []int64{repC}
		expect(t, qq)
	})
	t.Run("LongScopes", func(t *testing.T) {
		// A manager over a department of many users sends the engine more
		// owner ids than Elasticsearch takes in one terms query (65,536).
		long := func(keep ...int64) []int64 {
			out := make([]int64, 0, 70_000)
			for id := int64(1_000_000); len(out) < 70_000-len(keep); id++ {
				out = append(out, id)
			}
			return append(out, keep...)
		}
		qq := q("预算")
		qq.Owners = long(repA)
		expect(t, qq, 1, 8)
		qq.OwnerIDs = long(repA, repC)
		expect(t, qq, 1, 8)
		qq = q("预算")
		qq.Conversations = long(5, 6)
		expect(t, qq, 5, 6)
	})
	t.Run("Filters", func(t *testing.T) {
		qq := q("预算")
		qq.OwnerIDs = []int64{repC}
		expect(t, qq, 5, 6)
		qq = q("预算")
		qq.DealID = dealX
		expect(t, qq, 4, 5)
		qq = q("预算")
		qq.Direction = "inbound"
		expect(t, qq, 4, 9)
		qq = q("预算")
		qq.From, qq.To = day0.Add(48*time.Hour), day0.Add(72*time.Hour)
		expect(t, qq, 4, 5)
		qq.To = day0.Add(72*time.Hour + time.Millisecond)
		expect(t, qq, 4, 5, 6)
		min, max := int64(120_000), int64(600_000)
		qq = q("预算")
		qq.MinDurationMS, qq.MaxDurationMS = &min, &max
		expect(t, qq, 1, 4, 8, 9)
		qq = q("预算")
		qq.Affiliation = "internal"
		expect(t, qq, 4, 5, 9)
		qq.Affiliation = "external"
		expect(t, qq, 1, 5, 6, 8)
		qq = q("预算")
		qq.Conversations = []int64{1, 2, 6, 100}
		expect(t, qq, 1, 6)
		qq.Conversations = []int64{}
		expect(t, qq)
	})
	t.Run("Snippets", func(t *testing.T) {
		res, err := e.Search(ctx, q("预算"))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			if h.Score <= 0 || len(h.Snippets) == 0 || len(h.Snippets) > search.MaxSnippets {
				t.Errorf("conversation %d: score %v, %d snippets", h.ConversationID, h.Score, len(h.Snippets))
			}
			for _, s := range h.Snippets {
				if !strings.Contains(s.Text, "<em>预算</em>") {
					t.Errorf("conversation %d seq %d: snippet %q lacks <em>预算</em>", h.ConversationID, s.Seq, s.Text)
				}
			}
			if h.ConversationID == 1 {
				s := h.Snippets[0]
				if len(h.Snippets) != 1 || s.Seq != 1 || s.StartMS != 4000 || s.SpeakerKey != "spk_1" || s.Text != "我们今年的<em>预算</em>有限" {
					t.Errorf("conversation 1 snippets: %+v", h.Snippets)
				}
			}
			if h.ConversationID == 5 && len(h.Snippets) != 3 {
				t.Errorf("conversation 5 has 4 matching sentences; got %d snippets", len(h.Snippets))
			}
		}
		res, err = e.Search(ctx, q("budget characters"))
		if err != nil || len(res.Hits) != 1 {
			t.Fatalf("special characters: %+v %v", res, err)
		}
		if got, want := res.Hits[0].Snippets[0].Text, "&lt;b&gt;Special&lt;/b&gt; &amp; <em>characters</em>: <em>budget</em>"; got != want {
			t.Errorf("escaped snippet %q, want %q", got, want)
		}
		res, err = e.Search(ctx, q(`"budget is tight"`))
		if err != nil || len(res.Hits) != 1 {
			t.Fatalf("phrase: %+v %v", res, err)
		}
		if got := res.Hits[0].Snippets[0].Text; !strings.Contains(marked(got), "BUDGET") || !strings.Contains(marked(got), "tight") ||
			stripTags(got) != "The BUDGET is tight this quarter" {
			t.Errorf("phrase snippet %q", got)
		}
	})
	t.Run("SnippetsMarkOnlyWhatMatched", func(t *testing.T) {
		// A word of a phrase standing alone elsewhere in the sentence did
		// not match and is not marked (the scoring clauses that count
		// repeats must not lend their terms to the highlighter).
		const own = tenant + 7
		a := conv(9101, repA, day0, 60_000, "inbound", "dog days, then the lazy dog slept")
		b := conv(9102, repA, day0, 60_000, "inbound", "数据 数据库 数据中心")
		for _, d := range []*search.Doc{a, b} {
			d.TenantID = own
		}
		write(t, e, a, b)
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		cases := map[string]string{`"lazy dog"`: "dog days, then the lazy dog slept"}
		if o.CJKBigrams {
			cases["数据库"] = "数据 <em>数据库</em> 数据中心"
		}
		for query, want := range cases {
			qq := q(query)
			qq.TenantID = own
			res, err := e.Search(ctx, qq)
			if err != nil || len(res.Hits) != 1 || len(res.Hits[0].Snippets) != 1 {
				t.Fatalf("%s: %+v %v", query, res, err)
			}
			got := res.Hits[0].Snippets[0].Text
			if query == `"lazy dog"` {
				// Engines may mark a phrase as one span or word by word.
				if stripTags(got) != want || !strings.HasPrefix(got, "dog days") || !strings.Contains(marked(got), "lazy") {
					t.Errorf("%s: snippet %q", query, got)
				}
				continue
			}
			if got != want {
				t.Errorf("%s: snippet %q, want %q", query, got, want)
			}
		}
	})
	t.Run("SnippetsAreWholeSentences", func(t *testing.T) {
		// A snippet is the whole sentence, however long (up to the
		// 4096 bytes a sentence may hold), its match marked wherever it
		// stands: Elasticsearch cut one to a 200-character fragment, the
		// embedded engine did not.
		const own = tenant + 8
		long := strings.Repeat("the weather was fine and the call went on. ", 40) + "then the renewal came up. " +
			strings.Repeat("我们聊了很多别的事情。", 30)
		d := conv(9201, repA, day0, 60_000, "inbound", long)
		d.TenantID = own
		write(t, e, d)
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		qq := q("renewal")
		qq.TenantID = own
		res, err := e.Search(ctx, qq)
		if err != nil || len(res.Hits) != 1 || len(res.Hits[0].Snippets) != 1 {
			t.Fatalf("renewal: %+v %v", res, err)
		}
		want := strings.Replace(long, "renewal", "<em>renewal</em>", 1)
		if got := res.Hits[0].Snippets[0].Text; got != want {
			t.Errorf("the snippet of a %d-byte sentence: %d bytes %.80q…, want the whole sentence marked", len(long), len(got), got)
		}
	})
	t.Run("UnknownSpeakersAreExternal", func(t *testing.T) {
		// A speaker of unknown affiliation (a key the transcript brought
		// that no participant had) counts as external, as the metrics and
		// the trackers count them.
		const own = tenant + 9
		d := conv(9301, repA, day0, 60_000, "inbound", "I:the quote is ready", "can we see the quote")
		d.Sentences[1].Affiliation, d.Sentences[1].SpeakerKey = "unknown", "guest"
		d.TenantID = own
		write(t, e, d)
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		for side, want := range map[string][]int{"external": {1}, "internal": {0}, "": {0, 1}} {
			qq := q("see")
			qq.TenantID, qq.Affiliation = own, side
			res, err := e.Search(ctx, qq)
			if err != nil {
				t.Fatal(err)
			}
			if side == "internal" {
				if len(res.Hits) != 0 {
					t.Errorf("internal: %+v, want nothing", res.Hits)
				}
				continue
			}
			if len(res.Hits) != 1 || len(res.Hits[0].Snippets) != 1 || res.Hits[0].Snippets[0].Seq != want[len(want)-1] {
				t.Errorf("speaker_affiliation %q: %+v, want the unknown speaker's sentence", side, res.Hits)
			}
		}
	})
	t.Run("RankingAndFacets", func(t *testing.T) {
		res, err := e.Search(ctx, q("预算"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 6 || len(res.Hits) != 6 {
			t.Fatalf("total %d, %d hits; want 6", res.Total, len(res.Hits))
		}
		for i := 1; i < len(res.Hits); i++ {
			if res.Hits[i].Score > res.Hits[i-1].Score {
				t.Errorf("hits out of score order: %+v", res.Hits)
			}
		}
		wantOwners := []search.OwnerCount{owner(repA, 2), owner(repB, 2), owner(repC, 2)}
		if !slices.Equal(res.Owners, wantOwners) {
			t.Errorf("owner facets %+v, want %+v", res.Owners, wantOwners)
		}
		// Shanghai days: 1 on 03-10, 4 and 5 on 03-12, 6 on 03-13, 8 on 03-15, 9 on 03-16.
		wantDays := []search.DayCount{day("2025-03-10", 1), day("2025-03-12", 2), day("2025-03-13", 1), day("2025-03-15", 1), day("2025-03-16", 1)}
		if !slices.Equal(res.Days, wantDays) {
			t.Errorf("day facets %+v, want %+v", res.Days, wantDays)
		}
		if res.Next != nil {
			t.Errorf("single page has a next cursor %+v", res.Next)
		}
		// Days follow the location: 01:00 UTC is still the day before in New York.
		qq := q("预算有限")
		qq.Location = mustLoad("America/New_York")
		res, err = e.Search(ctx, qq)
		if err != nil || len(res.Days) != 1 || res.Days[0].Day != "2025-03-09" {
			t.Errorf("New York days: %+v %v", res.Days, err)
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		qq := q("预算")
		qq.Size = 2
		var seen []int64
		var last float64
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("pagination does not end")
			}
			res, err := e.Search(ctx, qq)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != 6 {
				t.Errorf("page %d total %d", page, res.Total)
			}
			for _, h := range res.Hits {
				if page > 0 && h.Score > last {
					t.Errorf("page %d: score %v after %v", page, h.Score, last)
				}
				last = h.Score
				seen = append(seen, h.ConversationID)
			}
			if res.Next == nil {
				break
			}
			if len(res.Hits) != 2 {
				t.Errorf("page %d has %d hits and a next page", page, len(res.Hits))
			}
			qq.After = res.Next
		}
		slices.Sort(seen)
		if !slices.Equal(seen, []int64{1, 4, 5, 6, 8, 9}) {
			t.Errorf("pages covered %v", seen)
		}
	})
	t.Run("ReplaceAndDelete", func(t *testing.T) {
		// A new transcript replaces every old sentence, longer or shorter.
		d := conv(1, repA, day0, 600_000, "outbound", "全新的内容")
		d.Version = 2
		write(t, e, d)
		// An older version never replaces a newer one.
		stale := conv(6, repC, day0.Add(72*time.Hour), 60_000, "unknown", "旧的内容")
		stale.Version = 0
		write(t, e, stale)
		if _, err := e.Write(ctx, []search.Op{{TenantID: tenant, ConversationID: 9}}); err != nil {
			t.Fatal(err)
		}
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		expect(t, q("预算"), 4, 5, 6, 8)
		expect(t, q("全新"), 1)
		expect(t, q("旧的"))
		expect(t, q("分期付款"))
		// Deleting what is not there is fine.
		if res, err := e.Write(ctx, []search.Op{{TenantID: tenant, ConversationID: 9999}}); err != nil || res[0] != nil {
			t.Errorf("delete of a missing conversation: %v %v", res, err)
		}
	})
	t.Run("ErasureInBatches", func(t *testing.T) {
		// A person in five calls, erased two bulk writes at a time while
		// ingest writes beside it; the same words in another tenant and
		// in a call written during the erasure stay.
		var docs []*search.Doc
		for id := int64(201); id <= 205; id++ {
			docs = append(docs, conv(id, repA, day0, 60_000, "inbound", "I:您好", "保密项目的预算 erasablepersonword"))
		}
		kept := conv(206, repA, day0, 60_000, "inbound", "保密项目 erasablepersonword")
		kept.TenantID = otherTenant
		write(t, e, append(docs, kept)...)
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		expect(t, q("erasablepersonword"), 201, 202, 203, 204, 205)
		ingested := conv(207, repA, day0, 60_000, "outbound", "新的电话")
		batches := [][]search.Op{
			{{TenantID: tenant, ConversationID: 201}, {TenantID: tenant, ConversationID: 202}, {TenantID: tenant, ConversationID: ingested.ConversationID, Doc: ingested}, {TenantID: tenant, ConversationID: 203}},
			{{TenantID: tenant, ConversationID: 204}, {TenantID: tenant, ConversationID: 205}, {TenantID: tenant, ConversationID: 203}},
		}
		for _, ops := range batches {
			res, err := e.Write(ctx, ops)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r != nil {
					t.Errorf("op %d: %v", i, r)
				}
			}
		}
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
		expect(t, q("erasablepersonword"))
		expect(t, q("保密项目"))
		expect(t, q("新的电话"), 207)
		other := q("erasablepersonword")
		other.TenantID = otherTenant
		expect(t, other, 206)
	})
	t.Run("ScoresIgnoreOtherTenants", func(t *testing.T) {
		scoresIgnoreOtherTenants(t, o)
	})
	t.Run("Ping", func(t *testing.T) {
		if err := e.Ping(ctx); err != nil {
			t.Error(err)
		}
	})
}

// scoresIgnoreOtherTenants checks that a tenant's scores, and so its
// order, depend only on its own documents: another tenant writing many
// documents with and without the searched words, and of other lengths,
// changes nothing a search of the first tenant answers. Scores from
// index-wide statistics (a term's document frequency, the average
// sentence length) would tell a tenant how often a word occurs in other
// tenants' transcripts.
func scoresIgnoreOtherTenants(t *testing.T, o Options) {
	e := o.New(t)
	ctx := context.Background()
	const mine, theirs = 7101, 7102
	docs := []*search.Doc{
		conv(1, repA, day0, 60_000, "outbound", "I:我们的预算有限", "预算预算，还是预算"),
		conv(2, repA, day0, 60_000, "inbound", "预算", "I:好的"),
		conv(3, repB, day0, 60_000, "outbound", "I:关于今年的预算我们还需要和财务部门以及老板再仔细地讨论一下"),
		conv(4, repB, day0, 60_000, "inbound", "The budget is tight", "budget budget budget"),
		conv(5, repC, day0, 60_000, "outbound", "I:We talked about the budget and the contract for a long time today"),
		conv(6, repC, day0, 60_000, "inbound", "签约 预算 budget"),
	}
	for _, d := range docs {
		d.TenantID = mine
	}
	refresh := func() {
		if o.Refresh != nil {
			o.Refresh(t, e)
		}
	}
	write(t, e, docs...)
	refresh()
	queries := []string{"预算", "budget", "预算 budget", `"budget is tight"`, "签约"}
	type scored struct {
		id    int64
		score float64
	}
	answer := func() map[string][]scored {
		t.Helper()
		out := map[string][]scored{}
		for _, s := range queries {
			terms, err := search.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Search(ctx, search.Query{TenantID: mine, Terms: terms, Size: 20, Location: shanghai})
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			for _, h := range res.Hits {
				out[s] = append(out[s], scored{h.ConversationID, h.Score})
			}
		}
		return out
	}
	before := answer()
	// More occurrences and shorter sentences rank higher: 预算 three times
	// in a sentence of eight words beats it alone in one of two.
	order := func(hits []scored) []int64 {
		var ids []int64
		for _, h := range hits {
			ids = append(ids, h.id)
		}
		return ids
	}
	if got := order(before["预算"]); !slices.Equal(got, []int64{1, 2, 6, 3}) {
		t.Errorf("预算 ranks %v, want [1 2 6 3]: %+v", got, before["预算"])
	}
	if got := order(before["budget"]); !slices.Equal(got, []int64{4, 6, 5}) {
		t.Errorf("budget ranks %v, want [4 6 5]: %+v", got, before["budget"])
	}
	// The other tenant: many conversations with the words, often repeated
	// and in short sentences, and many without them, with long sentences.
	var others []*search.Doc
	for i := range int64(300) {
		var d *search.Doc
		switch i % 3 {
		case 0:
			d = conv(10_000+i, repA, day0, 60_000, "outbound", "预算", "budget budget", "预算 budget 签约")
		case 1:
			d = conv(10_000+i, repA, day0, 60_000, "outbound", strings.Repeat("这是一个很长的句子，没有那个词。", 8), strings.Repeat("nothing to see here at all ", 10))
		default:
			d = conv(10_000+i, repA, day0, 60_000, "outbound", "合同", "price")
		}
		d.TenantID = theirs
		others = append(others, d)
	}
	write(t, e, others...)
	refresh()
	after := answer()
	for _, s := range queries {
		if !slices.Equal(before[s], after[s]) {
			t.Errorf("%s: tenant %d's hits changed when tenant %d wrote:\nbefore %+v\nafter  %+v", s, mine, theirs, before[s], after[s])
		}
	}
}

func write(t *testing.T, e search.Engine, docs ...*search.Doc) {
	t.Helper()
	ops := make([]search.Op, len(docs))
	for i, d := range docs {
		ops[i] = search.Op{TenantID: d.TenantID, ConversationID: d.ConversationID, Doc: d}
	}
	res, err := e.Write(context.Background(), ops)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for i, r := range res {
		if r != nil {
			t.Fatalf("Write op %d: %v", i, r)
		}
	}
}

// IsUnavailable reports whether err is the DEPENDENCY_UNAVAILABLE answer.
func IsUnavailable(err error) bool {
	e := errs.From(err)
	return e != nil && e.Reason == errs.ReasonDependencyUnavailable
}

// marked is the highlighted text of a snippet.
func marked(s string) string {
	var b strings.Builder
	for {
		_, rest, ok := strings.Cut(s, search.PreTag)
		if !ok {
			return b.String()
		}
		in, after, _ := strings.Cut(rest, search.PostTag)
		b.WriteString(in)
		b.WriteByte('|')
		s = after
	}
}

func stripTags(s string) string {
	return strings.NewReplacer(search.PreTag, "", search.PostTag, "").Replace(s)
}

func owner(id, n int64) search.OwnerCount {
	return search.OwnerCount{OwnerUserID: id, Conversations: n}
}

func day(d string, n int64) search.DayCount { return search.DayCount{Day: d, Conversations: n} }
