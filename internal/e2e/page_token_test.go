//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// A page token that decodes but holds a position no page ends at (an id or
// sequence number below 1, as a forger writes it) is refused with 400
// naming page_token, on every list, rather than read as the first page:
// before, the audit log, the subscriptions, their deliveries, the users and
// the comments answered such a token with their first page.
func TestForgedPageTokenPositionsAreRefused(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	c := p.create("tok-1", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 60_000, nil)
	rcv := newReceiver(t)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	sub, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	forge := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	for _, tc := range []struct{ path, token string }{
		{"/api/v1/audit-logs", `{"s":-5}`},
		{"/api/v1/audit-logs", `{"s":0}`},
		{"/api/v1/webhooks", `{"i":-1}`},
		{fmt.Sprintf("/api/v1/webhooks/%d/deliveries", sub.Subscription.Id), `{"i":0}`},
		{"/api/v1/users", `{"a":-3}`},
		{"/api/v1/apps", `{"a":0}`},
		{"/api/v1/trackers", `{"a":-1}`},
		{fmt.Sprintf("/api/v1/conversations/%d/comments", c), `{"s":0,"i":0}`},
		{fmt.Sprintf("/api/v1/conversations/%d/comments", c), `{"s":-1,"i":5}`},
	} {
		r := authCall(t, s, http.MethodGet, tc.path+"?page_token="+forge(tc.token), admin, nil)
		if r.Status != http.StatusBadRequest || r.Metadata["field"] != "page_token" {
			t.Errorf("%s with the token %s: %d %s (%s); want 400 naming page_token", tc.path, tc.token, r.Status, r.Reason, r.Msg)
		}
	}
	// The first page of each, without a token, is still served.
	for _, path := range []string{"/api/v1/audit-logs", "/api/v1/webhooks", "/api/v1/users", "/api/v1/apps", "/api/v1/trackers",
		fmt.Sprintf("/api/v1/conversations/%d/comments", c), fmt.Sprintf("/api/v1/webhooks/%d/deliveries", sub.Subscription.Id)} {
		authCall(t, s, http.MethodGet, path, admin, nil).want(t, http.StatusOK, "")
	}
}
