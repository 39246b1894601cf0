package conversation_test

import (
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// newComments serves comments from an embedded database holding tenant 1
// with reps 1 and 2 and admin 10, and conversations 1 (owner 1, 60 s) and
// 2 (owner 2, duration unknown).
func newComments(t *testing.T) *conversation.Comments {
	return conversation.NewComments(dao.NewComments(commentsDB(t)))
}

// commentsDB is the database of newComments.
func commentsDB(t *testing.T) *gorm.DB {
	db := daotest.Open(t)
	now := time.Now().UTC()
	rows := []any{
		&model.Tenant{ID: 1, Name: "T", Timezone: "UTC", RateTier: "standard", CreatedAt: now, UpdatedAt: now},
		&model.User{ID: 1, TenantID: 1, Name: "rep1", Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now},
		&model.User{ID: 2, TenantID: 1, Name: "rep2", Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now},
		&model.User{ID: 10, TenantID: 1, Name: "admin", Role: model.RoleAdmin, Status: model.UserActive, CreatedAt: now, UpdatedAt: now},
		&model.Conversation{ID: 1, TenantID: 1, OriginConversationID: "c-1", OwnerUserID: 1, BeginTime: now, DurationMS: 60_000, CreatedAt: now, UpdatedAt: now},
		&model.Conversation{ID: 2, TenantID: 1, OriginConversationID: "c-2", OwnerUserID: 2, BeginTime: now, CreatedAt: now, UpdatedAt: now},
	}
	for _, r := range rows {
		if err := db.Create(r).Error; err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestComments(t *testing.T) {
	cs := newComments(t)
	rep1, rep2, admin := accesstest.User(model.RoleRep, 1, 1), accesstest.User(model.RoleRep, 1, 2), accesstest.User(model.RoleAdmin, 1, 10)

	// Added out of call order; listed by start_ms, then id.
	var ids []int64
	for _, ms := range []int64{30_000, 1_000, 30_000} {
		c, err := cs.Create(rep1, conversation.CreateCommentRequest{ConversationID: 1, StartMS: ms, Text: " good question "})
		if err != nil || c.Text != "good question" || c.AuthorUserID != 1 || c.AuthorName != "rep1" {
			t.Fatalf("create: %+v %v", c, err)
		}
		ids = append(ids, c.ID)
	}
	page, err := cs.List(rep1, conversation.ListCommentsRequest{ConversationID: 1, PageSize: 2})
	if err != nil || page.Total != 3 || len(page.Comments) != 2 || page.Comments[0].ID != ids[1] || page.Comments[1].ID != ids[0] || page.NextPageToken == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = cs.List(rep1, conversation.ListCommentsRequest{ConversationID: 1, PageSize: 2, PageToken: page.NextPageToken})
	if err != nil || len(page.Comments) != 1 || page.Comments[0].ID != ids[2] || page.NextPageToken != "" {
		t.Fatalf("page 2: %+v %v", page, err)
	}

	reply := ids[0]
	if _, err := cs.Create(rep1, conversation.CreateCommentRequest{ConversationID: 1, Text: "re", ReplyTo: &reply}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	otherConv, err := cs.Create(rep2, conversation.CreateCommentRequest{ConversationID: 2, StartMS: 99_999_999, Text: "no duration known"})
	if err != nil {
		t.Fatalf("comment on conversation 2: %v", err)
	}

	bad := map[string]conversation.CreateCommentRequest{
		"text":     {ConversationID: 1, Text: "  "},
		"start_ms": {ConversationID: 1, Text: "x", StartMS: -1},
		"reply_to": {ConversationID: 1, Text: "x", ReplyTo: &otherConv.ID},
	}
	bad["text "] = conversation.CreateCommentRequest{ConversationID: 1, Text: strings.Repeat("字", 2001)}
	bad["start_ms "] = conversation.CreateCommentRequest{ConversationID: 1, Text: "x", StartMS: 60_001}
	bad["text  "] = conversation.CreateCommentRequest{ConversationID: 1, Text: "nul\x00byte"}
	bad["text   "] = conversation.CreateCommentRequest{ConversationID: 1, Text: "\x1b[2Jescape"}
	for name, req := range bad {
		_, err := cs.Create(admin, req)
		if e := errs.From(err); e == nil || e.Metadata["field"] != strings.TrimSpace(name) {
			t.Errorf("%s: want INVALID_ARGUMENT on it, got %v", name, err)
		}
	}
	if _, err := cs.Create(admin, conversation.CreateCommentRequest{ConversationID: 1, Text: strings.Repeat("字", 2000)}); err != nil {
		t.Errorf("2000 characters: %v", err)
	}
	if c, err := cs.Create(rep2, conversation.CreateCommentRequest{ConversationID: 2, Text: "第一行\n\tsecond line"}); err != nil || c.Text != "第一行\n\tsecond line" {
		t.Errorf("multi-line comment: %+v %v", c, err)
	}

	// Scope: rep2 cannot see conversation 1, nor its comments.
	if _, err := cs.List(rep2, conversation.ListCommentsRequest{ConversationID: 1}); errs.ReasonOf(err) != errs.ReasonConversationNotFound {
		t.Errorf("rep2 lists conversation 1: %v", err)
	}
	if _, err := cs.Create(rep2, conversation.CreateCommentRequest{ConversationID: 1, Text: "x"}); errs.ReasonOf(err) != errs.ReasonConversationNotFound {
		t.Errorf("rep2 comments conversation 1: %v", err)
	}
	if err := cs.Delete(rep2, ids[0]); errs.ReasonOf(err) != errs.ReasonCommentNotFound {
		t.Errorf("rep2 deletes on conversation 1: %v", err)
	}
	// Apps do not comment; another user in scope may not delete; the
	// author and an admin may.
	if _, err := cs.Create(accesstest.App(1, "read"), conversation.CreateCommentRequest{ConversationID: 1, Text: "x"}); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
		t.Errorf("app comments: %v", err)
	}
	adminComment, _ := cs.Create(admin, conversation.CreateCommentRequest{ConversationID: 1, Text: "from admin"})
	if err := cs.Delete(rep1, adminComment.ID); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
		t.Errorf("rep1 deletes the admin's comment: %v", err)
	}
	if err := cs.Delete(rep1, ids[0]); err != nil {
		t.Errorf("author deletes: %v", err)
	}
	if err := cs.Delete(admin, ids[1]); err != nil {
		t.Errorf("admin deletes: %v", err)
	}
	if err := cs.Delete(admin, ids[1]); errs.ReasonOf(err) != errs.ReasonCommentNotFound {
		t.Errorf("second delete: %v", err)
	}
	if page, _ := cs.List(admin, conversation.ListCommentsRequest{ConversationID: 1}); page.Total != 4 {
		t.Errorf("after deletes: %+v", page)
	}
}
