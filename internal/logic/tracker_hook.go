package logic

import (
	"context"

	"github.com/megaview/mgvcore/internal/model"
)

// TrackerHitRepo is what the transcript hook needs; calls made with the
// hook's ctx join the transcript write's transaction.
type TrackerHitRepo interface {
	ListTrackers(ctx context.Context, tenantID int64) ([]model.Tracker, error)
	InsertTrackerHits(ctx context.Context, hits []model.TrackerHit) error
}

// TrackerHook computes the tracker hits of every transcript write, in its
// transaction, with the tenant's live trackers as they are at that moment.
// A tracker changing at the same time is covered by its re-application:
// a batch waits for the transcript write to commit before matching its
// conversation again.
type TrackerHook struct{ repo TrackerHitRepo }

// NewTrackerHook matches through repo.
func NewTrackerHook(repo TrackerHitRepo) *TrackerHook { return &TrackerHook{repo: repo} }

// OnTranscript stores the hits of w; the old ones are already deleted.
func (h *TrackerHook) OnTranscript(ctx context.Context, w TranscriptWrite) error {
	if len(w.Sentences) == 0 {
		return nil
	}
	trackers, err := h.repo.ListTrackers(ctx, w.Conversation.TenantID)
	if err != nil || len(trackers) == 0 {
		return err
	}
	hits := MatchTrackers(trackers, w.Sentences, w.Participants)
	for i := range hits {
		hits[i].ConversationID = w.Conversation.ID
	}
	return h.repo.InsertTrackerHits(ctx, hits)
}
