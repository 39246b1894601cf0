package tracker

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// Tracker keywords match like search terms (PRODUCT.md §2, §5):
//
//   - Text and keywords are cut into match tokens: each CJK character is one
//     token, each run of letters and digits of any other script is one word;
//     everything else (spaces, punctuation, apostrophes, symbols) separates
//     tokens and is otherwise ignored.
//   - Tokens compare case-insensitively, with full-width ASCII (Ｐｒｉｃｅ)
//     folded to its usual form.
//   - A keyword hits where its tokens occur consecutively in the sentence.
//     So an English word matches whole words only ("price" hits "Price?" and
//     "price's" but not "priceless"), a phrase matches as a word sequence
//     ("free trial" hits "free-trial" and "Free, trial"), and a Chinese
//     keyword matches as a substring (预算 hits 我们今年的预算有限, not
//     预计下周签约).
//   - One sentence gives at most one hit per keyword, however often it
//     repeats there.
//   - One conversation keeps at most MaxHitsPerConversation hits of a
//     tracker: the first ones, in the order of Match. Without the bound, a
//     transcript gives up to a hit per sentence per keyword of the tenant:
//     with overlapping keywords ("啊", "啊啊", … "啊"×64) every sentence can
//     hit them all, and one transcript of 20,000 sentences against 200
//     trackers of 100 keywords would be 400 million hits, held in memory
//     and written in one transaction. A tracker that hits more often than
//     that in one call says nothing more by its count.
//   - The tracker's affiliation picks whose sentences count: internal
//     speakers, or external ones, where a speaker of unknown affiliation or
//     without a participant row counts as external (as in the metrics).

// MaxHitsPerConversation is the most hits of one tracker that one
// conversation keeps.
const MaxHitsPerConversation = 2000

// Match finds the hits of trackers in one conversation's transcript.
func Match(trackers []model.Tracker, sentences []model.Sentence, participants []model.Participant) []model.TrackerHit {
	return NewMatcher(trackers).Match(sentences, participants)
}

// Matcher holds trackers prepared for matching many transcripts.
type Matcher struct {
	trackers []compiledTracker
	// keywords of all trackers, numbered in the order of tracker id and
	// then of the tracker's list, which is the order of hits in a sentence.
	keywords []compiledKeyword
	// root of a trie of the keywords' tokens, with the links of an
	// Aho-Corasick automaton: a sentence is read once, token by token,
	// whatever the number and the length of the keywords. Walking the trie
	// again from each position instead cost up to a keyword's length (64
	// tokens) per token, in the write's transaction: "啊"×63+"吧" read
	// every one of a transcript's 27 million "啊" 63 times.
	root *trieNode
	// outputs is the number of nodes where keywords end.
	outputs int
}

type trieNode struct {
	next map[string]*trieNode
	ends []int // keywords whose last token this is
	// fail is the node of the longest proper suffix of this node's
	// tokens that is in the trie (the root for none); out is the nearest
	// node on the fail chain where keywords end.
	fail, out *trieNode
	output    int // this node's number among those with ends; -1 if none
}

type compiledTracker struct {
	id, tenantID int64
	affiliation  string
}

type compiledKeyword struct {
	tracker int
	phrase  string
}

// NewMatcher prepares trackers; a tracker whose keywords do not parse
// matches nothing.
func NewMatcher(trackers []model.Tracker) *Matcher {
	trackers = slices.Clone(trackers)
	slices.SortStableFunc(trackers, func(a, b model.Tracker) int { return cmp.Compare(a.ID, b.ID) })
	m := &Matcher{root: &trieNode{output: -1}}
	for _, t := range trackers {
		var keywords []string
		if json.Unmarshal([]byte(t.Keywords), &keywords) != nil {
			continue
		}
		ti := len(m.trackers)
		seen := map[string]bool{}
		for _, k := range keywords {
			toks := matchTokens(k)
			key := strings.Join(toks, "\x00")
			if len(toks) == 0 || seen[key] {
				continue
			}
			seen[key] = true
			n := m.root
			for _, tok := range toks {
				if n.next == nil {
					n.next = map[string]*trieNode{}
				}
				if n.next[tok] == nil {
					n.next[tok] = &trieNode{output: -1}
				}
				n = n.next[tok]
			}
			if n.output < 0 {
				n.output, m.outputs = m.outputs, m.outputs+1
			}
			n.ends = append(n.ends, len(m.keywords))
			m.keywords = append(m.keywords, compiledKeyword{tracker: ti, phrase: strings.TrimSpace(k)})
		}
		if len(seen) > 0 {
			aff := t.Affiliation
			if aff != model.AffiliationInternal && aff != model.AffiliationExternal {
				aff = model.AffiliationAnyone
			}
			m.trackers = append(m.trackers, compiledTracker{id: t.ID, tenantID: t.TenantID, affiliation: aff})
		}
	}
	m.link()
	return m
}

// link sets the fail and out links of the trie, breadth first, so that a
// node's fail link is set before its children's.
func (m *Matcher) link() {
	queue := []*trieNode{m.root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for tok, child := range n.next {
			f := n.fail
			for f != nil && f.next[tok] == nil {
				f = f.fail
			}
			child.fail = m.root
			if f != nil {
				child.fail = f.next[tok]
			}
			child.out = child.fail.out
			if child.fail.output >= 0 {
				child.out = child.fail
			}
			queue = append(queue, child)
		}
	}
}

// Empty reports whether no tracker can hit anything.
func (m *Matcher) Empty() bool { return len(m.keywords) == 0 }

// Match finds the hits in the sentences of one conversation, ordered by
// sentence (seq), tracker id and the tracker's keyword list; a tracker's
// hits end at its MaxHitsPerConversation-th, and the matching once every
// tracker has that many.
func (m *Matcher) Match(sentences []model.Sentence, participants []model.Participant) []model.TrackerHit {
	if m.Empty() {
		return nil
	}
	internal := make(map[string]bool, len(participants))
	for _, p := range participants {
		internal[p.SpeakerKey] = p.Affiliation == model.AffiliationInternal
	}
	order := sentences
	if !slices.IsSortedFunc(order, bySeq) {
		order = slices.Clone(sentences)
		slices.SortStableFunc(order, bySeq)
	}
	var hits []model.TrackerHit
	// taken[o] is 1 + the index of the sentence whose hits took the
	// keywords ending at output node o: its out chain was taken with it,
	// so the chain is read at most once per sentence, and each keyword is
	// found at most once.
	taken := make([]int, m.outputs)
	var found []int                      // keyword numbers hit by the current sentence
	kept := make([]int, len(m.trackers)) // hits of each tracker so far
	full := 0                            // trackers that have all the hits they keep
	for si, s := range order {
		if full == len(m.trackers) {
			break
		}
		side := model.AffiliationExternal
		if internal[s.SpeakerKey] {
			side = model.AffiliationInternal
		}
		found = found[:0]
		n := m.root
		for _, tok := range matchTokens(s.Text) {
			for n != m.root && n.next[tok] == nil {
				n = n.fail
			}
			if next := n.next[tok]; next != nil {
				n = next
			}
			o := n
			if o.output < 0 {
				o = o.out
			}
			for ; o != nil && taken[o.output] != si+1; o = o.out {
				taken[o.output] = si + 1
				for _, k := range o.ends {
					tr := m.keywords[k].tracker
					aff := m.trackers[tr].affiliation
					if kept[tr] < MaxHitsPerConversation && (aff == model.AffiliationAnyone || aff == side) {
						found = append(found, k)
					}
				}
			}
		}
		slices.Sort(found)
		for _, k := range found {
			kw := &m.keywords[k]
			if kept[kw.tracker] == MaxHitsPerConversation {
				continue
			}
			if kept[kw.tracker]++; kept[kw.tracker] == MaxHitsPerConversation {
				full++
			}
			t := &m.trackers[kw.tracker]
			hits = append(hits, model.TrackerHit{
				TenantID: t.tenantID, TrackerID: t.id, ConversationID: s.ConversationID,
				Seq: s.Seq, StartMS: s.StartMS, SpeakerKey: s.SpeakerKey, Phrase: kw.phrase,
			})
		}
	}
	return hits
}

func bySeq(a, b model.Sentence) int { return cmp.Compare(a.Seq, b.Seq) }

// matchTokens cuts text into lower-case match tokens: substrings of the
// folded text, so a sentence costs one allocation or two, not one per token.
func matchTokens(text string) []string {
	text = strings.Map(foldRune, text)
	toks := make([]string, 0, 8)
	word := -1 // start of the word being read
	for i, r := range text {
		switch {
		case interaction.IsCJK(r):
			if word >= 0 {
				toks, word = append(toks, text[word:i]), -1
			}
			toks = append(toks, text[i:i+utf8.RuneLen(r)])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if word < 0 {
				word = i
			}
		case word >= 0 && unicode.IsMark(r):
		case word >= 0:
			toks, word = append(toks, text[word:i]), -1
		}
	}
	if word >= 0 {
		toks = append(toks, text[word:])
	}
	return toks
}

// foldRune lower-cases r and maps full-width ASCII to ASCII.
func foldRune(r rune) rune {
	if r >= '！' && r <= '～' {
		r -= '！' - '!'
	}
	return unicode.ToLower(r)
}
