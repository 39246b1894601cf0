package conversation

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// maxTranscriptQueryChars bounds GetTranscript's q.
const maxTranscriptQueryChars = 256

// TranscriptView is a stored transcript.
type TranscriptView struct {
	ConversationID int64
	Sentences      []TranscriptSentence
	// MatchCount counts the sentences that match q.
	MatchCount int
}

// TranscriptSentence is one stored sentence.
type TranscriptSentence struct {
	Seq        int64
	SpeakerKey string
	StartMS    int64
	EndMS      int64
	Text       string
	// Matches is true when q is set and the sentence contains all of it.
	Matches bool
}

// Transcript returns the sentences of a conversation in the caller's scope
// in seq order. When q is set, sentences containing every word and
// "quoted phrase" of it, ignoring case, are marked.
func (c *Reader) Transcript(ctx context.Context, id int64, q string) (TranscriptView, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return TranscriptView{}, err
	}
	if err := access.CheckID("id", id); err != nil {
		return TranscriptView{}, err
	}
	if n := utf8.RuneCountInString(q); n > maxTranscriptQueryChars {
		return TranscriptView{}, errs.InvalidArgument("q", "at most %d characters (got %d)", maxTranscriptQueryChars, n)
	}
	if !utf8.ValidString(q) {
		return TranscriptView{}, errs.InvalidArgument("q", "must be UTF-8")
	}
	if _, err := c.repo.Get(ctx, s, id); err != nil {
		return TranscriptView{}, err
	}
	rows, err := c.repo.Sentences(ctx, s.TenantID, id)
	if err != nil {
		return TranscriptView{}, err
	}
	terms := QueryTerms(q)
	out := TranscriptView{ConversationID: id, Sentences: make([]TranscriptSentence, len(rows))}
	for i, r := range rows {
		match := len(terms) > 0 && containsAll(r.Text, terms)
		if match {
			out.MatchCount++
		}
		out.Sentences[i] = TranscriptSentence{
			Seq: int64(r.Seq), SpeakerKey: r.SpeakerKey, StartMS: r.StartMS, EndMS: r.EndMS, Text: r.Text, Matches: match,
		}
	}
	return out, nil
}

// QueryTerms splits a query into lower-cased words and "quoted phrases"
// (an unclosed quote runs to the end). Every other character is plain
// text: nothing in a query is syntax but whitespace and double quotes.
func QueryTerms(q string) []string {
	var terms []string
	add := func(t string) {
		if t = strings.TrimSpace(t); t != "" {
			terms = append(terms, strings.ToLower(t))
		}
	}
	for q != "" {
		i := strings.IndexByte(q, '"')
		if i < 0 {
			for _, w := range strings.Fields(q) {
				add(w)
			}
			break
		}
		for _, w := range strings.Fields(q[:i]) {
			add(w)
		}
		rest := q[i+1:]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			add(strings.Join(strings.Fields(rest), " "))
			break
		}
		add(strings.Join(strings.Fields(rest[:j]), " "))
		q = rest[j+1:]
	}
	return terms
}

func containsAll(text string, terms []string) bool {
	lower := strings.ToLower(text)
	for _, t := range terms {
		if !strings.Contains(lower, t) {
			return false
		}
	}
	return true
}
