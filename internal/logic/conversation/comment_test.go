package conversation

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/model"
)

// memComments is an in-memory CommentRepo over conversations 1 (owner 1,
// 60 s) and 2 (owner 2, duration unknown) of tenant 1. Scope: admins see
// both, anyone else only the conversations they own.
type memComments struct {
	rows []model.CommentWithAuthor
}

func (m *memComments) visible(s model.Scope, conversationID int64) bool {
	owner := map[int64]int64{1: 1, 2: 2}[conversationID]
	return s.TenantID == 1 && owner != 0 && (s.WholeTenant() || owner == s.UserID)
}

func (m *memComments) ScopedConversation(_ context.Context, s model.Scope, id int64) (*model.Conversation, error) {
	if !m.visible(s, id) {
		return nil, errs.NotFound("CONVERSATION_NOT_FOUND", "no such conversation")
	}
	return &model.Conversation{ID: id, TenantID: 1, DurationMS: map[int64]int64{1: 60_000}[id]}, nil
}

func (m *memComments) ListComments(_ context.Context, _, conversationID int64, after *model.CommentCursor, limit int) ([]model.CommentWithAuthor, int64, error) {
	var out []model.CommentWithAuthor
	var total int64
	sorted := slices.Clone(m.rows)
	slices.SortFunc(sorted, func(a, b model.CommentWithAuthor) int {
		return cmp.Or(cmp.Compare(a.StartMS, b.StartMS), cmp.Compare(a.ID, b.ID))
	})
	for _, c := range sorted {
		if c.ConversationID != conversationID || c.DeletedAt != nil {
			continue
		}
		total++
		if after != nil && (c.StartMS < after.StartMS || (c.StartMS == after.StartMS && c.ID <= after.ID)) {
			continue
		}
		if len(out) < limit {
			out = append(out, c)
		}
	}
	return out, total, nil
}

func (m *memComments) GetComment(_ context.Context, s model.Scope, id int64) (*model.CommentWithAuthor, error) {
	for i := range m.rows {
		if c := &m.rows[i]; c.ID == id && c.DeletedAt == nil && m.visible(s, c.ConversationID) {
			return c, nil
		}
	}
	return nil, errs.NotFound("COMMENT_NOT_FOUND", "no such comment")
}

func (m *memComments) CreateComment(_ context.Context, c *model.Comment) error {
	c.ID = int64(len(m.rows) + 1)
	m.rows = append(m.rows, model.CommentWithAuthor{Comment: *c, AuthorName: "someone"})
	return nil
}

func (m *memComments) DeleteComment(_ context.Context, _, id int64) error {
	m.rows[id-1].DeletedAt = &m.rows[id-1].CreatedAt
	return nil
}

func TestComments(t *testing.T) {
	repo := &memComments{}
	cs := NewComments(repo)
	rep1, rep2, admin := accesstest.User(model.RoleRep, 1, 1), accesstest.User(model.RoleRep, 1, 2), accesstest.User(model.RoleAdmin, 1, 10)

	// Added out of call order; listed by start_ms, then id.
	var ids []int64
	for _, ms := range []int64{30_000, 1_000, 30_000} {
		c, err := cs.Create(rep1, CreateCommentRequest{ConversationID: 1, StartMS: ms, Text: " good question "})
		if err != nil || c.Text != "good question" || c.AuthorUserID != 1 {
			t.Fatalf("create: %+v %v", c, err)
		}
		ids = append(ids, c.ID)
	}
	page, err := cs.List(rep1, ListCommentsRequest{ConversationID: 1, PageSize: 2})
	if err != nil || page.Total != 3 || len(page.Comments) != 2 || page.Comments[0].ID != ids[1] || page.Comments[1].ID != ids[0] || page.NextPageToken == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = cs.List(rep1, ListCommentsRequest{ConversationID: 1, PageSize: 2, PageToken: page.NextPageToken})
	if err != nil || len(page.Comments) != 1 || page.Comments[0].ID != ids[2] || page.NextPageToken != "" {
		t.Fatalf("page 2: %+v %v", page, err)
	}

	reply := ids[0]
	if _, err := cs.Create(rep1, CreateCommentRequest{ConversationID: 1, Text: "re", ReplyTo: &reply}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	otherConv, err := cs.Create(rep2, CreateCommentRequest{ConversationID: 2, StartMS: 99_999_999, Text: "no duration known"})
	if err != nil {
		t.Fatalf("comment on conversation 2: %v", err)
	}

	bad := map[string]CreateCommentRequest{
		"text":     {ConversationID: 1, Text: "  "},
		"start_ms": {ConversationID: 1, Text: "x", StartMS: -1},
		"reply_to": {ConversationID: 1, Text: "x", ReplyTo: &otherConv.ID},
	}
	bad["text "] = CreateCommentRequest{ConversationID: 1, Text: strings.Repeat("字", 2001)}
	bad["start_ms "] = CreateCommentRequest{ConversationID: 1, Text: "x", StartMS: 60_001}
	for name, req := range bad {
		_, err := cs.Create(admin, req)
		if e := errs.From(err); e == nil || e.Metadata["field"] != strings.TrimSpace(name) {
			t.Errorf("%s: want INVALID_ARGUMENT on it, got %v", name, err)
		}
	}
	if _, err := cs.Create(admin, CreateCommentRequest{ConversationID: 1, Text: strings.Repeat("字", 2000)}); err != nil {
		t.Errorf("2000 characters: %v", err)
	}

	// Scope: rep2 cannot see conversation 1, nor its comments.
	if _, err := cs.List(rep2, ListCommentsRequest{ConversationID: 1}); errs.ReasonOf(err) != "CONVERSATION_NOT_FOUND" {
		t.Errorf("rep2 lists conversation 1: %v", err)
	}
	if _, err := cs.Create(rep2, CreateCommentRequest{ConversationID: 1, Text: "x"}); errs.ReasonOf(err) != "CONVERSATION_NOT_FOUND" {
		t.Errorf("rep2 comments conversation 1: %v", err)
	}
	if err := cs.Delete(rep2, ids[0]); errs.ReasonOf(err) != "COMMENT_NOT_FOUND" {
		t.Errorf("rep2 deletes on conversation 1: %v", err)
	}
	// Apps do not comment; another user in scope may not delete; the
	// author and an admin may.
	if _, err := cs.Create(accesstest.App(1, "read"), CreateCommentRequest{ConversationID: 1, Text: "x"}); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
		t.Errorf("app comments: %v", err)
	}
	adminComment, _ := cs.Create(admin, CreateCommentRequest{ConversationID: 1, Text: "from admin"})
	if err := cs.Delete(rep1, adminComment.ID); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
		t.Errorf("rep1 deletes the admin's comment: %v", err)
	}
	if err := cs.Delete(rep1, ids[0]); err != nil {
		t.Errorf("author deletes: %v", err)
	}
	if err := cs.Delete(admin, ids[1]); err != nil {
		t.Errorf("admin deletes: %v", err)
	}
	if err := cs.Delete(admin, ids[1]); errs.ReasonOf(err) != "COMMENT_NOT_FOUND" {
		t.Errorf("second delete: %v", err)
	}
	if page, _ := cs.List(admin, ListCommentsRequest{ConversationID: 1}); page.Total != 4 {
		t.Errorf("after deletes: %+v", page)
	}
}
