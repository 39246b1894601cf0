//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// specClient calls the binary and checks every request and answer against
// the OpenAPI document the binary serves.
type specClient struct {
	t      *testing.T
	s      *Service
	router routers.Router
	// seen records, per documented operation ("GET /api/v1/me"), whether
	// a success and an error answer of it were validated.
	seen map[string]*[2]bool
}

// do sends method path with token (none when empty) and body (JSON, none
// when nil), expects status, and validates both sides against the document.
func (c *specClient) do(method, path, token string, body any, status int) authResult {
	c.t.Helper()
	return c.call(method, path, token, body, status, true)
}

// invalid is do for a request the document itself rules out: the server
// and the document must agree that it is bad.
func (c *specClient) invalid(method, path, token string, body any, status int) authResult {
	c.t.Helper()
	return c.call(method, path, token, body, status, false)
}

func (c *specClient) call(method, path, token string, body any, status int, validRequest bool) authResult {
	c.t.Helper()
	var data []byte
	ctype := ""
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			c.t.Fatal(err)
		}
		ctype = "application/json"
	}
	return c.send(method, path, token, ctype, data, status, validRequest)
}

// send is call with a body as it is, of media type ctype (none when "").
func (c *specClient) send(method, path, token, ctype string, data []byte, status int, validRequest bool) authResult {
	c.t.Helper()
	newReq := func() *http.Request {
		req, err := http.NewRequestWithContext(c.t.Context(), method, c.s.URL(path), bytes.NewReader(data))
		if err != nil {
			c.t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		c.t.Fatal(err)
	}
	defer closeBody(c.t, resp)
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, status, respBody)
	}

	req := newReq()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s: not in the document: %v", method, path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	switch err := openapi3filter.ValidateRequest(req.Context(), in); {
	case validRequest && err != nil:
		c.t.Errorf("%s %s: the request does not match the document: %v", method, path, err)
	case !validRequest && err == nil:
		c.t.Errorf("%s %s: the server refuses the request (%d), the document allows it", method, path, resp.StatusCode)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	if err := openapi3filter.ValidateResponse(req.Context(), out.SetBodyBytes(respBody)); err != nil {
		c.t.Errorf("%s %s: the %d answer does not match the document: %v\n%s", method, path, resp.StatusCode, err, respBody)
	} else {
		key := route.Method + " " + route.Path
		if c.seen[key] == nil {
			c.seen[key] = new([2]bool)
		}
		c.seen[key][min(resp.StatusCode/100-2, 1)] = true
	}
	a := authResult{Status: resp.StatusCode}
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(respBody, &a); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return a
}

// TestOpenAPIOnMariaDB fetches /openapi.json from the binary and walks the
// API with it: answers of every operation, errors included, must match the
// document.
func TestOpenAPIOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_PRIVACY_CONFIRM_OVER"] = "0" // every erasure that deletes waits for its confirmation
	env["MGV_APPS_MAX_PER_TENANT"] = "3"  // the fixture's app and two more
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()

	resp, err := http.Get(s.URL("/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	closeBody(t, resp)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("/openapi.json is not valid OpenAPI 3: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: s.URL("")}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := &specClient{t: t, s: s, router: router, seen: map[string]*[2]bool{}}

	// Two calls of rep1: one with a transcript (metrics, tracker hits,
	// searchable), one without (metrics null).
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	begin := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	full := p.create("openapi-full", f.Reps[0].ID, begin, 600_000, nil)
	if _, err := p.put(full, transcript(12, "openapi"), 5); err != nil {
		t.Fatal(err)
	}
	bare := p.create("openapi-bare", f.Reps[0].ID, begin.Add(time.Minute), 60_000, nil)
	rep, app := f.Token(t, f.Reps[0]), f.AppToken(t)

	// Auth.
	var pair controller.TokenPairJSON
	c.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *f.Admin.Email, "password": f.Password}, http.StatusOK).decode(t, &pair)
	c.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *f.Admin.Email, "password": "wrong"}, http.StatusUnauthorized)
	c.invalid(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": ""}, http.StatusBadRequest)
	var next controller.TokenPairJSON
	c.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}, http.StatusOK).decode(t, &next)
	c.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}, http.StatusUnauthorized)
	// The reuse revoked the admin's access tokens: sign in again.
	c.do(http.MethodGet, "/api/v1/me", next.AccessToken, nil, http.StatusUnauthorized)
	c.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *f.Admin.Email, "password": f.Password}, http.StatusOK).decode(t, &next)
	admin := next.AccessToken

	// Org: the admin has no department (null), the rep has one.
	var me controller.MeJSON
	c.do(http.MethodGet, "/api/v1/me", admin, nil, http.StatusOK).decode(t, &me)
	if me.Department != nil {
		t.Errorf("the admin's department: %+v", me.Department)
	}
	c.do(http.MethodGet, "/api/v1/me", rep, nil, http.StatusOK).decode(t, &me)
	if me.Department == nil {
		t.Error("the rep has no department")
	}
	c.do(http.MethodGet, "/api/v1/me", app, nil, http.StatusForbidden)
	c.do(http.MethodGet, "/api/v1/me", "", nil, http.StatusUnauthorized)
	c.do(http.MethodGet, "/api/v1/departments", rep, nil, http.StatusOK)
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/users?page_size=2&department_id=%d", f.Sales.ID), admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/users?department_id=999999999", admin, nil, http.StatusNotFound)
	var user controller.UserJSON
	c.do(http.MethodPost, "/api/v1/users", admin, map[string]any{
		"name": "New Rep", "email": fmt.Sprintf("new.rep.%d@test.mgv", f.Tenant.ID), "password": "a good password", "department_id": f.East.ID,
	}, http.StatusCreated).decode(t, &user)
	c.do(http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "Again", "email": *user.Email, "password": "a good password"}, http.StatusConflict)
	c.do(http.MethodPost, "/api/v1/users", rep, map[string]any{"name": "x", "password": "a good password"}, http.StatusForbidden)
	c.do(http.MethodPut, fmt.Sprintf("/api/v1/users/%d", user.ID), admin, map[string]any{"name": "Renamed", "department_id": 0, "status": nil}, http.StatusOK)

	// Apps, managed by the admin; the secret is shown when made.
	var made controller.AppSecretJSON
	newApp := map[string]any{"name": "OpenAPI app", "scopes": []string{"ingest", "org"}}
	c.do(http.MethodPost, "/api/v1/apps", admin, newApp, http.StatusCreated).decode(t, &made)
	if made.AppSecret == "" || made.AppKey == "" || made.Status != "active" {
		t.Errorf("the new app: %+v", made.AppJSON)
	}
	c.do(http.MethodPost, "/api/v1/apps", admin, newApp, http.StatusConflict)
	c.invalid(http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": "x", "scopes": []string{"admin"}}, http.StatusBadRequest)
	c.do(http.MethodGet, "/api/v1/apps", admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/apps", rep, nil, http.StatusForbidden)
	// The third app fills the cap; a fourth is refused. The list is paged.
	var third controller.AppSecretJSON
	c.do(http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": "OpenAPI third", "scopes": []string{"read"}}, http.StatusCreated).decode(t, &third)
	if r := c.do(http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": "OpenAPI fourth", "scopes": []string{"read"}}, http.StatusConflict); r.Reason != "APP_QUOTA_EXCEEDED" || r.Metadata["max_apps"] != "3" {
		t.Errorf("a create over the cap: %+v", r)
	}
	var apps controller.AppListJSON
	c.do(http.MethodGet, "/api/v1/apps?page_size=2", admin, nil, http.StatusOK).decode(t, &apps)
	if len(apps.Apps) != 2 || apps.NextPageToken == "" {
		t.Errorf("the first page of apps: %+v", apps)
	}
	c.do(http.MethodGet, "/api/v1/apps?page_size=2&page_token="+url.QueryEscape(apps.NextPageToken), admin, nil, http.StatusOK).decode(t, &apps)
	if len(apps.Apps) != 1 || apps.NextPageToken != "" || apps.Apps[0].ID != third.ID {
		t.Errorf("the last page of apps: %+v", apps)
	}
	c.invalid(http.MethodGet, "/api/v1/apps?page_size=101", admin, nil, http.StatusBadRequest)
	c.do(http.MethodGet, "/api/v1/apps?page_token=not-a-token", admin, nil, http.StatusBadRequest)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/apps/%d", third.ID), admin, nil, http.StatusOK)
	appPath := fmt.Sprintf("/api/v1/apps/%d", made.ID)
	c.do(http.MethodGet, appPath, admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/apps/999999999", admin, nil, http.StatusNotFound)
	c.do(http.MethodPut, appPath, admin, map[string]any{"scopes": []string{"read"}}, http.StatusOK)
	c.invalid(http.MethodPut, appPath, admin, map[string]any{"scopes": []string{}}, http.StatusBadRequest)
	var rotated controller.AppSecretJSON
	c.do(http.MethodPost, appPath+"/rotate-secret", admin, map[string]any{"grace_seconds": 3600}, http.StatusOK).decode(t, &rotated)
	if rotated.AppSecret == "" || rotated.AppSecret == made.AppSecret || rotated.OldSecretUntil == nil {
		t.Errorf("the rotated app: %+v", rotated.AppJSON)
	}
	c.invalid(http.MethodPost, appPath+"/rotate-secret", admin, map[string]any{"grace_seconds": 604801}, http.StatusBadRequest)
	c.do(http.MethodPost, appPath+"/disable", admin, nil, http.StatusOK)
	c.do(http.MethodPost, appPath+"/disable", app, nil, http.StatusForbidden)
	c.do(http.MethodPost, appPath+"/enable", admin, nil, http.StatusOK)
	c.do(http.MethodPost, "/api/v1/apps/999999999/enable", admin, nil, http.StatusNotFound)
	c.do(http.MethodDelete, appPath, admin, nil, http.StatusOK)
	c.do(http.MethodDelete, appPath, admin, nil, http.StatusNotFound)

	// Conversations.
	q := url.Values{"owner_id": {itoa(f.Reps[0].ID)}, "from": {begin.Add(-time.Hour).Format(time.RFC3339)},
		"to": {itoa(time.Now().Add(time.Hour).UnixMilli())}, "direction": {"outbound"}, "page_size": {"1"}}
	var page controller.ConversationPageJSON
	c.do(http.MethodGet, "/api/v1/conversations?"+q.Encode(), admin, nil, http.StatusOK).decode(t, &page)
	if page.Total != 2 || len(page.Conversations) != 1 || page.NextPageToken == "" {
		t.Errorf("conversations: %+v", page)
	}
	q.Set("page_token", page.NextPageToken)
	c.do(http.MethodGet, "/api/v1/conversations?"+q.Encode(), admin, nil, http.StatusOK)
	c.invalid(http.MethodGet, "/api/v1/conversations?page_size=101", admin, nil, http.StatusBadRequest)
	c.invalid(http.MethodGet, "/api/v1/conversations?from=yesterday", admin, nil, http.StatusBadRequest)
	var detail controller.ConversationDetailJSON
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", full), rep, nil, http.StatusOK).decode(t, &detail)
	if detail.Metrics == nil || len(detail.Participants) == 0 {
		t.Errorf("conversation with a transcript: %+v", detail)
	}
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", bare), rep, nil, http.StatusOK).decode(t, &detail)
	if detail.Metrics != nil {
		t.Errorf("conversation without a transcript has metrics: %+v", detail.Metrics)
	}
	if a := c.do(http.MethodGet, "/api/v1/conversations/999999999", rep, nil, http.StatusNotFound); a.Reason != "CONVERSATION_NOT_FOUND" {
		t.Errorf("unknown conversation: %s", a.Reason)
	}
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", full), f.Token(t, f.Reps[3]), nil, http.StatusNotFound)
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/transcript?q=%s", full, url.QueryEscape("预算")), rep, nil, http.StatusOK)

	// Trackers and statistics.
	var tracker controller.TrackerJSON
	c.do(http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Budget", "keywords": []string{"预算", "price"}}, http.StatusCreated).decode(t, &tracker)
	c.do(http.MethodPost, "/api/v1/trackers", rep, map[string]any{"name": "x", "keywords": []string{"x"}}, http.StatusForbidden)
	c.invalid(http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "x", "keywords": []string{}}, http.StatusBadRequest)
	c.do(http.MethodPut, fmt.Sprintf("/api/v1/trackers/%d", tracker.ID), admin,
		map[string]any{"name": "Budget", "keywords": []string{"预算"}, "affiliation": "external"}, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/trackers", rep, nil, http.StatusOK)
	rng := url.Values{"from": {begin.Add(-24 * time.Hour).Format(time.RFC3339)}, "to": {time.Now().UTC().Add(time.Hour).Format(time.RFC3339Nano)}}
	for _, by := range []string{"owner", "day"} {
		rng.Set("group_by", by)
		c.do(http.MethodGet, fmt.Sprintf("/api/v1/trackers/%d/stats?%s", tracker.ID, rng.Encode()), admin, nil, http.StatusOK)
	}
	c.do(http.MethodGet, "/api/v1/trackers/999999999/stats?"+rng.Encode(), admin, nil, http.StatusNotFound)
	rng.Del("group_by")
	c.invalid(http.MethodGet, fmt.Sprintf("/api/v1/trackers/%d/stats?%s", tracker.ID, rng.Encode()), admin, nil, http.StatusBadRequest)
	rng.Set("department_id", itoa(f.Sales.ID))
	c.do(http.MethodGet, "/api/v1/stats/reps?"+rng.Encode(), admin, nil, http.StatusOK)

	// Comments.
	var comment controller.CommentJSON
	c.do(http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", full), rep, map[string]any{"start_ms": 1_000, "text": "好问题"}, http.StatusCreated).decode(t, &comment)
	c.do(http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", full), admin,
		map[string]any{"start_ms": 2_000, "text": "agreed", "reply_to": comment.ID}, http.StatusCreated)
	c.do(http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", full), app, map[string]any{"text": "x"}, http.StatusForbidden)
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/comments?page_size=1", full), rep, nil, http.StatusOK)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", comment.ID), rep, nil, http.StatusOK)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", comment.ID), rep, nil, http.StatusNotFound)

	// Search, once the indexer has caught up (results, snippets, facets).
	var found controller.SearchPageJSON
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c.do(http.MethodPost, "/api/v1/search", admin, map[string]any{"query": "预算", "owner_ids": []int64{f.Reps[0].ID}, "page_size": 5}, http.StatusOK).decode(t, &found)
		if len(found.Results) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(found.Results) == 0 || len(found.DayFacets) == 0 {
		t.Errorf("search found nothing: %+v", found)
	}
	c.invalid(http.MethodPost, "/api/v1/search", admin, map[string]any{"query": ""}, http.StatusBadRequest)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", tracker.ID), admin, nil, http.StatusOK)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", tracker.ID), admin, nil, http.StatusNotFound)

	// Partner events: the log of the changes above, by cursor pages.
	var events controller.EventPageJSON
	c.do(http.MethodGet, "/api/v1/events?page_size=2", admin, nil, http.StatusOK).decode(t, &events)
	if len(events.Events) != 2 || events.Events[0].Type != "conversation.created" || events.NextCursor != events.Events[1].ID {
		t.Errorf("events: %+v", events)
	}
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/events?cursor=%d&types=transcript.ready,tracker.matched&types=conversation.created", events.NextCursor), app, nil, http.StatusOK)
	c.invalid(http.MethodGet, "/api/v1/events?types=conversation.updated", admin, nil, http.StatusBadRequest)
	c.do(http.MethodGet, "/api/v1/events", rep, nil, http.StatusForbidden)

	// Webhooks: the app subscribes over gRPC; admins see and manage every
	// app's subscriptions over HTTP.
	rcv := newReceiver(t)
	ev, evctx := eventsClient(t, s, app)
	sub, err := ev.CreateSubscription(evctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	hook := fmt.Sprintf("/api/v1/webhooks/%d", sub.Subscription.Id)
	c.do(http.MethodGet, "/api/v1/webhooks?page_size=1", admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/webhooks", rep, nil, http.StatusForbidden)
	c.do(http.MethodGet, hook, admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/webhooks/999999999", admin, nil, http.StatusNotFound)
	c.do(http.MethodPatch, hook, admin, map[string]any{"enabled": false}, http.StatusOK)
	c.do(http.MethodPatch, hook, admin, map[string]any{"enabled": true}, http.StatusOK)
	c.invalid(http.MethodPatch, hook, admin, map[string]any{}, http.StatusBadRequest)
	c.do(http.MethodPost, hook+"/redeliveries", admin, map[string]any{"event_id": 1}, http.StatusCreated)
	c.do(http.MethodPost, hook+"/redeliveries", admin, map[string]any{"event_id": 999999999}, http.StatusNotFound)
	c.do(http.MethodGet, hook+"/deliveries?page_size=5", admin, nil, http.StatusOK)
	c.invalid(http.MethodGet, hook+"/deliveries?status=lost", admin, nil, http.StatusBadRequest)
	c.do(http.MethodPost, hook+"/rotate-secret", admin, map[string]any{"grace_seconds": 3600}, http.StatusOK)
	c.do(http.MethodGet, hook, admin, nil, http.StatusOK)
	c.invalid(http.MethodPost, hook+"/rotate-secret", admin, map[string]any{"grace_seconds": 604801}, http.StatusBadRequest)
	c.do(http.MethodDelete, hook, admin, nil, http.StatusOK)
	c.do(http.MethodDelete, hook, admin, nil, http.StatusNotFound)

	// Errors of the operations not refused above, and of decoding.
	c.do(http.MethodGet, "/api/v1/departments", "", nil, http.StatusUnauthorized)
	c.do(http.MethodPut, "/api/v1/users/999999999", admin, map[string]any{"name": "Nobody"}, http.StatusNotFound)
	c.do(http.MethodGet, "/api/v1/conversations/999999999/transcript", rep, nil, http.StatusNotFound)
	c.do(http.MethodGet, "/api/v1/conversations/999999999/comments", rep, nil, http.StatusNotFound)
	c.do(http.MethodGet, "/api/v1/trackers", "not-a-token", nil, http.StatusUnauthorized)
	c.do(http.MethodPut, "/api/v1/trackers/999999999", admin, map[string]any{"name": "x", "keywords": []string{"x"}}, http.StatusNotFound)
	c.invalid(http.MethodGet, "/api/v1/stats/reps?from=yesterday&to=today", admin, nil, http.StatusBadRequest)
	if a := c.invalid(http.MethodPost, "/api/v1/search", admin, map[string]any{"query": "预算", "owner_ids": []any{f.Reps[0].ID, "two"}}, http.StatusBadRequest); a.Metadata["field"] != "owner_ids[1]" {
		t.Errorf("a wrong JSON type: metadata %v", a.Metadata)
	}
	c.invalid(http.MethodPost, "/api/v1/search", admin, map[string]any{"query": 5}, http.StatusBadRequest)
	c.send(http.MethodPost, "/api/v1/search", admin, "application/xml", []byte("<query>预算</query>"), http.StatusUnsupportedMediaType, false)

	// Personal data: a conversation deleted, a person looked up and
	// erased after the confirmation of the count.
	gone := p.create("openapi-gone", f.Reps[1].ID, begin, 60_000, func(r *openv1.CreateConversationRequest) { r.Participants[1].Name = "Openapi Guest" })
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", gone), rep, nil, http.StatusForbidden)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", gone), admin, nil, http.StatusOK)
	c.do(http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", gone), admin, nil, http.StatusNotFound)
	p.create("openapi-guest", f.Reps[1].ID, begin, 60_000, func(r *openv1.CreateConversationRequest) { r.Participants[1].Name = "Openapi Guest" })
	c.do(http.MethodPost, "/api/v1/privacy/lookups", admin, map[string]any{"name": "Openapi Guest"}, http.StatusOK)
	c.do(http.MethodPost, "/api/v1/privacy/lookups", admin, map[string]any{"email": *f.Reps[0].Email}, http.StatusOK)
	c.invalid(http.MethodPost, "/api/v1/privacy/lookups", admin, map[string]any{}, http.StatusBadRequest)
	var erasure controller.ErasureJSON
	c.do(http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": "Openapi Guest"}, http.StatusAccepted).decode(t, &erasure)
	c.do(http.MethodPost, "/api/v1/privacy/erasures", rep, map[string]any{"name": "Openapi Guest"}, http.StatusForbidden)
	c.do(http.MethodGet, fmt.Sprintf("/api/v1/privacy/erasures/%d", erasure.ID), admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/privacy/erasures/999999999", admin, nil, http.StatusNotFound)
	confirm := fmt.Sprintf("/api/v1/privacy/erasures/%d/confirm", erasure.ID)
	c.do(http.MethodPost, confirm, admin, map[string]any{"count": erasure.ConversationsTotal + 1}, http.StatusBadRequest)
	c.do(http.MethodPost, confirm, admin, map[string]any{"count": erasure.ConversationsTotal}, http.StatusOK)
	c.do(http.MethodPost, confirm, admin, map[string]any{"count": erasure.ConversationsTotal}, http.StatusConflict)
	c.do(http.MethodGet, "/api/v1/audit-logs?operation=privacy.erasure.start", admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/audit-logs", rep, nil, http.StatusForbidden)
	c.do(http.MethodPut, "/api/v1/tenant/settings", admin, map[string]any{"retention_days": 3650}, http.StatusOK)
	c.invalid(http.MethodPut, "/api/v1/tenant/settings", admin, map[string]any{"retention_days": -1}, http.StatusBadRequest)
	c.do(http.MethodGet, "/api/v1/tenant/settings", admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/tenant/settings", rep, nil, http.StatusForbidden)

	// Sessions, last: a password change and a sign-out revoke the new
	// rep's tokens.
	var repPair controller.TokenPairJSON
	c.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *user.Email, "password": "a good password"}, http.StatusOK).decode(t, &repPair)
	c.do(http.MethodPut, "/api/v1/me/password", repPair.AccessToken, map[string]string{"current_password": "not the password", "new_password": "another good password"}, http.StatusBadRequest)
	c.do(http.MethodPut, "/api/v1/me/password", repPair.AccessToken, map[string]string{"current_password": "a good password", "new_password": "another good password"}, http.StatusOK).decode(t, &repPair)
	c.do(http.MethodPost, "/api/v1/auth/logout", "", nil, http.StatusUnauthorized)
	c.do(http.MethodPost, "/api/v1/auth/logout", repPair.AccessToken, nil, http.StatusOK)

	// The audit trail: the sign-ins above, once their batch is written.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var trail controller.AuditLogPageJSON
		if err := json.Unmarshal(apiGet(t, s, "/api/v1/audit-logs?operation=auth.login", admin).want(t, http.StatusOK, "").Data, &trail); err != nil {
			t.Fatal(err)
		}
		if len(trail.Records) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var trail controller.AuditLogPageJSON
	c.do(http.MethodGet, "/api/v1/audit-logs?operation=auth.login&result=ok&actor_kind=user&page_size=1", admin, nil, http.StatusOK).decode(t, &trail)
	if len(trail.Records) != 1 || trail.NextPageToken == "" {
		t.Errorf("audit-logs: %+v", trail)
	}
	c.do(http.MethodGet, "/api/v1/audit-logs?page_token="+url.QueryEscape(trail.NextPageToken), admin, nil, http.StatusOK)
	c.do(http.MethodGet, "/api/v1/audit-logs", rep, nil, http.StatusForbidden)
	c.invalid(http.MethodGet, "/api/v1/audit-logs?actor_kind=robot", admin, nil, http.StatusBadRequest)

	// Operations.
	c.do(http.MethodGet, "/api/v1/ping", "", nil, http.StatusOK)
	c.do(http.MethodGet, "/healthz", "", nil, http.StatusOK)
	c.do(http.MethodGet, "/readyz", "", nil, http.StatusOK)
	c.do(http.MethodGet, "/metrics", "", nil, http.StatusOK)
	c.do(http.MethodGet, "/openapi.json", "", nil, http.StatusOK)

	// Every documented operation answered at least one success and one
	// error that matched the document, but for those a healthy server
	// has no error to give: liveness, metrics and this document answer
	// or do not run at all, ping only refuses over the rate limit, and
	// readiness fails only while a dependency is down (its 503 is checked
	// in internal/app against the same document).
	noError := map[string]bool{"GET /healthz": true, "GET /metrics": true, "GET /openapi.json": true, "GET /api/v1/ping": true, "GET /readyz": true}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			key := method + " " + path
			got := c.seen[key]
			switch {
			case got == nil || !got[0]:
				t.Errorf("%s: no success answer validated", key)
			case !got[1] && !noError[key]:
				t.Errorf("%s: no error answer validated", key)
			}
		}
	}
}
