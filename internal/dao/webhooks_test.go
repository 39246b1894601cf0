package dao_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Subscriptions and their delivery log on both dialects: one claimer of
// many racing wins the lease, progress is written only under the lease,
// disabling fails the pending deliveries, and the tenant and app bound
// every read.
func TestWebhooksStore(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w := dao.NewWebhooks(db)
		apps := dao.NewApps(db)
		app := model.App{TenantID: 1, Name: "crm", AppKey: "ak_crm", SecretHash: "x", Scopes: "ingest read", Status: model.AppActive}
		if err := apps.Create(ctx, &app); err != nil {
			t.Fatal(err)
		}
		sub := model.WebhookSubscription{TenantID: 1, AppID: app.ID, URL: "https://r.example/h", EventTypes: "transcript.ready",
			SecretSealed: "v1:x", Status: model.WebhookActive}
		if err := w.Create(ctx, &sub, 20); err != nil {
			t.Fatal(err)
		}
		setHead(t, db, 1, 10)
		if _, err := w.Get(ctx, 1, app.ID+1, sub.ID); !errs.Is(err, errs.ReasonSubscriptionNotFound) {
			t.Fatalf("another app's subscription: %v", err)
		}
		if _, err := w.Get(ctx, 9, 0, sub.ID); !errs.Is(err, errs.ReasonSubscriptionNotFound) {
			t.Fatalf("another tenant's subscription: %v", err)
		}
		cands, _, err := w.Candidates(ctx, 10, nil)
		if err != nil || len(cands) != 1 {
			t.Fatalf("candidates: %v %v", cands, err)
		}

		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := w.Claim(ctx, sub.ID, "owner-"+string(rune('a'+i)), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if got != nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 8 racing claims won the lease", wins.Load())
		}
		var owner string
		db.Model(&model.WebhookSubscription{}).Where("id = ?", sub.ID).Pluck("lease_owner", &owner)
		if cands, _, _ := w.Candidates(ctx, 10, nil); len(cands) != 0 {
			t.Fatalf("a leased subscription is a candidate: %v", cands)
		}

		held, err := w.Get(ctx, 1, app.ID, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		held.EventCursor = 5
		rows := []model.WebhookDelivery{{TenantID: 1, SubscriptionID: sub.ID, EventID: 6, EventType: "transcript.ready",
			Status: model.DeliveryPending, Attempts: 1, LastError: "HTTP 503", LastAttemptAt: time.Now(), NextAttemptAt: time.Now().Add(time.Hour)}}
		if err := w.Record(ctx, "somebody else", *held, held, rows); !errs.IsConflict(err) {
			t.Fatalf("a record without the lease: %v", err)
		}
		if err := w.Record(ctx, owner, *held, held, rows); err != nil {
			t.Fatal(err)
		}
		got, _ := w.Attempted(ctx, sub.ID, []int64{5, 6, 7})
		if len(got) != 1 || got[0].EventID != 6 || got[0].Status != model.DeliveryPending {
			t.Fatalf("attempted: %+v", got)
		}
		read := *held
		held.Status, held.DisabledReason = model.WebhookDisabled, "failed for 24h"
		if err := w.Record(ctx, owner, read, held, nil); err != nil {
			t.Fatal(err)
		}
		ds, _ := w.Deliveries(ctx, sub.ID, "", 0, 10)
		if len(ds) != 1 || ds[0].Status != model.DeliveryFailed {
			t.Fatalf("deliveries of a disabled subscription: %+v", ds)
		}
		if err := w.Release(ctx, sub.ID, owner); err != nil {
			t.Fatal(err)
		}
		if cands, _, _ := w.Candidates(ctx, 10, nil); len(cands) != 0 {
			t.Fatal("a disabled subscription is a candidate")
		}
		// A redelivery waits for a disabled subscription to be enabled.
		red := model.WebhookDelivery{TenantID: 1, SubscriptionID: sub.ID, EventID: 6, EventType: "transcript.ready"}
		if err := w.AddRedelivery(ctx, &red, 10); err != nil {
			t.Fatal(err)
		}
		if cands, _, _ := w.Candidates(ctx, 10, nil); len(cands) != 0 {
			t.Fatalf("a disabled subscription with a redelivery is a candidate: %v", cands)
		}
		if err := w.SetStatus(ctx, 1, sub.ID, model.WebhookActive, ""); err != nil {
			t.Fatal(err)
		}
		if cands, redo, _ := w.Candidates(ctx, 10, nil); len(cands) != 1 || !redo[sub.ID] {
			t.Fatalf("enabled with a redelivery: %v %v", cands, redo)
		}
		if s, _ := w.Get(ctx, 1, 0, sub.ID); s.Status != model.WebhookActive || s.Attempts != 0 || s.DisabledReason != "" || s.EventCursor != 5 {
			t.Fatalf("enabled again: %+v", s)
		}
		if err := w.Delete(ctx, 1, 3, sub.ID); !errs.Is(err, errs.ReasonSubscriptionNotFound) {
			t.Fatalf("another app's delete: %v", err)
		}
		if err := w.Delete(ctx, 1, app.ID, sub.ID); err != nil {
			t.Fatal(err)
		}
		if ds, _ := w.Deliveries(ctx, sub.ID, "", 0, 10); len(ds) != 0 {
			t.Fatalf("deliveries left after delete: %d", len(ds))
		}
	})
}

// A subscription is delivered to only while its app may read events:
// disabling the app, taking away its read scope or deleting it stops its
// deliveries (on every instance, since each asks the database), and
// enabling it again resumes them where they were.
func TestWebhookCandidatesFollowTheirApp(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, apps := dao.NewWebhooks(db), dao.NewApps(db)
		app := model.App{TenantID: 1, Name: "crm", AppKey: "ak_crm", SecretHash: "x", Scopes: "read", Status: model.AppActive}
		other := model.App{TenantID: 1, Name: "pbx", AppKey: "ak_pbx", SecretHash: "x", Scopes: "search read ingest", Status: model.AppActive}
		for _, a := range []*model.App{&app, &other} {
			if err := apps.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []int64{app.ID, other.ID} {
			s := model.WebhookSubscription{TenantID: 1, AppID: id, URL: "https://r.example/h", EventTypes: "transcript.ready",
				SecretSealed: "v1:x", Status: model.WebhookActive}
			if err := w.Create(ctx, &s, 20); err != nil {
				t.Fatal(err)
			}
		}
		setHead(t, db, 1, 1)
		want := func(what string, ids ...int64) {
			t.Helper()
			cands, _, err := w.Candidates(ctx, 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range cands {
				got = append(got, c.AppID)
			}
			slices.Sort(got)
			if !slices.Equal(got, ids) {
				t.Fatalf("%s: candidates of apps %v, want %v", what, got, ids)
			}
		}
		want("both active", app.ID, other.ID)
		for _, c := range []struct {
			what   string
			change func(a *model.App)
		}{
			{"disabled", func(a *model.App) { a.Status = model.AppDisabled }},
			{"without read", func(a *model.App) { a.Scopes = "ingest readonly search" }},
		} {
			a := app
			c.change(&a)
			if err := apps.Update(ctx, &app, &a); err != nil {
				t.Fatal(err)
			}
			want(c.what, other.ID)
			if err := apps.Update(ctx, &a, &app); err != nil {
				t.Fatal(err)
			}
			want(c.what+", then restored", app.ID, other.ID)
		}
		if err := apps.Delete(ctx, 1, app.ID); err != nil {
			t.Fatal(err)
		}
		want("deleted", other.ID)
	})
}

// A disabled subscription is no candidate, not even with a redelivery due:
// it receives nothing until it is enabled again.
func TestWebhookCandidatesLeaveRedeliveriesOfADisabledSubscription(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		if err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 1, EventType: "transcript.ready"}, 10); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			t.Helper()
			cands, _, err := w.Candidates(ctx, 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			return len(cands)
		}
		if n := count(); n != 1 {
			t.Fatalf("active with a redelivery due: %d candidates, want 1", n)
		}
		if err := w.SetStatus(ctx, 1, s.ID, model.WebhookDisabled, "disabled by an admin"); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Fatalf("disabled with a redelivery due: %d candidates, want none", n)
		}
	})
}

// setHead makes last the id of the tenant's newest event.
func setHead(t *testing.T, db *gorm.DB, tenantID, last int64) {
	t.Helper()
	if err := db.Exec("DELETE FROM event_seqs WHERE tenant_id = ?", tenantID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("INSERT INTO event_seqs (tenant_id, last_id, trimmed_through, updated_at) VALUES (?, ?, 0, ?)",
		tenantID, last, time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
}

// Candidates are the subscriptions with work, longest waiting first: any
// number of idle subscriptions (one tenant's, older) leave another
// tenant's subscription with work in the list, and subscriptions served
// (recorded with next_attempt_at moved to the round's end, as the
// deliverer does) go behind those still waiting, so more subscriptions
// with work than the list holds all take turns.
func TestWebhookCandidatesHaveWorkAndTakeTurns(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, apps := dao.NewWebhooks(db), dao.NewApps(db)
		newApp := func(tenant int64, name string) int64 {
			a := model.App{TenantID: tenant, Name: name, AppKey: "ak_" + name, SecretHash: "x", Scopes: "read", Status: model.AppActive}
			if err := apps.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			return a.ID
		}
		sub := func(tenant, app, cursor int64) int64 {
			s := model.WebhookSubscription{TenantID: tenant, AppID: app, URL: "https://r.example/h", EventTypes: "transcript.ready",
				SecretSealed: "v1:x", Status: model.WebhookActive, EventCursor: cursor}
			if err := w.Create(ctx, &s, 1000); err != nil {
				t.Fatal(err)
			}
			return s.ID
		}
		idle, busy, late := newApp(1, "idle"), newApp(1, "busy"), newApp(2, "late")
		setHead(t, db, 1, 7)
		setHead(t, db, 2, 3)
		for range 30 {
			sub(1, idle, 7)
		}
		var waiting []int64
		for range 15 {
			waiting = append(waiting, sub(1, busy, 0))
		}
		time.Sleep(5 * time.Millisecond)
		other := sub(2, late, 0)

		ids := func() []int64 {
			t.Helper()
			cands, _, err := w.Candidates(ctx, 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, c := range cands {
				if c.AppID == idle {
					t.Fatalf("an idle subscription is a candidate: %+v", c)
				}
				out = append(out, c.ID)
			}
			return out
		}
		served := map[int64]bool{}
		for turn := 0; len(served) < len(waiting)+1; turn++ {
			if turn == 3 {
				t.Fatalf("after %d turns, served %d of %d subscriptions with work", turn, len(served), len(waiting)+1)
			}
			got := ids()
			if len(got) != 10 {
				t.Fatalf("turn %d: %d candidates, want 10", turn, len(got))
			}
			for _, id := range got {
				owner := "me"
				s, err := w.Claim(ctx, id, owner, time.Minute)
				if err != nil || s == nil {
					t.Fatalf("claim %d: %v %v", id, s, err)
				}
				time.Sleep(2 * time.Millisecond)
				s.NextAttemptAt = time.Now()
				if err := w.Record(ctx, owner, *s, s, nil); err != nil {
					t.Fatal(err)
				}
				if err := w.Release(ctx, id, owner); err != nil {
					t.Fatal(err)
				}
				served[id] = true
			}
		}
		if !served[other] {
			t.Fatal("the other tenant's subscription was never a candidate")
		}
	})
}

// raceUnderCap runs add 8 times at once and counts the adds that passed and
// those refused with reason, each refusal naming the cap (names).
func raceUnderCap(t *testing.T, reason, names string, add func() error) (ok, over int64) {
	t.Helper()
	var oks, overs atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := add(); {
			case err == nil:
				oks.Add(1)
			case errs.Is(err, reason):
				if !strings.Contains(err.Error(), names) {
					t.Errorf("the refusal does not name the cap: %v", err)
				}
				overs.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return oks.Load(), overs.Load()
}

// An app has at most maxPerApp subscriptions, racing creates included;
// another app's subscriptions do not count.
func TestWebhookSubscriptionsPerApp(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, apps := dao.NewWebhooks(db), dao.NewApps(db)
		var ids []int64
		for _, name := range []string{"crm", "pbx"} {
			a := model.App{TenantID: 1, Name: name, AppKey: "ak_" + name, SecretHash: "x", Scopes: "read", Status: model.AppActive}
			if err := apps.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		ok, over := raceUnderCap(t, errs.ReasonSubscriptionQuotaExceeded, "max_subscriptions_per_app = 3", func() error {
			s := model.WebhookSubscription{TenantID: 1, AppID: ids[0], URL: "https://r.example/h", EventTypes: "transcript.ready",
				SecretSealed: "v1:x", Status: model.WebhookActive}
			return w.Create(ctx, &s, 3)
		})
		if ok != 3 || over != 5 {
			t.Fatalf("8 racing creates under a cap of 3: %d created, %d refused", ok, over)
		}
		s := model.WebhookSubscription{TenantID: 1, AppID: ids[1], URL: "https://r.example/h", EventTypes: "transcript.ready",
			SecretSealed: "v1:x", Status: model.WebhookActive}
		if err := w.Create(ctx, &s, 3); err != nil {
			t.Fatalf("another app's first subscription: %v", err)
		}
	})
}

// A subscription has at most maxPending redeliveries pending, racing
// requests included; the refusal names the cap. Deliveries in the
// subscription's order, and redeliveries delivered or failed, do not
// count: once one is delivered, another may be asked for.
func TestWebhookPendingRedeliveriesPerSubscription(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		if err := db.Create(&model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 9, EventType: "transcript.ready",
			Status: model.DeliveryPending, CreatedAt: time.Now(), LastAttemptAt: time.Now(), NextAttemptAt: time.Now()}).Error; err != nil {
			t.Fatal(err)
		}
		redeliver := func() error {
			return w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 1, EventType: "transcript.ready"}, 3)
		}
		if ok, over := raceUnderCap(t, errs.ReasonRedeliveryQuotaExceeded, "max_pending_redeliveries = 3", redeliver); ok != 3 || over != 5 {
			t.Fatalf("8 racing redeliveries under a cap of 3: %d queued, %d refused", ok, over)
		}
		ds, _ := w.Deliveries(ctx, s.ID, model.DeliveryPending, 0, 10)
		if len(ds) != 4 {
			t.Fatalf("%d deliveries pending, want the 3 redeliveries and the one in order", len(ds))
		}
		if err := db.Model(&model.WebhookDelivery{}).Where("id = ?", ds[0].ID).Update("status", model.DeliveryDelivered).Error; err != nil {
			t.Fatal(err)
		}
		if err := redeliver(); err != nil {
			t.Fatalf("a redelivery once one of the 3 was delivered: %v", err)
		}
		if err := redeliver(); !errs.Is(err, errs.ReasonRedeliveryQuotaExceeded) {
			t.Fatalf("a fourth pending redelivery: %v", err)
		}
	})
}

// oneSubscription is an app of tenant 1 with one active subscription.
func oneSubscription(t *testing.T, db *gorm.DB) (*dao.Webhooks, model.WebhookSubscription, model.App) {
	t.Helper()
	ctx := context.Background()
	w := dao.NewWebhooks(db)
	a := model.App{TenantID: 1, Name: "crm", AppKey: "ak_crm", SecretHash: "x", Scopes: "read", Status: model.AppActive}
	if err := dao.NewApps(db).Create(ctx, &a); err != nil {
		t.Fatal(err)
	}
	s := model.WebhookSubscription{TenantID: 1, AppID: a.ID, URL: "https://r.example/h", EventTypes: "transcript.ready",
		SecretSealed: "v1:x", Status: model.WebhookActive}
	if err := w.Create(ctx, &s, 20); err != nil {
		t.Fatal(err)
	}
	return w, s, a
}

// A lease is not renewed once its subscription is disabled or deleted (the
// round stops), and a round recorded after an admin disabled the
// subscription leaves it disabled with the admin's reason.
func TestWebhookRenewStopsAtDisableAndDelete(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, a := oneSubscription(t, db)
		held, err := w.Claim(ctx, s.ID, "me", time.Minute)
		if err != nil || held == nil {
			t.Fatalf("claim: %v %v", held, err)
		}
		if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := w.SetStatus(ctx, 1, s.ID, model.WebhookDisabled, "disabled by an admin"); err != nil {
			t.Fatal(err)
		}
		if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Minute); !errs.IsConflict(err) {
			t.Fatalf("renewing a disabled subscription's lease: %v", err)
		}
		held.EventCursor = 3
		if err := w.Record(ctx, "me", *held, held, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := w.Get(ctx, 1, 0, s.ID); got.Status != model.WebhookDisabled || got.DisabledReason != "disabled by an admin" || got.EventCursor != 3 {
			t.Fatalf("recorded after the admin disabled it: %+v", got)
		}
		if err := w.SetStatus(ctx, 1, s.ID, model.WebhookActive, ""); err != nil {
			t.Fatal(err)
		}
		if err := w.Delete(ctx, 1, a.ID, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Minute); !errs.IsConflict(err) {
			t.Fatalf("renewing a deleted subscription's lease: %v", err)
		}
	})
}

// A lease is not renewed once the subscription's secret is rotated: the
// round signing with the secret it was claimed with stops, and the next
// claim reads the new one.
func TestWebhookRenewStopsAtARotation(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		held, err := w.Claim(ctx, s.ID, "me", time.Minute)
		if err != nil || held == nil {
			t.Fatalf("claim: %v %v", held, err)
		}
		if err := w.Renew(ctx, s.ID, "me", held.SecretSealed, time.Minute); err != nil {
			t.Fatal(err)
		}
		rotated := *held
		rotated.SecretSealed = "sealed-new"
		if err := w.SetSecret(ctx, held.SecretSealed, &rotated); err != nil {
			t.Fatal(err)
		}
		if err := w.Renew(ctx, s.ID, "me", held.SecretSealed, time.Minute); !errs.IsConflict(err) {
			t.Fatalf("renewing the lease of a round signing with the secret rotated away: %v", err)
		}
		if err := w.Renew(ctx, s.ID, "me", "sealed-new", time.Minute); err != nil {
			t.Fatalf("renewing with the new secret: %v", err)
		}
	})
}

// A lease is not renewed once the subscription's app is disabled, loses
// the read scope or is deleted, so a round in progress stops as the
// candidates stop listing the subscription; restored, the app's lease is
// renewed again.
func TestWebhookRenewStopsWhenTheAppMayNoLongerRead(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, app := oneSubscription(t, db)
		apps := dao.NewApps(db)
		if held, err := w.Claim(ctx, s.ID, "me", time.Minute); err != nil || held == nil {
			t.Fatalf("claim: %v %v", held, err)
		}
		for _, c := range []struct {
			what   string
			change func(a *model.App)
		}{
			{"disabled", func(a *model.App) { a.Status = model.AppDisabled }},
			{"without read", func(a *model.App) { a.Scopes = "ingest readonly search" }},
		} {
			a := app
			c.change(&a)
			if err := apps.Update(ctx, &app, &a); err != nil {
				t.Fatal(err)
			}
			if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Minute); !errs.IsConflict(err) {
				t.Fatalf("renewing the lease of an app %s: %v", c.what, err)
			}
			if err := apps.Update(ctx, &a, &app); err != nil {
				t.Fatal(err)
			}
			if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Minute); err != nil {
				t.Fatalf("renewing the lease of an app %s, then restored: %v", c.what, err)
			}
		}
		if err := apps.Delete(ctx, 1, app.ID); err != nil {
			t.Fatal(err)
		}
		if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Minute); !errs.IsConflict(err) {
			t.Fatalf("renewing the lease of a deleted app: %v", err)
		}
	})
}

// A round that fails while an admin enables the subscription (which
// resets its failures) records its cursor and deliveries but not its
// failure state: the subscription stays active with no failures, its
// deliveries stay pending, and the round goes on from that. A round that succeeds while an admin disables
// the subscription leaves it disabled.
func TestWebhookRecordKeepsAnAdminChangeMadeDuringTheRound(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		if err := db.Model(&model.WebhookSubscription{}).Where("id = ?", s.ID).Update("attempts", 3).Error; err != nil {
			t.Fatal(err)
		}
		redo := model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 1, EventType: "transcript.ready"}
		if err := w.AddRedelivery(ctx, &redo, 10); err != nil {
			t.Fatal(err)
		}
		held, err := w.Claim(ctx, s.ID, "me", time.Minute)
		if err != nil || held == nil {
			t.Fatalf("claim: %v %v", held, err)
		}
		read := *held
		// Meanwhile the admin enables it again.
		if err := w.SetStatus(ctx, 1, s.ID, model.WebhookActive, ""); err != nil {
			t.Fatal(err)
		}
		held.EventCursor, held.Attempts = 2, 4
		held.Status, held.DisabledReason = model.WebhookDisabled, "deliveries failed for 24h"
		rows := []model.WebhookDelivery{{TenantID: 1, SubscriptionID: s.ID, EventID: 3, EventType: "transcript.ready",
			Status: model.DeliveryPending, Attempts: 5, LastError: "HTTP 503", LastAttemptAt: time.Now()}}
		if err := w.Record(ctx, "me", read, held, rows); err != nil {
			t.Fatal(err)
		}
		if got, _ := w.Attempted(ctx, s.ID, []int64{3}); len(got) != 1 || got[0].Status != model.DeliveryPending {
			t.Fatalf("the round's delivery, the admin's enable having won: %+v, want pending", got)
		}
		got, _ := w.Get(ctx, 1, 0, s.ID)
		if got.Status != model.WebhookActive || got.Attempts != 0 || got.DisabledReason != "" || got.EventCursor != 2 {
			t.Fatalf("a failed round recorded after the admin enabled it: %+v; want active, no attempts, cursor 2", got)
		}
		if held.Status != model.WebhookActive || held.Attempts != 0 {
			t.Fatalf("the round goes on from %s with %d attempts, want the enabled state", held.Status, held.Attempts)
		}
		if d, _ := w.Delivery(ctx, s.ID, redo.ID); d.Status != model.DeliveryPending {
			t.Fatalf("a redelivery of the subscription enabled meanwhile is %s", d.Status)
		}

		read = *held
		if err := w.SetStatus(ctx, 1, s.ID, model.WebhookDisabled, "disabled by an admin"); err != nil {
			t.Fatal(err)
		}
		held.EventCursor, held.NextAttemptAt = 3, time.Now()
		if err := w.Record(ctx, "me", read, held, nil); err != nil {
			t.Fatal(err)
		}
		got, _ = w.Get(ctx, 1, 0, s.ID)
		if got.Status != model.WebhookDisabled || got.DisabledReason != "disabled by an admin" || got.EventCursor != 3 {
			t.Fatalf("a round recorded after the admin disabled it: %+v", got)
		}
		if held.Status != model.WebhookDisabled {
			t.Fatalf("the round goes on from %s, want disabled", held.Status)
		}
	})
}

// An UPDATE reports the rows it matched on both engines, also those it
// left as they were: leases renewed within the millisecond they were
// taken, which change nothing, were taken for lost on MariaDB.
func TestUpdatesCountMatchedRows(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, a := oneSubscription(t, db)
		res := db.Exec("UPDATE apps SET name = name WHERE id = ?", a.ID)
		if res.Error != nil || res.RowsAffected != 1 {
			t.Fatalf("an UPDATE that changes nothing: %d rows, %v; want 1", res.RowsAffected, res.Error)
		}
		if held, err := w.Claim(ctx, s.ID, "me", time.Hour); err != nil || held == nil {
			t.Fatalf("claim: %v %v", held, err)
		}
		for range 20 { // some within one millisecond
			if err := w.Renew(ctx, s.ID, "me", s.SecretSealed, time.Hour); err != nil {
				t.Fatalf("renewing a held lease: %v", err)
			}
		}
	})
}

// A rotation writes the new secret and the previous one with its grace,
// only while the subscription still has the secret it was read with: a
// rotation stored meanwhile makes a racing one CONFLICT rather than have it
// bring back the secret the other replaced. Another tenant's subscription
// is not found.
func TestWebhookSetSecretIsGuardedByTheSecretRead(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		first := s
		first.SecretSealed, first.OldSecretSealed, first.OldSecretUntil = "v1:first", s.SecretSealed, &until
		if err := w.SetSecret(ctx, s.SecretSealed, &first); err != nil {
			t.Fatal(err)
		}
		racing := s
		racing.SecretSealed, racing.OldSecretSealed, racing.OldSecretUntil = "v1:racing", s.SecretSealed, &until
		if err := w.SetSecret(ctx, s.SecretSealed, &racing); !errs.IsConflict(err) {
			t.Fatalf("a rotation from a secret rotated meanwhile: %v, want CONFLICT", err)
		}
		got, _ := w.Get(ctx, 1, 0, s.ID)
		if got.SecretSealed != "v1:first" || got.OldSecretSealed != s.SecretSealed || got.OldSecretUntil == nil || !got.OldSecretUntil.Equal(until) {
			t.Fatalf("after the rotation: secret %q, old %q until %v", got.SecretSealed, got.OldSecretSealed, got.OldSecretUntil)
		}
		second := *got
		second.SecretSealed, second.OldSecretSealed, second.OldSecretUntil = "v1:second", "", nil
		if err := w.SetSecret(ctx, "v1:first", &second); err != nil {
			t.Fatal(err)
		}
		if got, _ = w.Get(ctx, 1, 0, s.ID); got.SecretSealed != "v1:second" || got.OldSecretSealed != "" || got.OldSecretUntil != nil {
			t.Fatalf("after a rotation without a grace: secret %q, old %q until %v", got.SecretSealed, got.OldSecretSealed, got.OldSecretUntil)
		}
		other := second
		other.TenantID = 9
		if err := w.SetSecret(ctx, "v1:second", &other); !errs.Is(err, errs.ReasonSubscriptionNotFound) {
			t.Fatalf("another tenant's subscription: %v", err)
		}
	})
}

// Redeliveries that cannot be served now (their subscriptions disabled,
// their app disabled) never fill the list: a serveable subscription's
// redelivery, asked for last, is still a candidate however many of them
// wait before it.
func TestWebhookCandidatesAreNotStarvedByRedeliveriesThatWait(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, apps := dao.NewWebhooks(db), dao.NewApps(db)
		app := func(name, status string) int64 {
			a := model.App{TenantID: 1, Name: name, AppKey: "ak_" + name, SecretHash: "x", Scopes: "read", Status: status}
			if err := apps.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			return a.ID
		}
		redeliver := func(appID int64) int64 {
			s := model.WebhookSubscription{TenantID: 1, AppID: appID, URL: "https://r.example/h", EventTypes: "transcript.ready",
				SecretSealed: "v1:x", Status: model.WebhookActive}
			if err := w.Create(ctx, &s, 1000); err != nil {
				t.Fatal(err)
			}
			if err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 1, EventType: "transcript.ready"}, 10); err != nil {
				t.Fatal(err)
			}
			return s.ID
		}
		waiting, off := app("waiting", model.AppActive), app("off", model.AppDisabled)
		for range 6 {
			id := redeliver(waiting)
			if err := w.SetStatus(ctx, 1, id, model.WebhookDisabled, "disabled by an admin"); err != nil {
				t.Fatal(err)
			}
			redeliver(off)
		}
		time.Sleep(5 * time.Millisecond)
		served := redeliver(app("served", model.AppActive))
		cands, redo, err := w.Candidates(ctx, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(cands) != 1 || cands[0].ID != served || !redo[served] {
			t.Fatalf("candidates %+v (redeliveries %v), want only subscription %d with its redelivery", cands, redo, served)
		}
	})
}

// Deleting an app deletes its subscriptions and their delivery logs, and
// nothing of another app's.
func TestAppDeleteTakesItsSubscriptions(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, a := oneSubscription(t, db)
		apps := dao.NewApps(db)
		kept := model.App{TenantID: 1, Name: "kept", AppKey: "ak_kept", SecretHash: "x", Scopes: "read", Status: model.AppActive}
		if err := apps.Create(ctx, &kept); err != nil {
			t.Fatal(err)
		}
		other := model.WebhookSubscription{TenantID: 1, AppID: kept.ID, URL: "https://r.example/k", EventTypes: "transcript.ready",
			SecretSealed: "v1:x", Status: model.WebhookActive}
		if err := w.Create(ctx, &other, 20); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []int64{s.ID, other.ID} {
			if err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: sub, EventID: 1, EventType: "transcript.ready"}, 10); err != nil {
				t.Fatal(err)
			}
		}
		if err := apps.Delete(ctx, 1, a.ID); err != nil {
			t.Fatal(err)
		}
		count := func(table string, sub int64) (n int64) {
			t.Helper()
			col := map[string]string{"webhook_subscriptions": "id", "webhook_deliveries": "subscription_id"}[table]
			if err := db.Table(table).Where(col+" = ?", sub).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n, d := count("webhook_subscriptions", s.ID), count("webhook_deliveries", s.ID); n != 0 || d != 0 {
			t.Fatalf("the deleted app's subscription: %d rows, %d deliveries left", n, d)
		}
		if n, d := count("webhook_subscriptions", other.ID), count("webhook_deliveries", other.ID); n != 1 || d != 1 {
			t.Fatalf("another app's subscription: %d rows, %d deliveries, want 1 and 1", n, d)
		}
		if err := apps.Delete(ctx, 1, a.ID); !errs.Is(err, errs.ReasonAppNotFound) {
			t.Fatalf("deleting it again: %v, want APP_NOT_FOUND", err)
		}
		// Nothing is added under what is gone: a subscription of the
		// deleted app (its token may still work on another instance for
		// a moment), a redelivery of its deleted subscription.
		late := model.WebhookSubscription{TenantID: 1, AppID: a.ID, URL: "https://r.example/late", EventTypes: "transcript.ready",
			SecretSealed: "v1:x", Status: model.WebhookActive}
		if err := w.Create(ctx, &late, 20); !errs.Is(err, errs.ReasonAppNotFound) {
			t.Fatalf("a subscription of the deleted app: %v, want APP_NOT_FOUND", err)
		}
		err := w.AddRedelivery(ctx, &model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: 2, EventType: "transcript.ready"}, 10)
		if !errs.Is(err, errs.ReasonSubscriptionNotFound) {
			t.Fatalf("a redelivery of the deleted subscription: %v, want SUBSCRIPTION_NOT_FOUND", err)
		}
	})
}

// Earlier versions kept the start of a receiver's answer after its status,
// in the delivery log and in the reason of a subscription the deliverer
// disabled; an answer quoting what it refused (here a phone number) was
// personal data the app and the admins read. ClearReasons cuts the reasons
// down to the status (every start), the log's rows read up to the status,
// and an erasure's ClearWebhookAnswers cuts its tenant's rows range of ids
// by range, leaving every other error and every other tenant's rows as
// they were.
func TestWebhookAnswersKeptBeforeAreCutToTheStatus(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, s, _ := oneSubscription(t, db)
		const number = "13912345678"
		reason := "deliveries failed for 24h0m0s (9 attempts) since 2026-12-01T10:00:00Z; last error: HTTP 422: unknown call " + number
		if err := w.SetStatus(ctx, 1, s.ID, model.WebhookDisabled, reason); err != nil {
			t.Fatal(err)
		}
		lastErrors := []string{"HTTP 422: unknown call " + number, "HTTP 503", "timeout: context deadline exceeded",
			"HTTP 500: caller " + number + " not found", "dial tcp: connection refused", "HTTP 409: duplicate " + number}
		for i, e := range lastErrors {
			row := model.WebhookDelivery{TenantID: 1, SubscriptionID: s.ID, EventID: int64(i + 1), EventType: "transcript.ready",
				Status: model.DeliveryFailed, Attempts: 3, LastError: e, CreatedAt: time.Now(), LastAttemptAt: time.Now()}
			if err := db.Create(&row).Error; err != nil {
				t.Fatal(err)
			}
		}
		// Another tenant's row, which an erasure in tenant 1 leaves.
		other := model.WebhookDelivery{TenantID: 2, SubscriptionID: s.ID + 1000, EventID: 1, EventType: "transcript.ready",
			Status: model.DeliveryFailed, Attempts: 3, LastError: "HTTP 400: bad " + number, CreatedAt: time.Now(), LastAttemptAt: time.Now()}
		if err := db.Create(&other).Error; err != nil {
			t.Fatal(err)
		}
		want := []string{"HTTP 422", "HTTP 503", "timeout: context deadline exceeded", "HTTP 500", "dial tcp: connection refused", "HTTP 409"}

		// Read up to the status before any row is cut.
		page, err := w.Deliveries(ctx, s.ID, "", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var read []string
		for _, d := range slices.Backward(page) {
			read = append(read, d.LastError)
		}
		if !slices.Equal(read, want) {
			t.Errorf("deliveries read %q, want %q", read, want)
		}
		if d, err := w.Delivery(ctx, s.ID, page[len(page)-1].ID); err != nil || d.LastError != "HTTP 422" {
			t.Errorf("a delivery read %+v, %v; want its error up to the status", d, err)
		}

		const cutTo = "deliveries failed for 24h0m0s (9 attempts) since 2026-12-01T10:00:00Z; last error: HTTP 422"
		got, err := w.Get(ctx, 1, 0, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		listed, _, err := w.List(ctx, 1, 0, 0, 10)
		if err != nil || len(listed) != 1 {
			t.Fatalf("list: %v %v", listed, err)
		}
		if got.DisabledReason != cutTo || listed[0].DisabledReason != cutTo {
			t.Errorf("disabled reason read as %q and listed as %q before the start's cut, want %q", got.DisabledReason, listed[0].DisabledReason, cutTo)
		}
		if err := w.ClearReasons(ctx); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := db.Model(&model.WebhookSubscription{}).Where("id = ?", s.ID).Pluck("disabled_reason", &stored).Error; err != nil || stored != cutTo {
			t.Errorf("disabled reason stored %q, %v; want %q", stored, err, cutTo)
		}

		// Ranges of 2 ids: the tenant's 6 rows then the other tenant's,
		// which ends the log; three of the tenant's quote an answer.
		p := dao.NewPrivacy(db)
		var after int64
		cut, ranges := 0, 0
		for {
			next, n, err := p.ClearWebhookAnswers(ctx, 1, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			cut += n
			ranges++
			if next == 0 {
				break
			}
			if next != after+2 {
				t.Fatalf("the range after %d went on from %d, want %d", after, next, after+2)
			}
			after = next
		}
		if cut != 3 || ranges != 4 {
			t.Fatalf("%d answers cut in %d ranges, want 3 in 4", cut, ranges)
		}
		if next, n, err := p.ClearWebhookAnswers(ctx, 1, 0, 100); err != nil || n != 0 || next != 0 {
			t.Fatalf("again over the whole log: %d cut, next %d, %v; want none and the end", n, next, err)
		}
		var left []string
		if err := db.Model(&model.WebhookDelivery{}).Where("tenant_id = 1").Order("event_id").Pluck("last_error", &left).Error; err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(left, want) {
			t.Errorf("delivery errors stored %q, want %q", left, want)
		}
		var kept string
		if err := db.Model(&model.WebhookDelivery{}).Where("id = ?", other.ID).Pluck("last_error", &kept).Error; err != nil || kept != other.LastError {
			t.Errorf("the other tenant's delivery holds %q, %v; want it as it was", kept, err)
		}
	})
}
