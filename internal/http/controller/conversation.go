package controller

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// Conversations serves the conversation reads of the apps; each route
// shares its operation with the gRPC method of the same use case.
type Conversations struct {
	Reader *conversation.Reader
}

// Routes adds the routes.
func (h Conversations) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/conversations", openv1.ConversationService_ListConversations_FullMethodName, h.List,
		slices.Concat(conversationFilterParams, pageParams)...)
	r.Handle(http.MethodGet, "/api/v1/conversations/:id", openv1.ConversationService_GetConversation_FullMethodName, h.Get)
	r.Handle(http.MethodGet, "/api/v1/conversations/:id/transcript", openv1.ConversationService_GetTranscript_FullMethodName, h.Transcript, "q")
}

// List is GET /conversations: filters from (incl.), to (excl.), owner_id
// (repeated or comma-separated), department_id, deal_id, direction,
// min_duration_ms, max_duration_ms, tracker_id; page_size, page_token.
//
// The logic checks the caller's scope before the query: what cannot be
// read goes to it as Unread, so an app without read learns nothing of it.
func (h Conversations) List(c echo.Context) error {
	q := c.QueryParams()
	f, unread := ConversationFilterFromQuery(q)
	size, err := optInt(q, "page_size")
	if unread == nil {
		unread = err
	}
	page, err := h.Reader.List(c.Request().Context(), conversation.ListRequest{
		Filter: f, PageSize: int(size), PageToken: q.Get("page_token"), Unread: unread,
	})
	if err != nil {
		return queryFilterFields.Word(err)
	}
	return render.OK(c, ConversationPageJSON{
		Conversations: convertAll(page.Conversations, conversationJSON), NextPageToken: page.NextPageToken, Total: page.Total,
	})
}

// Get is GET /conversations/{id}.
func (h Conversations) Get(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := h.Reader.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return render.OK(c, ConversationDetailJSON{
		Conversation: ConversationJSON(d.Conversation),
		Participants: convertAll(d.Participants, func(p conversation.ParticipantView) ParticipantJSON { return ParticipantJSON(p) }),
		Metrics:      (*MetricsJSON)(d.Metrics),
		TrackerHits:  d.TrackerHits,
	})
}

// Transcript is GET /conversations/{id}/transcript?q=…: the whole
// transcript in one TranscriptJSON answer, encoded as the sentences are
// read, a stored part at a time (see transcriptWriter).
func (h Conversations) Transcript(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	w := &transcriptWriter{c: c, id: id}
	ctx := c.Request().Context()
	watch := watchRevocation(ctx, c.Response(), revocationRecheck)
	defer func() { _ = watch.stop() }() // stopped below; this one is for a panic
	matches, err := h.Reader.StreamTranscript(ctx, id, c.QueryParam("q"), w.sentence)
	if revoked := watch.stop(); revoked != nil {
		err = revoked
		if !w.started {
			// The refusal is answered in full; the cut was for a
			// write the answer had not begun.
			_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(revocationRecheck))
		}
	}
	return w.finish(matches, err)
}

// ConversationJSON is a conversation in the HTTP API.
type ConversationJSON struct {
	ID                   int64     `json:"id"`
	OriginConversationID string    `json:"origin_conversation_id"`
	OwnerUserID          int64     `json:"owner_user_id"`
	DealID               *int64    `json:"deal_id"`
	Title                string    `json:"title"`
	Channel              string    `json:"channel"`
	Direction            string    `json:"direction"`
	BeginTime            time.Time `json:"begin_time"`
	DurationMS           int64     `json:"duration_ms"`
	Language             string    `json:"language"`
	Status               string    `json:"status"`
	// CustomData is the partner's JSON object, as given.
	CustomData    json.RawMessage `json:"custom_data"`
	SentenceCount int             `json:"sentence_count"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

func conversationJSON(v conversation.View) ConversationJSON { return ConversationJSON(v) }

// ConversationPageJSON is the body of GET /conversations.
type ConversationPageJSON struct {
	Conversations []ConversationJSON `json:"conversations"`
	// NextPageToken is empty on the last page.
	NextPageToken string `json:"next_page_token"`
	// Total counts the matches over all pages.
	Total int64 `json:"total"`
}

// ConversationDetailJSON is the body of GET /conversations/{id}.
type ConversationDetailJSON struct {
	Conversation ConversationJSON  `json:"conversation"`
	Participants []ParticipantJSON `json:"participants"`
	// Metrics is null until a transcript is stored.
	Metrics     *MetricsJSON            `json:"metrics"`
	TrackerHits []model.TrackerHitCount `json:"tracker_hits"`
}

// ParticipantJSON is a speaker of a conversation.
type ParticipantJSON struct {
	SpeakerKey string `json:"speaker_key"`
	// UserID is set when the speaker is a user of the tenant.
	UserID      *int64 `json:"user_id"`
	Name        string `json:"name"`
	Affiliation string `json:"affiliation"`
}

// MetricsJSON are the stored interaction metrics of a conversation.
type MetricsJSON struct {
	AlgoVersion            int       `json:"algo_version"`
	TalkRatio              float64   `json:"talk_ratio"`
	LongestMonologueMS     int64     `json:"longest_monologue_ms"`
	LongestCustomerStoryMS int64     `json:"longest_customer_story_ms"`
	Interactivity          float64   `json:"interactivity"`
	PatienceMS             float64   `json:"patience_ms"`
	QuestionCountInternal  int       `json:"question_count_internal"`
	QuestionCountExternal  int       `json:"question_count_external"`
	QuestionRate           float64   `json:"question_rate"`
	SilenceMS              int64     `json:"silence_ms"`
	ComputedAt             time.Time `json:"computed_at"`
}

// TranscriptJSON is the body of GET /conversations/{id}/transcript.
type TranscriptJSON struct {
	ConversationID int64                    `json:"conversation_id"`
	Sentences      []TranscriptSentenceJSON `json:"sentences"`
	// MatchCount counts the sentences that match q.
	MatchCount int `json:"match_count"`
}

// TranscriptSentenceJSON is one stored sentence.
type TranscriptSentenceJSON struct {
	Seq        int64  `json:"seq"`
	SpeakerKey string `json:"speaker_key"`
	StartMS    int64  `json:"start_ms"`
	EndMS      int64  `json:"end_ms"`
	Text       string `json:"text"`
	// Matches is true when q is set and the sentence contains all of it.
	Matches bool `json:"matches"`
}

// convertAll converts every element of in, keeping a nil slice nil: the
// JSON shapes render null exactly where the use case gave nil.
func convertAll[T, U any](in []T, convert func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = convert(v)
	}
	return out
}

// queryFilterFields names the filter's fields as query parameters.
var queryFilterFields = errs.FieldNames{"owner_ids": "owner_id"}

// conversationFilterParams are the query parameters
// ConversationFilterFromQuery reads.
var conversationFilterParams = []string{
	"from", "to", Many("owner_id"), "department_id", "deal_id", "tracker_id", "direction", "min_duration_ms", "max_duration_ms",
}

// pageParams are the query parameters of a page of a list.
var pageParams = []string{"page_size", "page_token"}

// ConversationFilterFromQuery reads the conversation filter of PRODUCT §3
// from query parameters; the logic layer validates the values.
func ConversationFilterFromQuery(q url.Values) (model.ConversationFilter, error) {
	var f model.ConversationFilter
	var err error
	if f.From, err = optTime(q, "from"); err != nil {
		return f, err
	}
	if f.To, err = optTime(q, "to"); err != nil {
		return f, err
	}
	for _, v := range q["owner_id"] {
		for _, part := range strings.Split(v, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
			if err != nil {
				return f, errs.InvalidArgument("owner_id", "must be user ids, repeated or comma-separated (got %q)", v)
			}
			f.OwnerIDs = append(f.OwnerIDs, id)
		}
	}
	for _, x := range []struct {
		name string
		dst  *int64
	}{{"department_id", &f.DepartmentID}, {"deal_id", &f.DealID}, {"tracker_id", &f.TrackerID}} {
		if *x.dst, err = optInt(q, x.name); err != nil {
			return f, err
		}
	}
	f.Direction = q.Get("direction")
	for _, x := range []struct {
		name string
		dst  **int64
	}{{"min_duration_ms", &f.MinDurationMS}, {"max_duration_ms", &f.MaxDurationMS}} {
		if q.Get(x.name) == "" {
			continue
		}
		v, err := optInt(q, x.name)
		if err != nil {
			return f, err
		}
		*x.dst = &v
	}
	return f, nil
}

// optInt reads an optional integer parameter; absent is 0.
func optInt(q url.Values, name string) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errs.InvalidArgument(name, "must be an integer (got %q)", s)
	}
	return v, nil
}

// optTime reads an optional point in time: RFC 3339 or milliseconds since
// the epoch; absent is the zero time.
func optTime(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		return t, access.CheckGivenTime(name, t)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errs.InvalidArgument(name, "must be an RFC 3339 time such as 2026-03-01T08:00:00Z, or ms since the epoch (got %q)", s)
	}
	return t.UTC(), access.CheckGivenTime(name, t)
}

// pathID reads the {id} of a route.
func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.InvalidArgument("id", "must be a positive id (got %q)", c.Param("id"))
	}
	return id, nil
}
