package dao_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// The tenant's last active admin cannot be erased: anonymising would
// disable them. With a second active admin, either may be.
func TestErasureKeepsAnAdmin(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		users, p := dao.NewUsers(db), dao.NewPrivacy(db)
		admin := model.User{TenantID: 3, Name: "only admin", Role: model.RoleAdmin, Status: model.UserActive}
		if err := users.Create(ctx, &admin); err != nil {
			t.Fatal(err)
		}
		if err := p.AnonymiseUser(ctx, 3, admin.ID); !errs.Is(err, errs.ReasonLastAdmin) {
			t.Fatalf("erasing the last admin: %v, want LAST_ADMIN", err)
		}
		if u, err := users.ByID(ctx, 3, admin.ID); err != nil || u.Status != model.UserActive || u.Name != "only admin" {
			t.Fatalf("the last admin after a refused erasure: %+v %v", u, err)
		}
		second := model.User{TenantID: 3, Name: "second admin", Role: model.RoleAdmin, Status: model.UserActive}
		if err := users.Create(ctx, &second); err != nil {
			t.Fatal(err)
		}
		if err := p.AnonymiseUser(ctx, 3, admin.ID); err != nil {
			t.Fatalf("erasing one of two admins: %v", err)
		}
		if err := p.KeepAnAdmin(ctx, 3, second.ID); !errs.Is(err, errs.ReasonLastAdmin) {
			t.Fatalf("the remaining admin: %v, want LAST_ADMIN", err)
		}
	})
}

// A removal from the search index is pending while a search job of the
// tenant, up to the mark, is for a conversation deleted: not while the
// job is another tenant's, of another kind, for a conversation that
// exists (a re-index), or past the mark; not once the indexer took it.
func TestIndexRemovalPending(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p, convs, outbox := dao.NewPrivacy(db), dao.NewConversations(db), dao.NewSearchOutbox(db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		var ids []int64
		for i, tenant := range []int64{7, 7, 8} {
			c := model.Conversation{TenantID: tenant, OriginConversationID: string(rune('a' + i)), OwnerUserID: 1, Channel: "call",
				Direction: "unknown", Status: "pending", BeginTime: now, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&c).Error; err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		pending := func(tenant, mark int64) bool {
			t.Helper()
			ok, err := p.IndexRemovalPending(ctx, tenant, mark)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		mark, err := p.OutboxMark(ctx)
		if err != nil || mark != 0 {
			t.Fatalf("mark of an empty outbox: %d %v", mark, err)
		}

		// A re-index of a conversation that exists, and a tracker job
		// naming one that does not: nothing to remove.
		add := func(tenant int64, kind string, conv int64) {
			t.Helper()
			if err := db.Create(&model.OutboxJob{TenantID: tenant, Kind: kind, ConversationID: conv, NextAttemptAt: now, CreatedAt: now}).Error; err != nil {
				t.Fatal(err)
			}
		}
		add(7, model.OutboxConversation, ids[0])
		add(7, model.OutboxTrackerApply, 424242)
		if mark, _ = p.OutboxMark(ctx); mark == 0 || pending(7, mark) {
			t.Fatalf("pending at mark %d with nothing deleted", mark)
		}

		// Deleting conversations queues their removal: pending for their
		// tenant up to a mark taken after it, not for another tenant.
		before := mark
		if gone, err := convs.DeleteConversations(ctx, 7, ids[1:2]); err != nil || len(gone) != 1 {
			t.Fatalf("delete: %v %v", gone, err)
		}
		if gone, err := convs.DeleteConversations(ctx, 8, ids[2:3]); err != nil || len(gone) != 1 {
			t.Fatalf("delete: %v %v", gone, err)
		}
		mark, err = p.OutboxMark(ctx)
		if err != nil || mark <= before {
			t.Fatalf("mark after the deletions: %d (before %d) %v", mark, before, err)
		}
		if !pending(7, mark) || !pending(8, mark) {
			t.Fatal("a deletion's removal is not pending")
		}
		if pending(7, before) || pending(9, mark) {
			t.Fatal("pending past the mark, or for a tenant that deleted nothing")
		}
		// A transcript job of the deleted conversation removes it too.
		add(7, model.OutboxTranscript, ids[1])

		// The indexer takes every search job (the engine removed the
		// documents): nothing is pending any more.
		jobs, err := outbox.Claim(ctx, 100, time.Minute)
		if err != nil || len(jobs) != 4 {
			t.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		if !pending(7, mark+1) {
			t.Fatal("a removal claimed but not done is not pending")
		}
		if lost, err := outbox.Done(ctx, jobs); err != nil || lost != 0 {
			t.Fatalf("done: %d lost, %v", lost, err)
		}
		if pending(7, mark+1) || pending(8, mark+1) {
			t.Fatal("pending after the indexer removed the documents")
		}
	})
}
