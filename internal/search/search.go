// Package search is transcript search (PRODUCT §5) behind one interface with
// two engines: Elasticsearch 7 (package elastic) for test and production and
// bleve (package embedded) for the zero-setup dev default. Both pass the
// behaviour suite of package searchtest.
//
// The unit of a result is a conversation: a query matches a conversation
// when one of its sentences contains every term of the query; the
// conversation ranks by its best sentence and shows up to three of them,
// highlighted. The data scope and every filter are part of the engine query,
// never applied to results afterwards.
package search

import (
	"context"
	"errors"
	"time"
)

// Doc is one conversation as indexed: its metadata and its whole transcript.
// Indexing a Doc replaces every sentence indexed before for the
// conversation.
type Doc struct {
	TenantID       int64
	ConversationID int64
	OwnerUserID    int64
	// DepartmentPath is the owner's department path when indexed ("/1/5/").
	DepartmentPath string
	DealID         int64
	Title          string
	Channel        string
	Direction      string
	BeginTime      time.Time
	DurationMS     int64
	Language       string
	// Version orders the writes of one conversation: a Doc never replaces a
	// newer one (conversations.transcript_version).
	Version   int64
	Sentences []Sentence
}

// Sentence is one line of a transcript with its speaker's side.
type Sentence struct {
	Seq         int
	SpeakerKey  string
	Affiliation string
	StartMS     int64
	EndMS       int64
	Text        string
}

// Op is one index write: Doc set indexes it, Doc nil removes the
// conversation from the index.
type Op struct {
	TenantID       int64
	ConversationID int64
	Doc            *Doc
}

// Query is a parsed, scoped and filtered search.
type Query struct {
	TenantID int64
	Terms    []Term
	// Owners, when not nil, is the data scope: only conversations owned by
	// these users (an empty, non-nil list matches nothing). Nil: the whole
	// tenant.
	Owners []int64
	// OwnerIDs, DealID, Direction, From, To and the durations are the
	// request's filters; zero values do not filter.
	OwnerIDs      []int64
	DealID        int64
	Direction     string
	From, To      time.Time
	MinDurationMS *int64
	MaxDurationMS *int64
	// Conversations, when not nil, restricts the search to these ids (the
	// tracker filter); empty non-nil matches nothing.
	Conversations []int64
	// Affiliation, when set, only lets sentences of that side match (see
	// Affiliations).
	Affiliation string
	// Location is the tenant's time zone for the per-day facet.
	Location *time.Location
	// Size is the page size; After the position after the previous page.
	Size  int
	After *Cursor
}

// Cursor is a position in the (score desc, conversation id asc) order.
type Cursor struct {
	Score float64 `json:"s"`
	ID    int64   `json:"i"`
}

// Result is one page of matching conversations and the facets over all of
// them.
type Result struct {
	Hits  []Hit
	Total int64
	// Owners: matching conversations per owner, most first (ties: lower id
	// first), at most MaxOwnerFacets.
	Owners []OwnerCount
	// Days: matching conversations per calendar day of begin_time in the
	// query's location, oldest first, empty days left out.
	Days []DayCount
	// Next is where the next page starts; nil on the last page.
	Next *Cursor
}

// Hit is one matching conversation.
type Hit struct {
	ConversationID int64
	Score          float64
	Snippets       []Snippet
}

// Snippet is a matching sentence with every match wrapped in <em>…</em>;
// the text is escaped (&, <, >) so that the tags are unambiguous.
type Snippet struct {
	Seq        int
	StartMS    int64
	SpeakerKey string
	Text       string
}

// OwnerCount is a facet bucket.
type OwnerCount struct {
	OwnerUserID   int64
	Conversations int64
}

// DayCount is a facet bucket; Day is "YYYY-MM-DD".
type DayCount struct {
	Day           string
	Conversations int64
}

// Limits shared by both engines.
const (
	MaxSnippets    = 3
	MaxOwnerFacets = 100
	// MaxTerms bounds the words and phrases of one query.
	MaxTerms = 32
	// MaxQueryRunes is the longest query (the proto's 256 characters).
	MaxQueryRunes = 256
	// MaxSentenceBytes is the longest sentence text a transcript holds,
	// and so the longest snippet.
	MaxSentenceBytes = 4096
	// MaxTranscriptTextBytes bounds a transcript's texts as they are
	// indexed: the sum of their lengths as JSON strings (TextJSONBytes).
	// With the other fields of its most and longest sentences (20,000 of
	// them, about 8 MB), a conversation's document then stays well under
	// what one request to Elasticsearch may carry (http.max_content_length,
	// 100 MB by default), which refuses a larger one whatever it holds.
	MaxTranscriptTextBytes = 64 << 20
)

// TextJSONBytes is the length of s within a JSON string as the index
// encodes it (without HTML escaping): '"', '\\' and the line breaks and
// tab take two bytes, other ASCII controls six, U+2028 and U+2029 six
// for their three.
func TextJSONBytes(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		case c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9):
			n += 3
		}
	}
	return n
}

// Engine is a search backend.
type Engine interface {
	// Search runs q. An unreachable engine answers errs.Unavailable.
	Search(ctx context.Context, q Query) (Result, error)
	// Write applies ops in one batch and reports each op's outcome at the
	// same index of the returned slice; a nil error slice entry means done.
	// The error return is for a batch that failed as a whole.
	Write(ctx context.Context, ops []Op) ([]error, error)
	// Ping reports whether the engine can serve.
	Ping(ctx context.Context) error
	// Close releases the engine.
	Close() error
}

// Refresher is an engine whose writes become searchable only at its next
// refresh (Elasticsearch's refresh_interval); Refresh makes every write so
// far searchable now. Engines whose writes are searchable when Write
// returns do not implement it.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Rebuilder is an engine that can build a fresh index beside the live one
// and swap it in (mgvcore reindex).
type Rebuilder interface {
	// NewGeneration creates an empty index of the current mapping version
	// that is not yet searched; Write of the returned engine fills it.
	NewGeneration(ctx context.Context) (Generation, error)
}

// ErrNotSent marks an operation of Write that was not sent because its
// context ended after others of the batch were written: it ran out of
// time, and is due again at once.
var ErrNotSent = errors.New("not sent: the batch ran out of time")

// ErrAfterSwap marks an error of Activate once the alias names the new
// index: what follows a swap (the catch-up, removing what was deleted
// meanwhile) must still run.
var ErrAfterSwap = errors.New("the index was swapped in, but dropping the previous ones failed")

// Generation is an index being rebuilt.
type Generation interface {
	Name() string
	Write(ctx context.Context, ops []Op) ([]error, error)
	// Activate makes it the searched and written index, and drops the
	// previous ones and those that earlier rebuilds left unfinished; it
	// returns the names it dropped. An error after the swap, from the
	// drops, wraps ErrAfterSwap: the new index is the searched one.
	Activate(ctx context.Context) (previous []string, err error)
	// Abort deletes it.
	Abort(ctx context.Context) error
}

// Affiliations are the stored affiliations of the sentences q.Affiliation
// lets match: a speaker of unknown affiliation counts as external, as the
// metrics and the trackers count them (PRODUCT §4). None when q has no
// affiliation filter.
func (q Query) Affiliations() []string {
	switch q.Affiliation {
	case "":
		return nil
	case "external":
		return []string{"external", "unknown"}
	default:
		return []string{q.Affiliation}
	}
}
