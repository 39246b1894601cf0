package conversation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

func TestDeleteWhoMay(t *testing.T) {
	db := daotest.Open(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := model.Conversation{TenantID: 7, OriginConversationID: "x", OwnerUserID: 1, Channel: "call", Direction: "unknown",
		Status: "pending", BeginTime: now, CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	var hooked []int64
	d := conversation.NewDeleter(dao.NewConversations(db), dao.NewTransactor(db),
		conversation.DeleteHookFunc(func(_ context.Context, gone []model.Conversation) error {
			for _, g := range gone {
				hooked = append(hooked, g.ID)
			}
			return nil
		}))
	var after []int64
	d.OnDeleted(func(ids []int64) { after = append(after, ids...) })
	reason := func(err error) string {
		var e *errs.Error
		if errors.As(err, &e) {
			return e.Reason
		}
		return ""
	}
	for _, k := range []struct {
		name   string
		ctx    context.Context
		id     int64
		reason string
	}{
		{"anonymous", context.Background(), c.ID, errs.ReasonUnauthenticated},
		{"a rep", accesstest.User(model.RoleRep, 7, 2), c.ID, errs.ReasonPermissionDenied},
		{"a manager", accesstest.User(model.RoleManager, 7, 2), c.ID, errs.ReasonPermissionDenied},
		{"an app without ingest", accesstest.App(7, "read", "search"), c.ID, errs.ReasonPermissionDenied},
		{"another tenant's admin", accesstest.User(model.RoleAdmin, 8, 2), c.ID, errs.ReasonConversationNotFound},
		{"another tenant's app", accesstest.App(8, "ingest"), c.ID, errs.ReasonConversationNotFound},
		{"a bad id", accesstest.User(model.RoleAdmin, 7, 2), 0, errs.ReasonInvalidArgument},
	} {
		if err := d.Delete(k.ctx, k.id); reason(err) != k.reason {
			t.Errorf("%s: %v, want %s", k.name, err, k.reason)
		}
	}
	if len(hooked) != 0 {
		t.Fatalf("refused deletes ran the hooks: %v", hooked)
	}
	if err := d.Delete(accesstest.App(7, "ingest"), c.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(accesstest.User(model.RoleAdmin, 7, 2), c.ID); reason(err) != errs.ReasonConversationNotFound {
		t.Errorf("second delete: %v", err)
	}
	if len(hooked) != 1 || hooked[0] != c.ID || len(after) != 1 || after[0] != c.ID {
		t.Errorf("hooks %v, after commit %v", hooked, after)
	}
}
