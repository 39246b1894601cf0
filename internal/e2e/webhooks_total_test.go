//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// The subscription lists give their total on the real binary and MariaDB:
// EventService.ListSubscriptions the calling app's subscriptions over all
// pages, GET /api/v1/webhooks every app's of the tenant, the same on every
// page and for every page size; another tenant counts its own. The
// delivery log gives no total.
func TestWebhookListTotalsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	rcv := newReceiver(t)
	_, erpToken := newAppClient(t, s).readerApp(s, admin, "ERP")
	subscribe := func(token string, n int) []int64 {
		t.Helper()
		ev, ctx := eventsClient(t, s, token)
		var ids []int64
		for i := range n {
			res, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: fmt.Sprintf("%s/hook/%d", rcv.srv.URL, i), EventTypes: []string{"conversation.created"}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.Subscription.Id)
		}
		return ids
	}
	crm := subscribe(f.AppToken(t), 5)
	subscribe(erpToken, 2)
	subscribe(other.AppToken(t), 1)

	// grpcTotals pages the app's subscriptions by size and returns each
	// page's total and how many the pages held.
	grpcTotals := func(token string, size int32) (totals []int64, seen int) {
		t.Helper()
		ev, ctx := eventsClient(t, s, token)
		req := &openv1.ListSubscriptionsRequest{PageSize: size}
		for range 10 {
			page, err := ev.ListSubscriptions(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			totals, seen = append(totals, page.Total), seen+len(page.Subscriptions)
			if req.PageToken = page.NextPageToken; req.PageToken == "" {
				return totals, seen
			}
		}
		t.Fatal("gRPC paging does not end")
		return nil, 0
	}
	httpTotals := func(token string, size int) (totals []int64, seen int) {
		t.Helper()
		pageToken := ""
		for range 10 {
			q := url.Values{"page_size": {fmt.Sprint(size)}}
			if pageToken != "" {
				q.Set("page_token", pageToken)
			}
			var page controller.WebhookPageJSON
			authCall(t, s, http.MethodGet, "/api/v1/webhooks?"+q.Encode(), token, nil).want(t, http.StatusOK, "").decode(t, &page)
			totals, seen = append(totals, page.Total), seen+len(page.Webhooks)
			if pageToken = page.NextPageToken; pageToken == "" {
				return totals, seen
			}
		}
		t.Fatal("HTTP paging does not end")
		return nil, 0
	}
	for _, c := range []struct {
		name string
		got  func() ([]int64, int)
		want string
		seen int
	}{
		{"gRPC, the app with five, pages of two", func() ([]int64, int) { return grpcTotals(f.AppToken(t), 2) }, "[5 5 5]", 5},
		{"gRPC, the app with five, the default page", func() ([]int64, int) { return grpcTotals(f.AppToken(t), 0) }, "[5]", 5},
		{"gRPC, the app with two, pages of one", func() ([]int64, int) { return grpcTotals(erpToken, 1) }, "[2 2]", 2},
		{"gRPC, another tenant's app", func() ([]int64, int) { return grpcTotals(other.AppToken(t), 3) }, "[1]", 1},
		{"HTTP, the admin, pages of three", func() ([]int64, int) { return httpTotals(admin, 3) }, "[7 7 7]", 7},
		{"HTTP, the admin, pages of a hundred", func() ([]int64, int) { return httpTotals(admin, 100) }, "[7]", 7},
		{"HTTP, another tenant's admin", func() ([]int64, int) { return httpTotals(other.Token(t, other.Admin), 1) }, "[1]", 1},
	} {
		totals, seen := c.got()
		if fmt.Sprint(totals) != c.want || seen != c.seen {
			t.Errorf("%s: totals %v over %d subscriptions, want %s over %d", c.name, totals, seen, c.want, c.seen)
		}
	}

	// A deleted subscription leaves both totals.
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	if _, err := ev.DeleteSubscription(ctx, &openv1.DeleteSubscriptionRequest{Id: crm[0]}); err != nil {
		t.Fatal(err)
	}
	if totals, _ := grpcTotals(f.AppToken(t), 2); fmt.Sprint(totals) != "[4 4]" {
		t.Errorf("gRPC after a delete: totals %v, want [4 4]", totals)
	}
	if totals, _ := httpTotals(admin, 4); fmt.Sprint(totals) != "[6 6]" {
		t.Errorf("HTTP after a delete: totals %v, want [6 6]", totals)
	}

	// The delivery log pages without a total.
	var deliveries map[string]json.RawMessage
	authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/webhooks/%d/deliveries?page_size=5", crm[1]), admin, nil).
		want(t, http.StatusOK, "").decode(t, &deliveries)
	if _, ok := deliveries["total"]; ok || deliveries["deliveries"] == nil {
		t.Errorf("the delivery log's page: %v", deliveries)
	}
}
