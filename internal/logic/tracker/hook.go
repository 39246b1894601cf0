package tracker

import (
	"context"
	"sync"

	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// HitRepo is what the transcript hook needs; calls made with the
// hook's ctx join the transcript write's transaction.
type HitRepo interface {
	ListTrackers(ctx context.Context, tenantID int64) ([]model.Tracker, error)
	InsertTrackerHits(ctx context.Context, hits []model.TrackerHit) error
}

// Hook computes the tracker hits of every transcript write, in its
// transaction, with the tenant's live trackers as they are at that moment.
// A tracker changing at the same time is covered by its re-application:
// a batch waits for the transcript write to commit before matching its
// conversation again.
//
// It keeps each tenant's trackers prepared for matching with the stamp
// they were read at; a write whose transaction sees the same stamp
// (conversation.TranscriptWrite.Trackers) sees the same trackers, and matches with them
// without reading them again.
type Hook struct {
	repo   HitRepo
	events Appender

	mu       sync.Mutex
	matchers map[int64]stampedMatcher // by tenant
}

type stampedMatcher struct {
	stamp   conversation.TrackersStamp
	matcher *Matcher
}

// NewHook matches through repo.
func NewHook(repo HitRepo) *Hook {
	return &Hook{repo: repo, matchers: map[int64]stampedMatcher{}}
}

// OnTranscript stores the hits of w; the old ones are already deleted.
func (h *Hook) OnTranscript(ctx context.Context, w conversation.TranscriptWrite) error {
	if len(w.Sentences) == 0 {
		return nil
	}
	m, err := h.matcher(ctx, w.Conversation.TenantID, w.Trackers)
	if err != nil || m.Empty() {
		return err
	}
	hits := m.Match(w.Sentences, w.Participants)
	for i := range hits {
		hits[i].ConversationID = w.Conversation.ID
	}
	if err := h.repo.InsertTrackerHits(ctx, hits); err != nil {
		return err
	}
	if h.events == nil {
		return nil
	}
	return h.events.Append(ctx, transcriptMatched(w.Conversation.TenantID, w.Conversation.ID, hits)...)
}

// matcher returns the tenant's trackers prepared, as of stamp: the kept
// ones when they were read at that stamp, else read now in ctx's
// transaction (which sees that stamp) and kept.
func (h *Hook) matcher(ctx context.Context, tenantID int64, stamp conversation.TrackersStamp) (*Matcher, error) {
	h.mu.Lock()
	kept, ok := h.matchers[tenantID]
	h.mu.Unlock()
	if ok && kept.stamp == stamp {
		return kept.matcher, nil
	}
	trackers, err := h.repo.ListTrackers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	m := NewMatcher(trackers)
	h.mu.Lock()
	defer h.mu.Unlock()
	// A write that saw an older state may finish last; keep the newest.
	if cur, ok := h.matchers[tenantID]; !ok || cur.stamp.Versions <= stamp.Versions {
		h.matchers[tenantID] = stampedMatcher{stamp: stamp, matcher: m}
	}
	return m, nil
}
