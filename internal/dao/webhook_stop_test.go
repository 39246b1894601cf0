package dao_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// fixedLog is a tenant's event log of n events of one type.
type fixedLog struct {
	typ string
	n   int64
}

func (l fixedLog) event(id int64) webhook.Event {
	return webhook.Event{ID: id, Type: l.typ, TenantID: 1, OccurredAt: time.Now(), Data: []byte(`{}`)}
}

func (l fixedLog) After(_ context.Context, _, cursor int64, _ []string, limit int) ([]webhook.Event, int64, error) {
	var out []webhook.Event
	for id := cursor + 1; id <= l.n && len(out) < limit; id++ {
		out = append(out, l.event(id))
	}
	if len(out) == limit {
		return out, out[len(out)-1].ID, nil
	}
	return out, max(l.n, cursor), nil
}

func (l fixedLog) Get(_ context.Context, _, id int64) (webhook.Event, error) { return l.event(id), nil }

func (l fixedLog) Last(context.Context, int64) (int64, error) { return l.n, nil }

func (l fixedLog) LastOf(context.Context, []int64) (map[int64]int64, error) {
	return map[int64]int64{1: l.n}, nil
}

// slowReceiver answers 200 after delay and counts the requests as they
// arrive.
type slowReceiver struct {
	delay time.Duration
	n     atomic.Int64
}

func (r *slowReceiver) Post(context.Context, string, map[string]string, []byte) (webhook.Result, error) {
	r.n.Add(1)
	time.Sleep(r.delay)
	return webhook.Result{Status: 200}, nil
}

// The deliverer on the real store, stopped while its requests are in
// flight (a clean stop, or the old process of an upgrade): the store
// refuses a write under the cancelled context of the stop, yet the
// deliveries the receiver acknowledged are recorded, the cursor moved and
// the lease handed back, so the next process sends nothing again.
func TestWebhookStopRecordsTheDeliveriesInFlight(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, a := oneSubscription(t, db)
		// What the store itself does with a stopped deliverer's context,
		// under a lease it holds: it refuses the write.
		held, err := w.Claim(ctx, s.ID, "probe", time.Minute)
		if err != nil || held == nil {
			t.Fatalf("claim: %v %v", held, err)
		}
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		moved := *held
		moved.EventCursor = 4
		if err := w.Record(stopped, "probe", *held, &moved, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("a record with a cancelled context: %v, want context.Canceled", err)
		}
		if err := w.Release(ctx, s.ID, "probe"); err != nil {
			t.Fatal(err)
		}

		sealer, _ := webhook.NewSealer("test key")
		// The subscription's secret is sealed for its tenant and app.
		sealed, _ := sealer.Seal("whsec_x", fmt.Sprintf("webhook:%d:%d", s.TenantID, a.ID))
		if err := db.Model(&model.WebhookSubscription{}).Where("id = ?", s.ID).Update("secret_sealed", sealed).Error; err != nil {
			t.Fatal(err)
		}
		setHead(t, db, 1, 4)
		log := fixedLog{typ: "transcript.ready", n: 4}
		rcv := &slowReceiver{delay: 300 * time.Millisecond}
		opts := webhook.DeliverOptions{Owner: "old", Workers: 1, InFlight: 4, Batch: 8, Poll: 10 * time.Millisecond,
			Lease: time.Minute, Slice: 10 * time.Second, RequestTimeout: time.Second, Log: zerolog.Nop()}
		old := webhook.NewDeliverer(w, log, rcv, sealer, opts)
		old.Start(ctx)
		polltest.Until(t, 10*time.Second, time.Millisecond, "four requests in flight", func() bool { return rcv.n.Load() == 4 })
		old.Stop()

		got, err := w.Get(ctx, 1, 0, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.EventCursor != 4 || got.LeaseOwner != "" {
			t.Fatalf("after the stop: cursor %d (want 4), lease owner %q", got.EventCursor, got.LeaseOwner)
		}
		rows, err := w.Deliveries(ctx, s.ID, "", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 {
			t.Fatalf("%d deliveries logged, want 4", len(rows))
		}
		for _, r := range rows {
			if r.Status != model.DeliveryDelivered || r.Attempts != 1 {
				t.Fatalf("delivery %+v", r)
			}
		}

		opts.Owner = "new"
		nw := webhook.NewDeliverer(w, log, rcv, sealer, opts)
		nw.Start(ctx)
		time.Sleep(300 * time.Millisecond)
		nw.Stop()
		if n := rcv.n.Load(); n != 4 {
			t.Fatalf("the receiver got %d requests, want the 4 events once", n)
		}
	})
}
