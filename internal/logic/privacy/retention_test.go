package privacy_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

// TestRetentionChangeOverConfirmOverNeedsItsCount: turning retention on,
// or shortening it, so that more than confirm_over conversations are due
// changes nothing until the admin confirms at least that number.
// Lengthening it, turning it off, or a change with few due needs nothing.
func TestRetentionChangeOverConfirmOverNeedsItsCount(t *testing.T) {
	db := daotest.Open(t)
	tenant, _ := guestCalls(t, db, "Guest", 0) // one call, begun now
	now := time.Now().UTC()
	for i := range 4 {
		c := model.Conversation{TenantID: tenant, OriginConversationID: fmt.Sprint("old", i), OwnerUserID: 1, Channel: "call",
			Direction: "unknown", Status: "pending", BeginTime: now.AddDate(0, 0, -40-i), CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
	}
	settings := privacy.NewTenantSettings(dao.NewRetention(db), 3)
	admin := accesstest.User(model.RoleAdmin, tenant, 1)
	put := func(days int, confirm int64) (privacy.Settings, error) {
		return settings.Put(admin, privacy.SettingsChange{Settings: privacy.Settings{RetentionDays: days}, ConfirmDeletions: confirm})
	}
	current := func() int {
		s, err := settings.Get(admin)
		if err != nil {
			t.Fatal(err)
		}
		return s.RetentionDays
	}

	for _, confirm := range []int64{0, 3} {
		_, err := put(30, confirm)
		e := errs.From(err)
		if e == nil || e.Reason != errs.ReasonRetentionConfirmationRequired || e.Metadata["conversations_due"] != "4" || !strings.Contains(e.Message, "confirm_deletions 4") {
			t.Fatalf("confirming %d of 4: %v", confirm, err)
		}
		if d := current(); d != 0 {
			t.Fatalf("a refused change set retention_days %d", d)
		}
	}
	if _, err := put(30, -1); errs.ReasonOf(err) != errs.ReasonInvalidArgument {
		t.Fatalf("confirm_deletions -1: %v", err)
	}
	if _, err := put(30, 4); err != nil {
		t.Fatalf("confirming the 4 due: %v", err)
	}
	// Longer: nothing newly due. Shorter, with four due: confirm again.
	if _, err := put(100, 0); err != nil {
		t.Fatalf("lengthening: %v", err)
	}
	if _, err := put(35, 0); errs.ReasonOf(err) != errs.ReasonRetentionConfirmationRequired {
		t.Fatalf("shortening to 35 days with 4 due: %v", err)
	}
	// Confirming more than is due is confirming them all.
	if _, err := put(35, 10); err != nil || current() != 35 {
		t.Fatalf("confirming 10 of 4: %v (retention %d)", err, current())
	}
	if _, err := put(0, 0); err != nil {
		t.Fatalf("turning retention off: %v", err)
	}
	// Three due (42 days and older): not over confirm_over.
	if _, err := put(41, 0); err != nil || current() != 41 {
		t.Fatalf("three due: %v (retention %d)", err, current())
	}
}

// hookedPurger is the conversation deleter with a hook on a purge.
type hookedPurger struct {
	privacy.Purger
	// beforePurge runs once, at the next purge: what happens while a
	// retention run deletes.
	beforePurge atomic.Pointer[func()]
}

func (p *hookedPurger) Purge(ctx context.Context, tenantID int64, ids []int64) ([]int64, error) {
	if f := p.beforePurge.Swap(nil); f != nil {
		(*f)()
	}
	return p.Purger.Purge(ctx, tenantID, ids)
}

// aged writes a conversation of the tenant that began days ago.
func aged(t *testing.T, db *gorm.DB, tenant int64, days int) {
	t.Helper()
	now := time.Now().UTC()
	c := model.Conversation{TenantID: tenant, OriginConversationID: fmt.Sprint("aged", days), OwnerUserID: 1, Channel: "call",
		Direction: "unknown", Status: "pending", BeginTime: now.AddDate(0, 0, -days), CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
}

// racingRetention is the retention store with a hook after a run lists a
// batch of expired conversations, before it deletes them.
type racingRetention struct {
	*dao.Retention
	afterExpired atomic.Pointer[func()]
}

func (r *racingRetention) ExpiredConversations(ctx context.Context, tenantID int64, cutoff time.Time, limit int) ([]int64, error) {
	ids, err := r.Retention.ExpiredConversations(ctx, tenantID, cutoff, limit)
	if f := r.afterExpired.Swap(nil); f != nil {
		(*f)()
	}
	return ids, err
}

// retentionRace is a tenant with retention 30 days and conversations of the
// ages given, and a retainer deleting one conversation per batch.
type retentionRace struct {
	tenant   int64
	repo     *racingRetention
	purger   *hookedPurger
	retainer *privacy.Retainer
	settings *privacy.TenantSettings
}

func newRetentionRace(t *testing.T, db *gorm.DB, ages ...int) retentionRace {
	t.Helper()
	tenant, _ := guestCalls(t, db, "Guest", 0)
	for _, age := range ages {
		aged(t, db, tenant, age)
	}
	repo := &racingRetention{Retention: dao.NewRetention(db)}
	if err := repo.SetRetentionDays(context.Background(), tenant, 0, 30); err != nil {
		t.Fatal(err)
	}
	purger := &hookedPurger{Purger: conversation.NewDeleter(dao.NewConversations(db), dao.NewTransactor(db))}
	return retentionRace{tenant: tenant, repo: repo, purger: purger,
		retainer: privacy.NewRetainer(repo, purger, dao.NewTransactor(db), privacy.RetainerOptions{Batch: 1, Lease: time.Minute}, zerolog.Nop()),
		settings: privacy.NewTenantSettings(repo, 1000)}
}

// set changes the retention as the tenant's admin would.
func (r retentionRace) set(days int) error {
	admin := accesstest.User(model.RoleAdmin, r.tenant, 1)
	_, err := r.settings.Put(admin, privacy.SettingsChange{Settings: privacy.Settings{RetentionDays: days}})
	return err
}

// An admin who shortens the retention while a run deletes by the old one
// makes the tenant due at once: the run stops before its next batch, its
// end does not count as the run of the day, and the next poll deletes by
// the new retention.
func TestRetentionShortenedDuringARunIsDueAtOnce(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		race := newRetentionRace(t, db, 40, 20)
		meanwhile := func() {
			if err := race.set(10); err != nil {
				t.Error(err)
			}
		}
		race.repo.afterExpired.Store(&meanwhile)
		if n, err := race.retainer.RunOnce(ctx); n != 0 || err != nil {
			t.Fatalf("the run during the change deleted %d: %v; want none, its setting gone", n, err)
		}
		if n, err := race.retainer.RunOnce(ctx); n != 2 || err != nil {
			t.Fatalf("the next poll deleted %d: %v; want both, past the 10 days set meanwhile", n, err)
		}
	})
}

// An admin who lengthens the retention, or turns it off, after a run
// listed a batch by the old one, and before it deleted it, stops the run
// there: nothing the new retention keeps is deleted, not even that batch.
func TestRetentionLengthenedDuringARunStopsIt(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, days := range []int{60, 0} {
			ctx := context.Background()
			race := newRetentionRace(t, db, 40, 41, 42)
			meanwhile := func() {
				if err := race.set(days); err != nil {
					t.Error(err)
				}
			}
			race.repo.afterExpired.Store(&meanwhile)
			if n, err := race.retainer.RunOnce(ctx); n != 0 || err != nil {
				t.Fatalf("retention 30 → %d after the run listed its batch: it deleted %d (%v); want none", days, n, err)
			}
			if n, err := race.retainer.RunOnce(ctx); n != 0 || err != nil {
				t.Fatalf("retention %d: the next poll deleted %d (%v); want none", days, n, err)
			}
		}
	})
}

// A change made while a batch is being deleted waits for that batch to
// commit, then stops the run: the batch was deleted under the setting
// the run read, and nothing after it.
func TestRetentionChangedWhileABatchIsDeletedWaitsForIt(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		race := newRetentionRace(t, db, 40, 41, 42)
		changed := make(chan error, 1)
		meanwhile := func() {
			go func() { changed <- race.set(0) }()
			select {
			case err := <-changed:
				t.Errorf("the change went through while the batch was being deleted (%v); want it to wait", err)
				changed <- err
			case <-time.After(300 * time.Millisecond):
			}
		}
		race.purger.beforePurge.Store(&meanwhile)
		// InnoDB queues the run's next hold behind the waiting change;
		// SQLite's busy waiting is not first come, first served, so there
		// the run may take more batches before the change gets its turn.
		if n, err := race.retainer.RunOnce(ctx); n < 1 || (db.Name() == "mysql" && n != 1) || err != nil {
			t.Fatalf("the run deleted %d (%v); want the batch under way only", n, err)
		}
		if err := <-changed; err != nil {
			t.Fatalf("the change, once the batch committed: %v", err)
		}
		if n, err := race.retainer.RunOnce(ctx); n != 0 || err != nil {
			t.Fatalf("retention off: the next poll deleted %d (%v)", n, err)
		}
	})
}

// hookedRetention is the retention store with a hook after a read of the
// setting.
type hookedRetention struct {
	*dao.Retention
	// afterRead runs once, after the next read of a tenant's retention:
	// what another admin stores between a change's read and its write.
	afterRead atomic.Pointer[func()]
}

func (r *hookedRetention) RetentionDays(ctx context.Context, tenantID int64) (int, error) {
	days, err := r.Retention.RetentionDays(ctx, tenantID)
	if f := r.afterRead.Swap(nil); f != nil {
		(*f)()
	}
	return days, err
}

// A change judged a lengthening of the retention as read (no confirmation
// needed) while another admin lengthens it further is CONFLICT: written,
// it would shorten the retention set meanwhile, deleting conversations
// nobody confirmed.
func TestRetentionChangeJudgedOnAnOlderSettingIsAConflict(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		tenant, _ := guestCalls(t, db, "Guest", 0)
		for _, age := range []int{40, 41, 42, 43} {
			aged(t, db, tenant, age)
		}
		repo := &hookedRetention{Retention: dao.NewRetention(db)}
		if err := repo.SetRetentionDays(ctx, tenant, 0, 20); err != nil {
			t.Fatal(err)
		}
		settings := privacy.NewTenantSettings(repo, 3)
		admin := accesstest.User(model.RoleAdmin, tenant, 1)
		put := func(days int) error {
			_, err := settings.Put(admin, privacy.SettingsChange{Settings: privacy.Settings{RetentionDays: days}})
			return err
		}
		meanwhile := func() {
			if err := put(365); err != nil {
				t.Error(err)
			}
		}
		repo.afterRead.Store(&meanwhile)
		if err := put(30); errs.ReasonOf(err) != errs.ReasonConflict {
			t.Fatalf("20 → 30 days while another admin set 365: %v; want CONFLICT", err)
		}
		if days, _ := repo.RetentionDays(ctx, tenant); days != 365 {
			t.Fatalf("retention %d days, want the 365 set meanwhile", days)
		}
		if err := put(30); errs.ReasonOf(err) != errs.ReasonRetentionConfirmationRequired {
			t.Fatalf("365 → 30 days with 4 due, sent again: %v; want a confirmation asked", err)
		}
	})
}
