package privacy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
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
