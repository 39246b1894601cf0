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

// A comment inserted while a deletion of its conversation has locked the
// conversation but not committed waits for the deletion and is refused:
// no comment outlives its conversation. Without the wait, the insert
// would land after the deletion emptied the comments, and stay.
func TestCommentWaitsForTheDeletionOfItsConversation(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		o := newOrgOn(t, db)
		id := o.create(t, "racing", o.reps[0], time.Now().UTC(), nil)
		convs, comments := dao.NewConversations(db), dao.NewComments(db)
		ctx := context.Background()

		deleting, release := make(chan struct{}), make(chan struct{})
		deleted := make(chan error, 1)
		go func() {
			deleted <- dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
				gone, err := convs.DeleteConversations(ctx, o.tenant, []int64{id})
				close(deleting)
				<-release
				if err == nil && len(gone) != 1 {
					t.Errorf("deleted %d conversations, want 1", len(gone))
				}
				return err
			})
		}()
		<-deleting
		created := make(chan error, 1)
		go func() {
			created <- comments.CreateComment(ctx, &model.Comment{TenantID: o.tenant, ConversationID: id, AuthorUserID: o.admin.ID, Text: "late"})
		}()
		// Given time to run ahead, the insert must still be waiting: a
		// slow machine can only hide a failure here, not make one.
		select {
		case err := <-created:
			t.Fatalf("the comment did not wait for the deletion: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-deleted; err != nil {
			t.Fatalf("delete: %v", err)
		}
		if err := <-created; !errs.Is(err, errs.ReasonConversationNotFound) {
			t.Fatalf("comment on a deleted conversation: %v, want CONVERSATION_NOT_FOUND", err)
		}
		var n int64
		if err := db.Model(&model.Comment{}).Where("conversation_id = ?", id).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("%d comments of the deleted conversation (%v)", n, err)
		}
		// A comment on a conversation that exists is stored.
		other := o.create(t, "kept", o.reps[0], time.Now().UTC(), nil)
		c := &model.Comment{TenantID: o.tenant, ConversationID: other, AuthorUserID: o.admin.ID, Text: "kept"}
		if err := comments.CreateComment(ctx, c); err != nil || c.ID == 0 {
			t.Fatalf("comment on a live conversation: %v (id %d)", err, c.ID)
		}
		// Another tenant's conversation is not found either.
		err := comments.CreateComment(ctx, &model.Comment{TenantID: o.other, ConversationID: other, AuthorUserID: o.stranger.ID, Text: "x"})
		if !errs.Is(err, errs.ReasonConversationNotFound) {
			t.Fatalf("comment under another tenant's conversation: %v", err)
		}
	})
}

// A deleted comment keeps its row (replies keep their place) but not its
// text; anonymising a user deletes every comment they wrote, and no one
// else's.
func TestDeletedCommentsKeepNoText(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		o := newOrgOn(t, db)
		id := o.create(t, "commented", o.reps[0], time.Now().UTC(), nil)
		comments := dao.NewComments(db)
		ctx := context.Background()
		write := func(author int64, text string) int64 {
			t.Helper()
			c := model.Comment{TenantID: o.tenant, ConversationID: id, AuthorUserID: author, Text: text}
			if err := comments.CreateComment(ctx, &c); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		text := func(id int64) (string, bool) {
			t.Helper()
			var c model.Comment
			if err := db.First(&c, id).Error; err != nil {
				t.Fatal(err)
			}
			return c.Text, c.DeletedAt != nil
		}
		gone := write(o.admin.ID, "call me on 13800000002")
		if err := comments.DeleteComment(ctx, o.tenant, gone); err != nil {
			t.Fatal(err)
		}
		if got, deleted := text(gone); got != "" || !deleted {
			t.Fatalf("a deleted comment: text %q, deleted %v", got, deleted)
		}
		mine, theirs := write(o.reps[0].ID, "my words"), write(o.admin.ID, "the admin's words")
		if err := dao.NewPrivacy(db).AnonymiseUser(ctx, o.tenant, o.reps[0].ID); err != nil {
			t.Fatal(err)
		}
		if got, deleted := text(mine); got != "" || !deleted {
			t.Fatalf("an anonymised user's comment: text %q, deleted %v", got, deleted)
		}
		if got, deleted := text(theirs); got != "the admin's words" || deleted {
			t.Fatalf("another user's comment: text %q, deleted %v", got, deleted)
		}
	})
}

// An erasure anonymising one author's comments, not committed yet, locks
// those comments only: another author's comment in the same tenant and
// conversation is edited meanwhile without waiting. Without an index on
// the author the UPDATE scans, and on MySQL locks, every comment of the
// tenant, and the edit waits for the erasure's commit.
func TestAnonymisingAnAuthorLocksOnlyTheirCommentsOnMariaDB(t *testing.T) {
	db := daotest.OpenMariaDB(t)
	const tenant, conv, erased, other = 7, 1 << 40, 11, 12
	now := time.Now().UTC()
	comments := make([]model.Comment, 0, 300)
	for i := range 300 {
		author := int64(100 + i%50)
		switch i {
		case 5, 150:
			author = erased
		case 200:
			author = other
		}
		comments = append(comments, model.Comment{TenantID: tenant, ConversationID: conv, AuthorUserID: author, StartMS: int64(i), Text: "words", CreatedAt: now})
	}
	if err := db.Create(&comments).Error; err != nil {
		t.Fatal(err)
	}
	commit := holdOpen(t, db, func(ctx context.Context) error {
		return dao.NewPrivacy(db).AnonymiseUser(ctx, tenant, erased)
	})
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET SESSION innodb_lock_wait_timeout = 2").Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE comments SET text = 'edited' WHERE id = ?", comments[200].ID).Error
	})
	if err != nil {
		t.Fatalf("editing another author's comment during an erasure: %v", err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
}
