package tracker

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// Tracker keywords match like search terms (PRODUCT.md §2, §5), with one
// difference: English words are not stemmed ("price" does not hit "prices";
// a tracker lists each form it counts).
//
//   - Text and keywords are cut into match tokens (interaction.MatchTokens
//     and KeywordTokens): each CJK character is one token, each run of
//     letters and digits of any other script is one word, and digits
//     joined by a mark that keeps a number whole (3.5, 1,000) are one
//     word; between two CJK characters that anything stands between (a
//     comma, a space) a boundary token stands; everything else (spaces,
//     punctuation, apostrophes, symbols) separates tokens and is
//     otherwise ignored. In a keyword, spaces alone between two Han
//     characters join them, as a search phrase's words are joined.
//   - Tokens compare case-insensitively, with full-width ASCII (Ｐｒｉｃｅ)
//     folded to its usual form.
//   - A keyword hits where its tokens occur consecutively in the sentence.
//     So an English word matches whole words only ("price" hits "Price?" and
//     "price's" but not "priceless"), a phrase matches as a word sequence
//     ("free trial" hits "free-trial" and "Free, trial"), a number matches
//     whole (3 does not hit 3.5%), and a Chinese keyword matches where its
//     characters stand together (预算 hits 我们今年的预算有限, not
//     预计下周签约, 预，算 or 预 算; 好用 does not hit 很好，用户), as
//     search finds Chinese by bigrams that never span a separator. A
//     word and a CJK character are neighbours whatever separates them
//     (买iPhone hits 买 iPhone), as in search, where the lone 买 is
//     iphone's neighbour. A keyword of one character hits wherever it
//     stands, as a one-character word is found in search.
//   - Hits already stored are as the rule of their time found them: a
//     tracker whose MatchRule is below model.TrackerMatchRule is applied
//     again once, when the Applier starts; bump it with any change here
//     that alters a hit.
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
	// A trie of the keywords' tokens with the links of an Aho-Corasick
	// automaton: a sentence is read once, token by token, whatever the
	// number and the length of the keywords. Walking the trie again from
	// each position instead cost up to a keyword's length (64 tokens) per
	// token, in the write's transaction: "啊"×63+"吧" read every one of a
	// transcript's 27 million "啊" 63 times.
	//
	// The trie is flat: nodes numbered from the root (0), tokens numbered
	// by tokens, and one map of edges. A tenant may have 200 trackers of
	// 100 keywords of 64 characters, 1.28 million nodes; as nodes each with
	// a map of children they took 384 MB, kept per tenant by the Hook.
	tokens map[string]int32
	edges  map[edge]int32
	nodes  []trieNode
	// ends holds, node after node, the keywords whose last token each is.
	ends []int32
	// outputs is the number of nodes where keywords end.
	outputs int32
}

type edge struct{ node, token int32 }

type trieNode struct {
	// fail is the node of the longest proper suffix of this node's
	// tokens that is in the trie (the root for none); out is the nearest
	// node on the fail chain where keywords end (-1: none).
	fail, out int32
	// output is this node's number among those where keywords end; -1 if
	// none.
	output int32
	// ends[endsFrom:endsTo] are the keywords whose last token this is.
	endsFrom, endsTo int32
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
	m := &Matcher{tokens: map[string]int32{}, edges: map[edge]int32{}}
	// While building: each node's parent, the token that leads to it and
	// its depth, for link; and the keywords ending at each node.
	b := trieBuild{parent: []int32{-1}, token: []int32{-1}, depth: []int32{0}, ends: map[int32][]int32{}}
	for _, t := range trackers {
		var keywords []string
		if json.Unmarshal([]byte(t.Keywords), &keywords) != nil {
			continue
		}
		ti := len(m.trackers)
		seen := map[string]bool{}
		for _, k := range keywords {
			toks := interaction.KeywordTokens(k)
			key := strings.Join(toks, "\x00")
			if len(toks) == 0 || seen[key] {
				continue
			}
			seen[key] = true
			n := int32(0)
			for _, tok := range toks {
				n = m.child(&b, n, tok)
			}
			b.ends[n] = append(b.ends[n], int32(len(m.keywords)))
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
	m.link(&b)
	return m
}

// trieBuild is what building the trie needs and matching does not.
type trieBuild struct {
	parent, token, depth []int32
	ends                 map[int32][]int32
}

// child returns the child of node n by tok, added if need be.
func (m *Matcher) child(b *trieBuild, n int32, tok string) int32 {
	id, ok := m.tokens[tok]
	if !ok {
		id = int32(len(m.tokens))
		m.tokens[tok] = id
	}
	if c, ok := m.edges[edge{n, id}]; ok {
		return c
	}
	c := int32(len(b.parent))
	m.edges[edge{n, id}] = c
	b.parent, b.token, b.depth = append(b.parent, n), append(b.token, id), append(b.depth, b.depth[n]+1)
	return c
}

// link lays out the nodes with their keywords and sets their fail and out
// links, shallower nodes first, so that a node's fail link and the out
// links along it are set before its own.
func (m *Matcher) link(b *trieBuild) {
	m.nodes = make([]trieNode, len(b.parent))
	byDepth := make([][]int32, slices.Max(b.depth)+1)
	for n, d := range b.depth {
		byDepth[d] = append(byDepth[d], int32(n))
		ends := b.ends[int32(n)]
		m.nodes[n] = trieNode{out: -1, output: -1, endsFrom: int32(len(m.ends))}
		if len(ends) > 0 {
			m.nodes[n].output, m.outputs = m.outputs, m.outputs+1
			m.ends = append(m.ends, ends...)
		}
		m.nodes[n].endsTo = int32(len(m.ends))
	}
	for _, level := range byDepth[1:] {
		for _, n := range level {
			node := &m.nodes[n]
			node.fail = 0
			for f, tok := b.parent[n], b.token[n]; f != 0; {
				f = m.nodes[f].fail
				if c, ok := m.edges[edge{f, tok}]; ok {
					node.fail = c
					break
				}
			}
			fail := &m.nodes[node.fail]
			node.out = fail.out
			if fail.output >= 0 {
				node.out = node.fail
			}
		}
	}
}

// Empty reports whether no tracker can hit anything.
func (m *Matcher) Empty() bool { return len(m.keywords) == 0 }

// next is the node the automaton moves to from n on tok. A boundary
// (interaction.Boundary) is a token like any other: where no keyword holds
// one, it sends the automaton back to the root, so that no keyword matches
// across the separator it stands for, at the cost of one map lookup.
func (m *Matcher) next(n int32, tok string) int32 {
	id, ok := m.tokens[tok]
	if !ok {
		return 0 // no keyword has the token: none goes on past it
	}
	for {
		if c, ok := m.edges[edge{n, id}]; ok {
			return c
		}
		if n == 0 {
			return 0
		}
		n = m.nodes[n].fail
	}
}

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
	var found []int32                    // keyword numbers hit by the current sentence
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
		n := int32(0)
		for _, tok := range interaction.MatchTokens(s.Text) {
			n = m.next(n, tok)
			o := n
			if m.nodes[o].output < 0 {
				o = m.nodes[o].out
			}
			for ; o >= 0 && taken[m.nodes[o].output] != si+1; o = m.nodes[o].out {
				node := &m.nodes[o]
				taken[node.output] = si + 1
				for _, k := range m.ends[node.endsFrom:node.endsTo] {
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
