package conversation

import (
	"context"
	"encoding/json"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// ErrNotFound answers an id that is unknown, of another tenant or outside
// the caller's data scope: the three look the same from outside.
var ErrNotFound = errs.NotFound(errs.ReasonConversationNotFound, "no such conversation")

// ReadRepo reads conversations within a data scope. An id that is
// unknown, of another tenant or outside the scope is NOT_FOUND
// (CONVERSATION_NOT_FOUND), never PERMISSION_DENIED.
type ReadRepo interface {
	Get(ctx context.Context, s model.Scope, id int64) (model.Conversation, error)
	List(ctx context.Context, s model.Scope, f model.ConversationFilter, after *model.ConversationCursor, limit int) ([]model.Conversation, error)
	Count(ctx context.Context, s model.Scope, f model.ConversationFilter) (int64, error)
	Participants(ctx context.Context, tenantID, conversationID int64) ([]model.Participant, error)
	Metrics(ctx context.Context, tenantID, conversationID int64) (*model.ConversationMetrics, error)
	TrackerHitCounts(ctx context.Context, tenantID, conversationID int64) ([]model.TrackerHitCount, error)
	// TranscriptPart returns part part (from 0) of the conversation's
	// stored transcript in seq order, nil past the last part, and the
	// transcript_version it belongs to, both from one consistent read.
	TranscriptPart(ctx context.Context, tenantID, conversationID int64, part int) (version int64, sentences []model.Sentence, err error)
	FilterRefs
}

// Reader holds the read use cases of conversations: list, get and
// transcript, the same for the apps and for partners.
type Reader struct {
	repo ReadRepo
}

// NewReader reads through repo.
func NewReader(repo ReadRepo) *Reader {
	return &Reader{repo: repo}
}

// View is a conversation as clients see it.
type View struct {
	ID                   int64
	OriginConversationID string
	OwnerUserID          int64
	DealID               *int64
	Title                string
	Channel              string
	Direction            string
	BeginTime            time.Time
	DurationMS           int64
	Language             string
	Status               string
	// CustomData is the partner's JSON object, as given.
	CustomData    json.RawMessage
	SentenceCount int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// ParticipantView is a speaker of a conversation.
type ParticipantView struct {
	SpeakerKey string
	// UserID is set when the speaker is a user of the tenant.
	UserID      *int64
	Name        string
	Affiliation string
}

// MetricsView are the stored interaction metrics of a conversation.
type MetricsView struct {
	AlgoVersion            int
	TalkRatio              float64
	LongestMonologueMS     int64
	LongestCustomerStoryMS int64
	Interactivity          float64
	PatienceMS             float64
	QuestionCountInternal  int
	QuestionCountExternal  int
	QuestionRate           float64
	SilenceMS              int64
	ComputedAt             time.Time
}

// Detail is one conversation with what belongs to it.
type Detail struct {
	Conversation View
	Participants []ParticipantView
	// Metrics is nil until a transcript is stored.
	Metrics     *MetricsView
	TrackerHits []model.TrackerHitCount
}

// Get returns a conversation in the caller's scope with its participants,
// metrics and per-tracker hit counts.
func (c *Reader) Get(ctx context.Context, id int64) (Detail, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return Detail{}, err
	}
	if err := access.CheckID("id", id); err != nil {
		return Detail{}, err
	}
	conv, err := c.repo.Get(ctx, s, id)
	if err != nil {
		return Detail{}, err
	}
	parts, err := c.repo.Participants(ctx, s.TenantID, id)
	if err != nil {
		return Detail{}, err
	}
	m, err := c.repo.Metrics(ctx, s.TenantID, id)
	if err != nil {
		return Detail{}, err
	}
	hits, err := c.repo.TrackerHitCounts(ctx, s.TenantID, id)
	if err != nil {
		return Detail{}, err
	}
	out := Detail{
		Conversation: NewView(conv),
		Participants: make([]ParticipantView, len(parts)),
		TrackerHits:  hits,
	}
	if out.TrackerHits == nil {
		out.TrackerHits = []model.TrackerHitCount{}
	}
	for i, p := range parts {
		out.Participants[i] = ParticipantView{SpeakerKey: p.SpeakerKey, UserID: p.UserID, Name: p.Name, Affiliation: p.Affiliation}
	}
	if m != nil {
		out.Metrics = &MetricsView{
			AlgoVersion: m.AlgoVersion, TalkRatio: m.TalkRatio, LongestMonologueMS: m.LongestMonologueMS,
			LongestCustomerStoryMS: m.LongestCustomerStoryMS, Interactivity: m.Interactivity, PatienceMS: m.PatienceMS,
			QuestionCountInternal: m.QuestionCountInternal, QuestionCountExternal: m.QuestionCountExternal,
			QuestionRate: m.QuestionRate, SilenceMS: m.SilenceMS, ComputedAt: m.ComputedAt.UTC(),
		}
	}
	return out, nil
}

func NewView(c model.Conversation) View {
	custom := json.RawMessage(c.CustomData)
	if len(custom) == 0 {
		custom = json.RawMessage("{}")
	}
	return View{
		ID: c.ID, OriginConversationID: c.OriginConversationID, OwnerUserID: c.OwnerUserID, DealID: c.DealID,
		Title: c.Title, Channel: c.Channel, Direction: c.Direction, BeginTime: c.BeginTime.UTC(),
		DurationMS: c.DurationMS, Language: c.Language, Status: c.Status, CustomData: custom,
		SentenceCount: c.SentenceCount, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}
}
