package dao_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// The tenants the deliverer cannot serve now (at their share of the
// workers) are left out of the candidates, with their redeliveries: their
// subscriptions, however many and however long waiting, leave room in the
// list for another tenant's.
func TestWebhookCandidatesLeaveOutSkippedTenants(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, apps := dao.NewWebhooks(db), dao.NewApps(db)
		subscribe := func(tenant int64, name string, n int) []int64 {
			a := model.App{TenantID: tenant, Name: name, AppKey: "ak_" + name, SecretHash: "x", Scopes: "read", Status: model.AppActive}
			if err := apps.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for range n {
				s := model.WebhookSubscription{TenantID: tenant, AppID: a.ID, URL: "https://r.example/h", EventTypes: "transcript.ready",
					SecretSealed: "v1:x", Status: model.WebhookActive}
				if err := w.Create(ctx, &s, 100); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, s.ID)
			}
			return ids
		}
		noisy := subscribe(1, "noisy", 4)
		if err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: noisy[0], EventID: 1, EventType: "transcript.ready"}, 10); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		quiet := subscribe(2, "quiet", 1)[0]
		redoOnly := subscribe(3, "redo", 1)[0]
		if err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 3, SubscriptionID: redoOnly, EventID: 1, EventType: "transcript.ready"}, 10); err != nil {
			t.Fatal(err)
		}
		setHead(t, db, 1, 10)
		setHead(t, db, 2, 10)

		cands, redo, err := w.Candidates(ctx, 2, nil)
		if err != nil || len(cands) != 3 || cands[0].ID != noisy[0] || cands[1].ID != noisy[1] || cands[2].ID != redoOnly || !redo[noisy[0]] || !redo[redoOnly] {
			t.Fatalf("candidates, none skipped: %+v %v %v", cands, redo, err)
		}
		cands, redo, err = w.Candidates(ctx, 2, []int64{1})
		if err != nil || len(cands) != 2 || cands[0].ID != quiet || cands[1].ID != redoOnly || redo[noisy[0]] || !redo[redoOnly] {
			t.Fatalf("candidates, tenant 1 skipped: %+v %v %v", cands, redo, err)
		}
		cands, redo, err = w.Candidates(ctx, 2, []int64{1, 3})
		if err != nil || len(cands) != 1 || cands[0].ID != quiet || len(redo) != 0 {
			t.Fatalf("candidates, tenants 1 and 3 skipped: %+v %v %v", cands, redo, err)
		}
	})
}

// A subscription's redeliver_at is the earliest next attempt of its
// pending redeliveries, which the look for redeliveries reads instead of
// the delivery log: brought forward by a redelivery asked for, set again
// by a round that writes redeliveries or disables the subscription, and
// by one that reads it with none pending any more (removed by a trim or an
// erasure); filled at a start for redeliveries pending from before it.
func TestWebhookRedeliverAtFollowsPendingRedeliveries(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		at := func() *time.Time {
			t.Helper()
			got, err := w.Get(ctx, 1, 0, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.RedeliverAt
		}
		due := func() bool {
			t.Helper()
			_, redo, err := w.Candidates(ctx, 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			return redo[s.ID]
		}
		claim := func() *model.WebhookSubscription {
			t.Helper()
			got, err := w.Claim(ctx, s.ID, "me", time.Minute)
			if err != nil || got == nil {
				t.Fatalf("claim: %v %v", got, err)
			}
			return got
		}
		record := func(held *model.WebhookSubscription, rows []model.WebhookDelivery) {
			t.Helper()
			if err := w.Record(ctx, "me", *held, held, rows); err != nil {
				t.Fatal(err)
			}
			if err := w.Release(ctx, s.ID, "me"); err != nil {
				t.Fatal(err)
			}
		}
		if at() != nil || due() {
			t.Fatalf("no redelivery: redeliver_at %v", at())
		}
		ask := func() {
			t.Helper()
			if err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 1, EventType: "transcript.ready"}, 10); err != nil {
				t.Fatal(err)
			}
		}
		ask()
		if a := at(); a == nil || a.After(time.Now()) || !due() {
			t.Fatalf("a redelivery asked for: redeliver_at %v", a)
		}

		// Delivered: none pending.
		held := claim()
		rows, _ := w.DueRedeliveries(ctx, s.ID, 10)
		rows[0].Status, rows[0].Attempts = model.DeliveryDelivered, 1
		record(held, rows)
		if held.RedeliverAt != nil || at() != nil || due() {
			t.Fatalf("delivered: redeliver_at %v (the round read %v)", at(), held.RedeliverAt)
		}

		// Failed, retried in an hour: due then.
		ask()
		held = claim()
		rows, _ = w.DueRedeliveries(ctx, s.ID, 10)
		later := time.Now().Add(time.Hour)
		rows[0].Attempts, rows[0].LastError, rows[0].NextAttemptAt = 1, "HTTP 503", later
		record(held, rows)
		if a := at(); a == nil || a.Sub(later).Abs() > time.Second || due() || held.RedeliverAt == nil {
			t.Fatalf("retried in an hour: redeliver_at %v, want %v", a, later)
		}

		// Removed from the log (a trim, an erasure): the next round that
		// reads the subscription with one pending sets it again.
		if err := db.Exec("DELETE FROM webhook_deliveries WHERE subscription_id = ?", s.ID).Error; err != nil {
			t.Fatal(err)
		}
		held = claim()
		record(held, nil)
		if at() != nil {
			t.Fatalf("none left: redeliver_at %v", at())
		}

		// Pending from before the column: filled at a start.
		old := model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 1, EventType: "transcript.ready", Redelivery: true,
			Status: model.DeliveryPending, CreatedAt: time.Now(), LastAttemptAt: time.Now(), NextAttemptAt: time.Now().Add(-time.Minute)}
		if err := db.Create(&old).Error; err != nil {
			t.Fatal(err)
		}
		if due() {
			t.Fatal("a redelivery written without its time is found before the fill")
		}
		if err := w.FillRedeliverAt(ctx); err != nil {
			t.Fatal(err)
		}
		if a := at(); a == nil || !due() {
			t.Fatalf("filled: redeliver_at %v", a)
		}

		// Disabled by the round: its pending deliveries fail, none is due.
		held = claim()
		read := *held
		held.Status, held.DisabledReason = model.WebhookDisabled, "failed for 24h"
		if err := w.Record(ctx, "me", read, held, nil); err != nil {
			t.Fatal(err)
		}
		if at() != nil {
			t.Fatalf("disabled: redeliver_at %v", at())
		}
	})
}
