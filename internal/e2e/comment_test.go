//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/http/controller"
)

func TestCommentsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	c1 := p.create("cmt-1", f.Reps[0].ID, begin, 120_000, nil)
	c4 := p.create("cmt-4", f.Reps[3].ID, begin, 120_000, nil)
	rep1, rep4, manager, admin := f.Token(t, f.Reps[0]), f.Token(t, f.Reps[3]), f.Token(t, f.Manager), f.Token(t, f.Admin)
	path := func(id int64) string { return fmt.Sprintf("/api/v1/conversations/%d/comments", id) }

	var first, reply, late controller.CommentJSON
	authCall(t, s, http.MethodPost, path(c1), rep1, map[string]any{"start_ms": 90_000, "text": "good discovery question"}).
		want(t, http.StatusCreated, "").decode(t, &first)
	authCall(t, s, http.MethodPost, path(c1), manager, map[string]any{"start_ms": 90_000, "text": "agreed", "reply_to": first.ID, "extra": true}).
		want(t, http.StatusCreated, "").decode(t, &reply)
	authCall(t, s, http.MethodPost, path(c1), admin, map[string]any{"start_ms": 5_000, "text": "中文评论：开场不错"}).
		want(t, http.StatusCreated, "").decode(t, &late)
	if first.AuthorUserID != f.Reps[0].ID || first.AuthorName != "rep1" || reply.ReplyTo == nil || *reply.ReplyTo != first.ID || late.Text != "中文评论：开场不错" {
		t.Fatalf("created %+v, %+v, %+v", first, reply, late)
	}

	// Listed in the order of the call, page by page.
	var page controller.CommentPageJSON
	apiGet(t, s, path(c1)+"?page_size=2", rep1).want(t, http.StatusOK, "").decode(t, &page)
	if page.Total != 3 || len(page.Comments) != 2 || page.Comments[0].ID != late.ID || page.Comments[1].ID != first.ID || page.NextPageToken == "" {
		t.Fatalf("page 1: %+v", page)
	}
	apiGet(t, s, path(c1)+"?page_size=2&page_token="+page.NextPageToken, rep1).want(t, http.StatusOK, "").decode(t, &page)
	if len(page.Comments) != 1 || page.Comments[0].ID != reply.ID || page.NextPageToken != "" {
		t.Fatalf("page 2: %+v", page)
	}
	apiGet(t, s, path(c1)+"?page_token=garbage", rep1).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")

	// Validation names the field.
	for field, body := range map[string]map[string]any{
		"text":     {"start_ms": 1, "text": strings.Repeat("长", 2001)},
		"start_ms": {"start_ms": -5, "text": "x"},
		"reply_to": {"text": "x", "reply_to": 999_999},
	} {
		if a := authCall(t, s, http.MethodPost, path(c1), admin, body).want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); a.Metadata["field"] != field {
			t.Errorf("bad %s: field %q", field, a.Metadata["field"])
		}
	}
	var onC4 controller.CommentJSON
	authCall(t, s, http.MethodPost, path(c4), admin, map[string]any{"text": "support call"}).want(t, http.StatusCreated, "").decode(t, &onC4)
	if a := authCall(t, s, http.MethodPost, path(c1), admin, map[string]any{"text": "x", "reply_to": onC4.ID}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); a.Metadata["field"] != "reply_to" {
		t.Errorf("reply across conversations: %+v", a)
	}

	// Scope: out of scope is not found, never forbidden; apps do not comment.
	apiGet(t, s, path(c1), rep4).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	authCall(t, s, http.MethodPost, path(c1), rep4, map[string]any{"text": "x"}).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	apiGet(t, s, path(c4), manager).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", onC4.ID), manager, nil).want(t, http.StatusNotFound, "COMMENT_NOT_FOUND")
	otherAdmin := other.Token(t, other.Admin)
	apiGet(t, s, path(c1), otherAdmin).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	authCall(t, s, http.MethodPost, path(c1), otherAdmin, map[string]any{"text": "x"}).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", first.ID), otherAdmin, nil).want(t, http.StatusNotFound, "COMMENT_NOT_FOUND")
	authCall(t, s, http.MethodPost, path(c1), f.AppToken(t), map[string]any{"text": "x"}).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	apiGet(t, s, path(999_999), admin).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")

	// Delete: the author or an admin.
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", reply.ID), rep1, nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", reply.ID), manager, nil).want(t, http.StatusOK, "")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", first.ID), admin, nil).want(t, http.StatusOK, "")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", first.ID), admin, nil).want(t, http.StatusNotFound, "COMMENT_NOT_FOUND")
	apiGet(t, s, path(c1), manager).want(t, http.StatusOK, "").decode(t, &page)
	if page.Total != 1 || len(page.Comments) != 1 || page.Comments[0].ID != late.ID {
		t.Errorf("after deletes: %+v", page)
	}
}
