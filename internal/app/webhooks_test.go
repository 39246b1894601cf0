package app

import (
	"errors"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/logic/webhook"
)

// readDuringATrim appends events 1..30 of tenant 7, trims them through
// trimmed (a batch of the trimmer before the round's read), and reads the
// log after cursor as a delivery round does while the trimmer's next batch,
// through 20, commits just before the round reads the events (after it
// read the head) or, afterEvents, just after.
func readDuringATrim(t *testing.T, db *gorm.DB, trimmed, cursor int64, afterEvents bool) ([]webhook.Event, error) {
	t.Helper()
	repo := dao.NewEvents(db)
	log := events.NewLog(repo, dao.NewTransactor(db), nil)
	ctx := t.Context()
	for i := 1; i <= 30; i++ {
		if err := log.Append(ctx, events.Event{TenantID: 7, Type: events.ConversationCreated, Data: map[string]any{"conversation_id": i}}); err != nil {
			t.Fatal(err)
		}
	}
	// A month old, past a day's retention.
	old, cutoff := db.NowFunc().UTC().AddDate(0, -1, 0), db.NowFunc().UTC().AddDate(0, 0, -1)
	trimThrough := func(id int64) {
		if err := db.Exec("UPDATE events SET occurred_at = ? WHERE tenant_id = 7 AND id <= ?", old, id).Error; err != nil {
			t.Error(err)
		}
		if _, err := repo.Trim(ctx, cutoff, 1000); err != nil {
			t.Error(err)
		}
	}
	trimThrough(trimmed)
	armed := false
	trimOnce := func(tx *gorm.DB) {
		if armed && tx.Statement.Table == "events" {
			armed = false
			trimThrough(20)
		}
	}
	q := db.Callback().Query()
	register := q.Before("gorm:query").Register
	if afterEvents {
		register = q.After("gorm:query").Register
	}
	if err := register("test:trim_during_the_read", trimOnce); err != nil {
		t.Fatal(err)
	}
	armed = true
	evs, _, err := eventLog{repo}.After(ctx, 7, cursor, []string{events.ConversationCreated}, 100)
	if armed {
		t.Fatal("the trim during the read did not run")
	}
	return evs, err
}

// A round reads the log while the trimmer deletes it batch after batch: it
// reads the head, the events and how far the log was trimmed in one
// snapshot, so events trimmed before the read expire it, naming them, and
// events trimmed during it were read. Read apart, a batch before the read
// and one after the events looked like one batch after the read (the
// events the first took skipped without a word), and a batch between the
// head and the events took events from under a cursor the first left
// behind.
func TestWebhookReadSeesTheLogAsOneSnapshotWhileItIsTrimmed(t *testing.T) {
	t.Run("trimmed past the cursor before the read, and again after the events", func(t *testing.T) {
		daotest.Each(t, func(t *testing.T, db *gorm.DB) {
			evs, err := readDuringATrim(t, db, 10, 5, true)
			var gone *webhook.Expired
			if !errors.As(err, &gone) || gone.Cursor != 5 || gone.Through != 10 {
				t.Fatalf("cursor 5, events 6..10 trimmed before the read: %d events, err %v; want events 6 to 10 expired", len(evs), err)
			}
		})
	})
	t.Run("trimmed past the cursor between the head and the events", func(t *testing.T) {
		daotest.Each(t, func(t *testing.T, db *gorm.DB) {
			evs, err := readDuringATrim(t, db, 10, 10, false)
			var ids, want []int64
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			for id := int64(11); id <= 30; id++ {
				want = append(want, id)
			}
			if err != nil || !slices.Equal(ids, want) {
				t.Fatalf("cursor 10, events 11..20 trimmed during the read: events %v, err %v; want 11..30", ids, err)
			}
		})
	})
}
