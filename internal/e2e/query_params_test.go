//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every route refuses, by name, a query parameter it does not take, a
// repeated one that takes one value, and a malformed query string, on the
// real binary: a client that sends limit and offset learns they mean
// nothing here rather than reading the first page with the defaults. Only
// the caller's token is checked first.
func TestUnknownQueryParametersRefusedOnTheEmbeddedDefault(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	conv := newPartner(t, s.GRPC(), f.AppToken(t)).create("query-params", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)

	for _, tc := range []struct {
		path  string
		ok    string // the route's own parameters, answered 200
		bad   string // refused
		field string
	}{
		{"/api/v1/conversations", "page_size=2&owner_id=1&owner_id=2", "limit=2", "limit"},
		{"/api/v1/conversations", "page_size=2", "page_size=2&page_size=50", "page_size"},
		{"/api/v1/conversations", "direction=inbound", "direction=inbound;page_size=2", "query"},
		{fmt.Sprintf("/api/v1/conversations/%d", conv), "", "fields=title", "fields"},
		{fmt.Sprintf("/api/v1/conversations/%d/transcript", conv), "q=budget", "q=budget&highlight=1", "highlight"},
		{fmt.Sprintf("/api/v1/conversations/%d/comments", conv), "page_size=5", "sort=desc", "sort"},
		{"/api/v1/users", "page_size=5&department_id=" + fmt.Sprint(f.Sales.ID), "role=admin", "role"},
		{"/api/v1/apps", "page_size=5", "offset=5", "offset"},
		{"/api/v1/audit-logs", "operation=auth.login&page_size=5", "actor=1", "actor"},
		{"/api/v1/trackers", "page_size=5", "page=2", "page"},
		{"/api/v1/webhooks", "page_size=5", "cursor=1", "cursor"},
		{"/api/v1/events", "cursor=0&types=transcript.ready&types=conversation.deleted", "cursor=0&cursor=5", "cursor"},
		{"/api/v1/me", "", "%zz", "query"},
	} {
		path := tc.path
		if tc.ok != "" {
			path += "?" + tc.ok
		}
		apiGet(t, s, path, admin).want(t, http.StatusOK, "")
		a := apiGet(t, s, tc.path+"?"+tc.bad, admin).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if a.Metadata["field"] != tc.field || !strings.HasPrefix(a.Msg, tc.field+": ") {
			t.Errorf("%s?%s names %q: %s", tc.path, tc.bad, a.Metadata["field"], a.Msg)
		}
	}
	// A write refuses parameters too, and does nothing.
	a := authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments?notify=all", conv), admin,
		map[string]any{"text": "not posted"}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if a.Metadata["field"] != "notify" {
		t.Errorf("POST with ?notify names %q: %s", a.Metadata["field"], a.Msg)
	}
	var comments struct {
		Comments []struct{} `json:"comments"`
	}
	apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d/comments", conv), admin).want(t, http.StatusOK, "").decode(t, &comments)
	if len(comments.Comments) != 0 {
		t.Errorf("the refused POST posted %d comments", len(comments.Comments))
	}
	// A caller whose role may not make the call is told that, whatever
	// the query; without a valid token the answer is 401.
	rep := f.Token(t, f.Reps[0])
	apiGet(t, s, "/api/v1/audit-logs?limit=2", rep).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	apiGet(t, s, "/api/v1/apps?%zz", rep).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	apiGet(t, s, "/api/v1/conversations?limit=2", "not-a-token").want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	apiGet(t, s, "/api/v1/conversations?limit=2", "").want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
}
