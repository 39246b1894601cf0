//go:build e2e

package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// Every operation checks its caller's scope or role before it reads its
// path id, query or body: a caller that may not call it gets 403
// PERMISSION_DENIED whatever it sends, so it learns nothing of whether its
// arguments were valid, and one that may gets 400 naming the argument.
func TestScopeBeforeArgumentsHTTP(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	appToken := func(scopes string) string {
		app, _ := orgExtraApp(t, f, scopes)
		tok, err := f.tokens.IssueApp(&app, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin, rep, app := f.Token(t, f.Admin), f.Token(t, f.Reps[0]), f.AppToken(t)
	ingestApp, readApp := appToken("ingest"), appToken("read")
	type caller struct{ name, token string }
	var (
		asAdmin  = caller{"an admin", admin}
		asRep    = caller{"a rep", rep}
		asApp    = caller{"an app with every scope", app}
		asIngest = caller{"an app with only ingest", ingestApp}
		asRead   = caller{"an app with only read", readApp}
	)
	for _, c := range []struct {
		method, path string
		body         any
		denied       []caller
		allowed      caller
		field        string
	}{
		{http.MethodGet, "/api/v1/conversations/x", nil, []caller{asIngest}, asApp, "id"},
		{http.MethodGet, "/api/v1/conversations/x/transcript", nil, []caller{asIngest}, asApp, "id"},
		{http.MethodDelete, "/api/v1/conversations/x", nil, []caller{asRep, asRead}, asAdmin, "id"},
		{http.MethodGet, "/api/v1/conversations/x/comments", nil, []caller{asIngest}, asApp, "id"},
		{http.MethodGet, "/api/v1/conversations/1/comments?page_size=many", nil, []caller{asIngest}, asApp, "page_size"},
		{http.MethodPost, "/api/v1/conversations/x/comments", map[string]any{"text": "hi"}, []caller{asApp}, asRep, "id"},
		{http.MethodDelete, "/api/v1/comments/x", nil, []caller{asApp}, asRep, "id"},

		{http.MethodGet, "/api/v1/events?cursor=x", nil, []caller{asRep, asIngest}, asAdmin, "cursor"},
		{http.MethodGet, "/api/v1/events?page_size=many", nil, []caller{asRep, asIngest}, asApp, "page_size"},
		{http.MethodGet, "/api/v1/audit-logs?from=yesterday", nil, []caller{asRep, asApp}, asAdmin, "from"},
		{http.MethodGet, "/api/v1/audit-logs?actor_id=x", nil, []caller{asRep, asApp}, asAdmin, "actor_id"},

		{http.MethodGet, "/api/v1/users?page_size=many", nil, []caller{asIngest}, asApp, "page_size"},
		{http.MethodGet, "/api/v1/users?department_id=x", nil, []caller{asIngest}, asAdmin, "department_id"},
		{http.MethodPost, "/api/v1/users", map[string]any{"name": 5}, []caller{asRep, asApp}, asAdmin, "name"},
		{http.MethodPut, "/api/v1/users/x", map[string]any{}, []caller{asRep, asApp}, asAdmin, "id"},

		{http.MethodPost, "/api/v1/trackers", map[string]any{"name": 5}, []caller{asRep, asApp}, asAdmin, "name"},
		{http.MethodPut, "/api/v1/trackers/x", map[string]any{"name": "n"}, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodDelete, "/api/v1/trackers/x", nil, []caller{asRep, asApp}, asAdmin, "id"},

		{http.MethodPost, "/api/v1/apps", map[string]any{"name": 5}, []caller{asRep, asApp}, asAdmin, "name"},
		{http.MethodGet, "/api/v1/apps?page_size=many", nil, []caller{asRep, asApp}, asAdmin, "page_size"},
		{http.MethodGet, "/api/v1/apps/x", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPut, "/api/v1/apps/x", map[string]any{"name": "n"}, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPost, "/api/v1/apps/x/rotate-secret", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPost, "/api/v1/apps/x/disable", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPost, "/api/v1/apps/x/enable", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodDelete, "/api/v1/apps/x", nil, []caller{asRep, asApp}, asAdmin, "id"},

		{http.MethodGet, "/api/v1/webhooks?page_size=many", nil, []caller{asRep, asApp}, asAdmin, "page_size"},
		{http.MethodGet, "/api/v1/webhooks/x", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPatch, "/api/v1/webhooks/x", map[string]any{"enabled": true}, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodDelete, "/api/v1/webhooks/x", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodGet, "/api/v1/webhooks/x/deliveries", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPost, "/api/v1/webhooks/x/redeliveries", map[string]any{"event_id": 1}, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPost, "/api/v1/webhooks/x/rotate-secret", nil, []caller{asRep, asApp}, asAdmin, "id"},

		{http.MethodPost, "/api/v1/privacy/lookups", map[string]any{"email": 5}, []caller{asRep, asApp}, asAdmin, "email"},
		{http.MethodPost, "/api/v1/privacy/erasures", map[string]any{"email": 5}, []caller{asRep, asApp}, asAdmin, "email"},
		{http.MethodGet, "/api/v1/privacy/erasures/x", nil, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPost, "/api/v1/privacy/erasures/x/confirm", map[string]any{"count": 1}, []caller{asRep, asApp}, asAdmin, "id"},
		{http.MethodPut, "/api/v1/tenant/settings", map[string]any{"retention_days": "long"}, []caller{asRep, asApp}, asAdmin, "retention_days"},

		{http.MethodPut, "/api/v1/me/password", map[string]any{"new_password": 5}, []caller{asApp}, asRep, "new_password"},
	} {
		for _, d := range c.denied {
			r := authCall(t, s, c.method, c.path, d.token, c.body)
			if r.Status != http.StatusForbidden || r.Reason != "PERMISSION_DENIED" {
				t.Errorf("%s %s as %s: %d %s %v (%s), want 403 PERMISSION_DENIED", c.method, c.path, d.name, r.Status, r.Reason, r.Metadata, r.Msg)
			}
		}
		r := authCall(t, s, c.method, c.path, c.allowed.token, c.body)
		if r.Status != http.StatusBadRequest || r.Metadata["field"] != c.field {
			t.Errorf("%s %s as %s: %d %s %v (%s), want 400 naming %s", c.method, c.path, c.allowed.name, r.Status, r.Reason, r.Metadata, r.Msg, c.field)
		}
	}
}

// The gRPC methods that read part of their request in the server rather
// than the use case check the caller's scope first too.
func TestScopeBeforeArgumentsGRPC(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	appCtx := func(scopes string) context.Context {
		app, _ := orgExtraApp(t, f, scopes)
		tok, err := f.tokens.IssueApp(&app, 0)
		if err != nil {
			t.Fatal(err)
		}
		return authBearer(t.Context(), tok)
	}
	readOnly, ingestOnly, app := appCtx("read"), appCtx("ingest"), authBearer(t.Context(), f.AppToken(t))
	convs, org := openv1.NewConversationServiceClient(s.GRPC()), openv1.NewOrgServiceClient(s.GRPC())

	badTime := &openv1.CreateConversationRequest{OriginConversationId: "c-1", BeginTime: &timestamppb.Timestamp{Nanos: -1}}
	_, err := convs.CreateConversation(readOnly, badTime)
	wantDenied(t, "CreateConversation without ingest, bad begin_time", err)
	_, err = convs.CreateConversation(app, badTime)
	wantField(t, "CreateConversation, bad begin_time", err, "begin_time")

	for field, req := range map[string]*openv1.UpsertUserRequest{
		"role":   {OriginUserId: "u-1", Name: "U", Role: openv1.Role(99)},
		"status": {OriginUserId: "u-1", Name: "U", Role: openv1.Role_ROLE_REP, Status: openv1.UserStatus(99)},
	} {
		_, err := org.UpsertUser(ingestOnly, req)
		wantDenied(t, "UpsertUser without org, bad "+field, err)
		_, err = org.UpsertUser(app, req)
		wantField(t, "UpsertUser, bad "+field, err, field)
	}

	put := func(ctx context.Context) error {
		st, err := convs.PutTranscript(ctx)
		if err != nil {
			return err
		}
		// A chunk first: the stream's first message must be its header.
		if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{}}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = st.CloseAndRecv()
		return err
	}
	wantDenied(t, "PutTranscript without ingest, no header", put(readOnly))
	wantField(t, "PutTranscript, no header", put(app), "header")
}

// wantDenied asks for PERMISSION_DENIED.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if code, reason, _ := rpcReason(err); code != codes.PermissionDenied || reason != "PERMISSION_DENIED" {
		t.Errorf("%s: %v, want PERMISSION_DENIED", what, err)
	}
}

// wantField asks for INVALID_ARGUMENT naming field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	if code, _, md := rpcReason(err); code != codes.InvalidArgument || md["field"] != field {
		t.Errorf("%s: %v, want INVALID_ARGUMENT naming %s", what, err, field)
	}
}
