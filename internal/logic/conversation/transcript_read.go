package conversation

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/embedded"
)

// maxTranscriptQueryChars bounds GetTranscript's q.
const maxTranscriptQueryChars = 256

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

// A transcript is read a stored part (up to 1,000 sentences) at a time, one
// query each, so one read holds one part however long the call, and no
// database connection waits on a slow client between parts. Every part read
// checks that the transcript is still the version the read began with: a
// transcript replaced meanwhile is never served half old, half new.

// StreamTranscript calls emit with every sentence of a conversation in the
// caller's scope, in seq order, marking those that contain every word and
// "quoted phrase" of q, ignoring case; it returns how many matched. Errors
// before the first emit are the read's own (the caller can still answer
// them); a later one means the sentences emitted are not the whole
// transcript.
func (c *Reader) StreamTranscript(ctx context.Context, id int64, q string, emit func(TranscriptSentence) error) (matchCount int, err error) {
	r, err := c.beginTranscript(ctx, id, q)
	if err != nil {
		return 0, err
	}
	err = r.walk(ctx, func(s TranscriptSentence) (bool, error) {
		if s.Matches {
			matchCount++
		}
		return true, emit(s)
	})
	return matchCount, err
}

// Paging bounds of TranscriptPage: by default a page is the whole
// transcript up to MaxTranscriptSentences, but never more than
// MaxTranscriptPageBytes of sentence data, so that a page fits the 4 MiB a
// gRPC client receives by default and costs the server a bounded amount.
const (
	MaxTranscriptPageBytes = 3 << 20
	// sentenceOverhead approximates a sentence's encoding beyond its text
	// and speaker key.
	sentenceOverhead = 32
)

// TranscriptPageRequest asks for one page of a transcript.
type TranscriptPageRequest struct {
	ID int64
	Q  string
	// PageSize is the most sentences to return: 0 means
	// MaxTranscriptSentences; the page also ends before
	// MaxTranscriptPageBytes.
	PageSize  int
	PageToken string
}

// TranscriptPage is a run of a transcript's sentences.
type TranscriptPage struct {
	ConversationID int64
	Sentences      []TranscriptSentence
	// MatchCount counts the sentences of this page that match q.
	MatchCount int
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// transcriptCursor is a page token's content: the conversation, the
// transcript version the read began with, the part to read on from, and
// the last seq served.
type transcriptCursor struct {
	ID      int64 `json:"c"`
	Version int64 `json:"v"`
	Part    int   `json:"p"`
	After   int64 `json:"s"`
}

// TranscriptPage returns the sentences of a conversation in the caller's
// scope in seq order, a page at a time, marked as StreamTranscript marks
// them. A token of a transcript replaced since is CONFLICT: the read starts
// again without one.
func (c *Reader) TranscriptPage(ctx context.Context, req TranscriptPageRequest) (TranscriptPage, error) {
	switch {
	case req.PageSize < 0 || req.PageSize > MaxTranscriptSentences:
		return TranscriptPage{}, errs.InvalidArgument("page_size", "must be 0..%d (got %d)", MaxTranscriptSentences, req.PageSize)
	case req.PageSize == 0:
		req.PageSize = MaxTranscriptSentences
	}
	var at transcriptCursor
	if err := access.DecodePageToken(req.PageToken, &at); err != nil {
		return TranscriptPage{}, err
	}
	if req.PageToken != "" && (at.ID != req.ID || at.Part < 0 || at.Version <= 0) {
		return TranscriptPage{}, errs.InvalidArgument("page_token", "is not a token of this conversation's transcript")
	}
	r, err := c.beginTranscript(ctx, req.ID, req.Q)
	if err != nil {
		return TranscriptPage{}, err
	}
	if req.PageToken != "" {
		r.at = at
	}
	page := TranscriptPage{ConversationID: req.ID, Sentences: []TranscriptSentence{}}
	size := 0
	err = r.walk(ctx, func(s TranscriptSentence) (bool, error) {
		n := len(s.Text) + len(s.SpeakerKey) + sentenceOverhead
		if len(page.Sentences) == req.PageSize || (len(page.Sentences) > 0 && size+n > MaxTranscriptPageBytes) {
			// There is more: the next page starts here.
			page.NextPageToken = access.EncodePageToken(r.at)
			return false, nil
		}
		size += n
		if s.Matches {
			page.MatchCount++
		}
		page.Sentences = append(page.Sentences, s)
		return true, nil
	})
	if err != nil {
		return TranscriptPage{}, err
	}
	return page, nil
}

// transcriptRead is one read of a transcript, from a position on.
type transcriptRead struct {
	repo     ReadRepo
	tenantID int64
	match    *embedded.Matcher
	at       transcriptCursor
}

// beginTranscript checks the caller, the id and q, and that the
// conversation is in the caller's scope.
func (c *Reader) beginTranscript(ctx context.Context, id int64, q string) (*transcriptRead, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return nil, err
	}
	if err := access.CheckID("id", id); err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(q); n > maxTranscriptQueryChars {
		return nil, errs.InvalidArgument("q", "at most %d characters (got %d)", maxTranscriptQueryChars, n)
	}
	if !utf8.ValidString(q) {
		return nil, errs.InvalidArgument("q", "must be UTF-8")
	}
	match, err := queryTerms(q)
	if err != nil {
		return nil, err
	}
	if _, err := c.repo.Get(ctx, s, id); err != nil {
		return nil, err
	}
	return &transcriptRead{repo: c.repo, tenantID: s.TenantID, match: match, at: transcriptCursor{ID: id, After: -1}}, nil
}

// errTranscriptReplaced answers a read whose transcript was replaced since
// it began.
var errTranscriptReplaced = errs.Conflict("the transcript was replaced while it was read; read it again from the start")

// walk calls fn with each sentence after r.at, in seq order, until fn says
// stop or the transcript ends; r.at is then the position of the last
// sentence fn took. Before each part it asks the caller's token again: a
// read that outlives a revocation (a long download) reads nothing more
// once the token is revoked, and ends with the refusal a new call would
// get. A token that merely expires does not cut a read it began.
func (r *transcriptRead) walk(ctx context.Context, fn func(TranscriptSentence) (bool, error)) error {
	for ; ; r.at.Part++ {
		if err := access.Revoked(ctx); err != nil {
			return err
		}
		version, run, err := r.repo.TranscriptPart(ctx, r.tenantID, r.at.ID, r.at.Part)
		if err != nil {
			return err
		}
		if r.at.Version == 0 {
			r.at.Version = version
		} else if version != r.at.Version {
			return errTranscriptReplaced
		}
		if run == nil {
			return nil
		}
		for _, st := range run {
			if int64(st.Seq) <= r.at.After {
				continue
			}
			s := TranscriptSentence{
				Seq: int64(st.Seq), SpeakerKey: st.SpeakerKey, StartMS: st.StartMS, EndMS: st.EndMS, Text: st.Text,
				Matches: r.match != nil && r.match.Matches(st.Text),
			}
			more, err := fn(s)
			if err != nil || !more {
				return err
			}
			r.at.After = s.Seq
		}
	}
}

// queryTerms reads the query of a transcript read as search reads one
// (search.Parse: words and "quoted phrases", in ASCII or curly quotes), and
// matches its sentences as the search engine's analysis does
// (embedded.Matcher). A query with no word is INVALID_ARGUMENT naming q;
// an empty one marks nothing (nil).
func queryTerms(q string) (*embedded.Matcher, error) {
	if strings.TrimSpace(q) == "" {
		return nil, nil
	}
	parsed, err := search.Parse(q)
	if err != nil {
		// Search's own words (too long, too many words, not UTF-8),
		// about this operation's field.
		var e *errs.Error
		if errors.As(err, &e) {
			return nil, e.About("q")
		}
		return nil, err
	}
	m, err := embedded.NewMatcher(parsed)
	if err != nil {
		return nil, errs.Internal(err)
	}
	if m.Len() == 0 {
		return nil, errs.InvalidArgument("q", "has no word to search for")
	}
	return m, nil
}
