package tracker

import (
	"cmp"
	"context"
	"slices"

	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/model"
)

// Appender appends partner events in the caller's transaction
// (events.Log).
type Appender interface {
	Append(ctx context.Context, evs ...events.Event) error
}

// SetEventLog makes the hook append a tracker.matched event for each
// tracker that hits a new transcript, in the transcript's transaction.
func (h *Hook) SetEventLog(l Appender) { h.events = l }

// transcriptMatched are the tracker.matched events of a new transcript of
// a conversation: one per tracker that hits it, by tracker id.
func transcriptMatched(tenantID, conversationID int64, hits []model.TrackerHit) []events.Event {
	now := map[int64]int{}
	for _, h := range hits {
		now[h.TrackerID]++
	}
	var out []events.Event
	for _, id := range changedCounts(nil, now) {
		out = append(out, matched(tenantID, conversationID, id, now[id]))
	}
	return out
}

// AppendMatched returns what the tracker re-application calls in each
// batch's transaction: it appends a tracker.matched event for each
// conversation of the batch whose hit count of the tracker changed (0
// when its hits are gone).
func AppendMatched(l Appender) func(ctx context.Context, tenantID, trackerID int64, before, after map[int64]int) error {
	return func(ctx context.Context, tenantID, trackerID int64, before, after map[int64]int) error {
		var evs []events.Event
		for _, id := range changedCounts(before, after) {
			evs = append(evs, matched(tenantID, id, trackerID, after[id]))
		}
		return l.Append(ctx, evs...)
	}
}

// changedCounts lists, in order, the keys whose count differs between
// before and after (a missing key counts 0).
func changedCounts(before, after map[int64]int) []int64 {
	var ids []int64
	for id, n := range after {
		if n != before[id] {
			ids = append(ids, id)
		}
	}
	for id, n := range before {
		if _, ok := after[id]; !ok && n != 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, cmp.Compare[int64])
	return ids
}

func matched(tenantID, conversationID, trackerID int64, hits int) events.Event {
	return events.Event{TenantID: tenantID, Type: events.TrackerMatched, Data: map[string]any{
		"conversation_id": conversationID, "tracker_id": trackerID, "hit_count": hits,
	}}
}
