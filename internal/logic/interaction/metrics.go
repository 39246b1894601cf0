package interaction

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// AlgoVersion is stored with every metrics row; bump it whenever a change
// here would give a different result for the same transcript, so stale rows can
// be found and recomputed.
//
// Version 4: with no turn open (the call's first speech) a short sentence
// starts a turn: a back-channel is the other side's, and there is no other
// side before the first turn. Version 3 took every short sentence before
// the first turn for a back-channel, so a call said in short ASR segments
// had no turn at all (no monologue, no switch) and one that opened with a
// greeting began with the side that answered it.
//
// Version 3: a short sentence of the side whose turn has ended starts a turn
// of its own (only the other side's short sentences are back-channels);
// version 2 took it for a back-channel too, and started no turn. Version 2:
// patience_ms is the exact mean of the gaps; version 1 rounded it to the
// nearest millisecond.
const AlgoVersion = 4

const (
	// turnGapMS is the silence inside one side's speech that ends its turn.
	turnGapMS = 1500
	// A sentence shorter than backChannelMaxMS, or with fewer than
	// backChannelMinTokens tokens, is a back-channel.
	backChannelMaxMS     = 1000
	backChannelMinTokens = 3
	// maxTimestampMS (about 35 years) bounds sentence times so that no sum
	// below can overflow, whatever the input.
	maxTimestampMS = 1 << 40

	msPerMinute = 60_000
	msPerHour   = 3_600_000
)

// Side is which team a sentence belongs to.
//
// The zero value is SideExternal, and every value other than SideInternal counts
// as external: PRODUCT.md §4 counts participants of unknown affiliation as
// external, so the caller maps affiliation "internal" to SideInternal and
// everything else ("external", "unknown", a speaker with no participant row) to
// SideExternal.
type Side int8

const (
	SideExternal Side = iota
	SideInternal
)

// Sentence is the part of a transcript sentence the metrics need.
type Sentence struct {
	Seq     int
	StartMS int64
	EndMS   int64
	Side    Side
	Text    string
}

// Metrics are the per-conversation interaction metrics of PRODUCT.md §4.
type Metrics struct {
	AlgoVersion            int     `json:"algo_version"`
	TalkRatio              float64 `json:"talk_ratio"` // internal share of speech, 0..1; 0 when nobody speaks
	LongestMonologueMS     int64   `json:"longest_monologue_ms"`
	LongestCustomerStoryMS int64   `json:"longest_customer_story_ms"`
	Interactivity          float64 `json:"interactivity"` // side switches per minute of speech
	PatienceMS             float64 `json:"patience_ms"`   // mean gap, ms, with its fraction
	QuestionCountInternal  int     `json:"question_count_internal"`
	QuestionCountExternal  int     `json:"question_count_external"`
	QuestionRate           float64 `json:"question_rate"` // internal questions per hour of call
	SilenceMS              int64   `json:"silence_ms"`
	InternalSpeechMS       int64   `json:"internal_speech_ms"`
	ExternalSpeechMS       int64   `json:"external_speech_ms"`
	SpeechMS               int64   `json:"speech_ms"` // union of both sides' speech
}

// Compute computes the interaction metrics of one conversation of
// durationMS from its sentences, which may come in any order; the slice is not
// modified. It is a pure function of its input: the same transcript always gives
// the same Metrics, whatever the order of the sentences.
//
// Where PRODUCT.md §4 leaves room, it is read as follows.
//
// Input:
//   - Sentences are taken in (start, end, seq) order; side and text break any
//     remaining tie, so the input order never matters.
//   - Times are clamped to [0, maxTimestampMS]; a sentence ending before it
//     starts is zero-length. A zero-length sentence is no speech and takes no
//     part in turns, but it is still counted as a question.
//
// Speech:
//   - A side's speech is the union of its sentence intervals; speech_ms is the
//     union over both sides, so cross-talk counts once there, while
//     talk_ratio = internal / (internal + external) counts it for both sides.
//     Back-channels are speech.
//
// Turns:
//   - A back-channel is a short sentence (IsBackChannel) of the side other
//     than the open turn's: it is speech but starts no turn. Before the
//     first turn there is no other side, so the call's first speech opens
//     a turn however short. A short sentence of the open turn's side is no
//     back-channel: said after that turn has ended, it starts the side's
//     next turn ("ok so", after a pause, opens what the rep goes on to
//     say).
//   - A sentence of the same side as the open turn that starts less than
//     turnGapMS after that turn's end so far (or overlaps it) extends the turn,
//     back-channel or not.
//   - Other-side back-channels are transparent: the gap that decides whether a
//     turn goes on is measured between the turn's own sentences, as if the
//     back-channels were not there.
//   - Any other sentence ends the open turn and starts a new one: of the other
//     side (a side switch), or of the same side after a gap of turnGapMS or
//     more (a new turn of the same side, not a switch).
//   - A turn lasts from the start of its first sentence to the end of its last
//     sentence; the other side's back-channels within it are spanned, not
//     subtracted, and one that runs past the turn's last sentence does not
//     lengthen it.
//   - Turns are ordered by start, so an other-side sentence that is no
//     back-channel starts a turn even when it overlaps the open turn.
//
// Patience: one gap per external turn directly followed by an internal turn,
// max(0, internal start - external end); the mean keeps its fraction (gaps of
// 1 ms and 0 ms give 0.5). The sum of the gaps is at most the span of the
// call, so it and the quotient are exact or correctly rounded in a float64.
//
// Questions: every sentence is counted, back-channels ("好吗？") and
// zero-length sentences included. question_rate is 0 when durationMS ≤ 0.
//
// Silence: durationMS minus speech_ms, clamped at 0 when speech runs past the
// stated duration (or durationMS is negative); speech outside the call is not
// trimmed first.
func Compute(durationMS int64, sentences []Sentence) Metrics {
	ss := sortedSentences(sentences)

	var internal, external, all speechUnion
	var turns turnTracker
	m := Metrics{AlgoVersion: AlgoVersion}
	for _, s := range ss {
		if IsQuestion(s.Text) {
			if s.Side == SideInternal {
				m.QuestionCountInternal++
			} else {
				m.QuestionCountExternal++
			}
		}
		if s.EndMS == s.StartMS {
			continue
		}
		all.add(s.StartMS, s.EndMS)
		if s.Side == SideInternal {
			internal.add(s.StartMS, s.EndMS)
		} else {
			external.add(s.StartMS, s.EndMS)
		}
		turns.add(s)
	}
	turns.closeTurn()

	m.InternalSpeechMS = internal.length()
	m.ExternalSpeechMS = external.length()
	m.SpeechMS = all.length()
	if both := m.InternalSpeechMS + m.ExternalSpeechMS; both > 0 {
		m.TalkRatio = float64(m.InternalSpeechMS) / float64(both)
	}
	if m.SpeechMS > 0 {
		m.Interactivity = float64(turns.switches) * msPerMinute / float64(m.SpeechMS)
	}
	m.LongestMonologueMS = turns.longestInternal
	m.LongestCustomerStoryMS = turns.longestExternal
	if turns.patiencePairs > 0 {
		m.PatienceMS = float64(turns.patienceSum) / float64(turns.patiencePairs)
	}
	if durationMS > 0 {
		m.QuestionRate = float64(m.QuestionCountInternal) * msPerHour / float64(durationMS)
		m.SilenceMS = max(0, durationMS-m.SpeechMS)
	}
	return m
}

// IsQuestion reports whether a sentence is a question per PRODUCT.md §4: it ends
// in "?" or "？" once trailing spaces and closing quotes are ignored, or it
// contains one of the Chinese interrogatives anywhere. The markers are taken
// literally, so "我呢，觉得可以" and "没什么" count as questions too; "Really?!"
// does not, as it ends in "!".
func IsQuestion(text string) bool {
	t := strings.TrimRightFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"'“”‘’「」『』«»‹›＂＇`, r)
	})
	return strings.HasSuffix(t, "?") || strings.HasSuffix(t, "？") || hasQuestionWord(text)
}

// hasQuestionWord reports whether text contains one of the interrogatives
// 吗, 呢, 什么, 怎么, 为什么, 多少 or 哪, in one pass over it (为什么
// contains 什么). Every sentence of every transcript goes through it.
func hasQuestionWord(text string) bool {
	var prev rune
	for _, r := range text {
		switch r {
		case '吗', '呢', '哪':
			return true
		case '么':
			if prev == '什' || prev == '怎' {
				return true
			}
		case '少':
			if prev == '多' {
				return true
			}
		}
		prev = r
	}
	return false
}

// IsBackChannel reports whether a sentence is a back-channel ("嗯", "对",
// "好的", "ok", "yeah sure"): shorter than 1000 ms or fewer than 3 tokens
// (CountTokens). "是的是的" is 4 tokens, so it is a back-channel only when
// said in under a second. A sentence ending before it starts is zero-length.
func IsBackChannel(s Sentence) bool {
	// The unsigned difference is exact once EndMS > StartMS, for any int64s.
	short := s.EndMS <= s.StartMS || uint64(s.EndMS)-uint64(s.StartMS) < backChannelMaxMS
	return short || countTokens(s.Text, backChannelMinTokens) < backChannelMinTokens
}

// sortedSentences returns a normalized, sorted copy of ss.
func sortedSentences(ss []Sentence) []Sentence {
	out := make([]Sentence, len(ss))
	for i, s := range ss {
		s.StartMS = min(max(s.StartMS, 0), maxTimestampMS)
		s.EndMS = min(max(s.EndMS, s.StartMS), maxTimestampMS)
		if s.Side != SideInternal {
			s.Side = SideExternal
		}
		out[i] = s
	}
	// Transcripts nearly always come in time order: checking is one pass.
	if !slices.IsSortedFunc(out, byTime) {
		slices.SortFunc(out, byTime)
	}
	return out
}

func byTime(a, b Sentence) int {
	return cmp.Or(
		cmp.Compare(a.StartMS, b.StartMS),
		cmp.Compare(a.EndMS, b.EndMS),
		cmp.Compare(a.Seq, b.Seq),
		cmp.Compare(a.Side, b.Side),
		strings.Compare(a.Text, b.Text),
	)
}

// speechUnion measures the union of intervals added in order of start.
type speechUnion struct {
	done       int64 // length of the intervals already closed
	start, end int64 // the interval still growing
	open       bool
}

func (u *speechUnion) add(start, end int64) {
	if u.open && start <= u.end {
		u.end = max(u.end, end)
		return
	}
	if u.open {
		u.done += u.end - u.start
	}
	u.start, u.end, u.open = start, end, true
}

func (u *speechUnion) length() int64 {
	if u.open {
		return u.done + u.end - u.start
	}
	return u.done
}

type turn struct {
	side       Side
	start, end int64
}

// turnTracker builds turns from non-empty sentences added in sorted order and
// keeps only the aggregates the metrics need.
type turnTracker struct {
	cur, prev                        turn
	hasCur, hasPrev                  bool
	longestInternal, longestExternal int64
	switches                         int
	patienceSum, patiencePairs       int64
}

func (t *turnTracker) add(s Sentence) {
	if t.hasCur && s.Side == t.cur.side && s.StartMS-t.cur.end < turnGapMS {
		t.cur.end = max(t.cur.end, s.EndMS)
		return
	}
	if t.hasCur && s.Side != t.cur.side && IsBackChannel(s) {
		return
	}
	t.closeTurn()
	t.cur, t.hasCur = turn{side: s.Side, start: s.StartMS, end: s.EndMS}, true
}

func (t *turnTracker) closeTurn() {
	if !t.hasCur {
		return
	}
	c := t.cur
	if c.side == SideInternal {
		t.longestInternal = max(t.longestInternal, c.end-c.start)
	} else {
		t.longestExternal = max(t.longestExternal, c.end-c.start)
	}
	if t.hasPrev && t.prev.side != c.side {
		t.switches++
		if t.prev.side == SideExternal {
			t.patienceSum += max(0, c.start-t.prev.end)
			t.patiencePairs++
		}
	}
	t.prev, t.hasPrev = c, true
	t.hasCur = false
}
