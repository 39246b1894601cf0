package tracker

import (
	"context"

	"github.com/megaview/mgvcore/internal/logic/events"
)

// Transactor runs functions in one transaction (dao.Transactor).
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// SetEventLog makes Delete append a tracker.deleted event to l in the
// deletion's transaction, which tx runs: a partner that keeps the hits of
// tracker.matched drops the tracker's, whose purge writes no event per
// conversation.
func (t *Trackers) SetEventLog(l Appender, tx Transactor) { t.events, t.tx = l, tx }

// deleteWithEvent deletes the tenant's tracker with its event, if any.
func (t *Trackers) deleteWithEvent(ctx context.Context, tenantID, id int64) error {
	if t.events == nil {
		return t.repo.DeleteTracker(ctx, tenantID, id)
	}
	return t.tx.InTx(ctx, func(ctx context.Context) error {
		if err := t.repo.DeleteTracker(ctx, tenantID, id); err != nil {
			return err
		}
		return t.events.Append(ctx, events.Event{TenantID: tenantID, Type: events.TrackerDeleted, Data: map[string]any{
			"tracker_id": id,
		}})
	})
}
