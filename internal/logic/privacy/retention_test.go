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

// An admin who shortens the retention while a run deletes by the old one
// makes the tenant due at once: the run's end does not count as the run of
// the day, and the next poll deletes by the new retention.
func TestRetentionShortenedDuringARunIsDueAtOnce(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		tenant, _ := guestCalls(t, db, "Guest", 0)
		aged(t, db, tenant, 40)
		aged(t, db, tenant, 20)
		repo := dao.NewRetention(db)
		if err := repo.SetRetentionDays(ctx, tenant, 0, 30); err != nil {
			t.Fatal(err)
		}
		settings := privacy.NewTenantSettings(repo, 1000)
		purger := &hookedPurger{Purger: conversation.NewDeleter(dao.NewConversations(db), dao.NewTransactor(db))}
		r := privacy.NewRetainer(repo, purger, privacy.RetainerOptions{Batch: 1, Lease: time.Minute}, zerolog.Nop())
		meanwhile := func() {
			admin := accesstest.User(model.RoleAdmin, tenant, 1)
			if _, err := settings.Put(admin, privacy.SettingsChange{Settings: privacy.Settings{RetentionDays: 10}}); err != nil {
				t.Error(err)
			}
		}
		purger.beforePurge.Store(&meanwhile)
		if n, err := r.RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("the run during the change deleted %d: %v; want the one past 30 days", n, err)
		}
		if n, err := r.RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("the next poll deleted %d: %v; want the one past the 10 days set meanwhile", n, err)
		}
	})
}

// An admin who lengthens the retention, or turns it off, while a run
// deletes by the old one stops the run at its next batch: what the old
// retention would have deleted and the new one keeps stays.
func TestRetentionLengthenedDuringARunStopsIt(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, days := range []int{60, 0} {
			ctx := context.Background()
			tenant, _ := guestCalls(t, db, "Guest", 0)
			for _, age := range []int{40, 41, 42} {
				aged(t, db, tenant, age)
			}
			repo := dao.NewRetention(db)
			if err := repo.SetRetentionDays(ctx, tenant, 0, 30); err != nil {
				t.Fatal(err)
			}
			settings := privacy.NewTenantSettings(repo, 1000)
			purger := &hookedPurger{Purger: conversation.NewDeleter(dao.NewConversations(db), dao.NewTransactor(db))}
			r := privacy.NewRetainer(repo, purger, privacy.RetainerOptions{Batch: 1, Lease: time.Minute}, zerolog.Nop())
			meanwhile := func() {
				admin := accesstest.User(model.RoleAdmin, tenant, 1)
				if _, err := settings.Put(admin, privacy.SettingsChange{Settings: privacy.Settings{RetentionDays: days}}); err != nil {
					t.Error(err)
				}
			}
			purger.beforePurge.Store(&meanwhile)
			if n, err := r.RunOnce(ctx); n != 1 || err != nil {
				t.Fatalf("retention 30 → %d during the run: it deleted %d (%v); want only the batch under way", days, n, err)
			}
			if n, err := r.RunOnce(ctx); n != 0 || err != nil {
				t.Fatalf("retention %d: the next poll deleted %d (%v); want none", days, n, err)
			}
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
