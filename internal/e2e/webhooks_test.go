//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/polltest"
)

// receiver is a partner's webhook endpoint: it records every request and
// answers with what fail says (200 by default).
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []received
	fail func(n int, eventID string) int
}

type received struct {
	eventID, timestamp, signature string
	body                          []byte
	at                            time.Time
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Get(webhook.HeaderEventID), req.Header.Get(webhook.HeaderTimestamp),
			req.Header.Get(webhook.HeaderSignature), body, time.Now()})
		n, fail := len(r.got), r.fail
		r.mu.Unlock()
		code := http.StatusOK
		if fail != nil {
			code = fail(n, req.Header.Get(webhook.HeaderEventID))
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) port() string {
	_, p, _ := net.SplitHostPort(r.srv.Listener.Addr().String())
	return p
}

func eventsClient(t *testing.T, s *Service, token string) (openv1.EventServiceClient, context.Context) {
	t.Helper()
	return openv1.NewEventServiceClient(s.GRPC()), metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// With loopback receivers not allowed (as in pro), a subscription to a
// literal loopback, private or link-local address is refused at creation
// naming the field, and one to a name that resolves to such an address is
// accepted but never connected to: the delivery fails at connect time and
// the listener sees nothing. A redirect is a failed attempt whose target is
// never contacted.
func TestWebhookSSRFRefusalsOnMariaDB(t *testing.T) {
	inside := newReceiver(t)
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_WEBHOOKS_ALLOW_LOOPBACK"] = "false"
	s.Env["MGV_WEBHOOKS_RETRY_BASE"] = "200ms"
	s.Env["MGV_WEBHOOKS_RETRY_MAX"] = "1s"
	s.Env[webhookHostsEnv] = "loop.partner.test=127.0.0.1,lan.partner.test=10.1.2.3,meta.partner.test=169.254.169.254,mapped.partner.test=::ffff:127.0.0.1"
	s.Start()
	s.WaitReady(30 * time.Second)
	f := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	types := []string{"conversation.created"}

	for _, u := range []string{
		"http://127.0.0.1:" + inside.port() + "/hook",
		"https://127.0.0.1:" + inside.port() + "/hook",
		"https://[::1]:" + inside.port() + "/hook",
		"https://10.0.0.1/hook",
		"https://192.168.1.10/hook",
		"https://169.254.169.254/latest/meta-data",
		"https://[fe80::1]/hook",
		"https://0.0.0.0/hook",
		"http://hooks.partner.test/hook",
		"https://user:pw@hooks.partner.test/hook",
	} {
		_, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: u, EventTypes: types})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "url") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming url", u, err)
		}
	}

	var subs []int64
	for _, host := range []string{"loop.partner.test", "lan.partner.test", "meta.partner.test", "mapped.partner.test", "localhost"} {
		res, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: "https://" + host + ":" + inside.port() + "/hook", EventTypes: types})
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		subs = append(subs, res.Subscription.Id)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	p.create("ssrf-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)

	for i, id := range subs {
		polltest.Until(t, 30*time.Second, 50*time.Millisecond, fmt.Sprintf("a failed attempt of subscription %d", id), func() bool {
			res, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: id})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range res.Deliveries {
				if d.Attempts > 0 {
					if d.Status == openv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED || !strings.Contains(d.Error, "not allowed") {
						t.Fatalf("subscription %d: delivery %+v, want refused at connect", i, d)
					}
					// The app reads the log: the internal address its name
					// resolved to is not in it.
					for _, inner := range []string{"127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"} {
						if strings.Contains(d.Error, inner) {
							t.Fatalf("subscription %d: error %q tells the internal address %s", i, d.Error, inner)
						}
					}
					return true
				}
			}
			return false
		})
	}
	if n := len(inside.requests()); n != 0 {
		t.Fatalf("the internal listener received %d requests", n)
	}
}

// A delivery is signed, carries the event's id, and is retried with the
// same id while the receiver fails; a redirect is not followed.
func TestWebhookDeliveryOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail = func(n int, _ string) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	target := newReceiver(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL+"/stolen", http.StatusFound)
	}))
	defer redirect.Close()

	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_WEBHOOKS_RETRY_BASE"] = "200ms"
	s.Env["MGV_WEBHOOKS_RETRY_MAX"] = "1s"
	s.Start()
	s.WaitReady(30 * time.Second)
	f := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	created, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("secret %q", created.Secret)
	}
	redir, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: redirect.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := ev.ListSubscriptions(ctx, &openv1.ListSubscriptionsRequest{})
	if err != nil || len(list.Subscriptions) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if strings.Contains(fmt.Sprint(list), created.Secret) {
		t.Fatal("the secret is listed")
	}

	p := newPartner(t, s.GRPC(), f.AppToken(t))
	convID := p.create("hook-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	polltest.Until(t, 30*time.Second, 50*time.Millisecond, "the delivery after two failures", func() bool { return len(rcv.requests()) >= 3 })
	got := rcv.requests()
	for i, r := range got {
		if r.eventID != got[0].eventID || string(r.body) != string(got[0].body) {
			t.Fatalf("attempt %d: event %s body %s; attempt 1: event %s body %s", i+1, r.eventID, r.body, got[0].eventID, got[0].body)
		}
		if !webhook.Verify([]byte(created.Secret), r.timestamp, r.signature, r.body, time.Now(), 5*time.Minute) {
			t.Fatalf("attempt %d: signature %s does not verify", i+1, r.signature)
		}
	}
	var body struct {
		ID       int64          `json:"id"`
		Type     string         `json:"type"`
		TenantID int64          `json:"tenant_id"`
		Data     map[string]any `json:"data"`
	}
	if err := json.Unmarshal(got[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(body.ID) != got[0].eventID || body.Type != "conversation.created" || body.TenantID != f.Tenant.ID ||
		fmt.Sprint(body.Data["conversation_id"]) != fmt.Sprint(convID) {
		t.Fatalf("body %s", got[0].body)
	}
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the delivery log", func() bool {
		res, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: created.Subscription.Id})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Deliveries) == 1 && res.Deliveries[0].Status == openv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED &&
			res.Deliveries[0].Attempts == 3 && res.Deliveries[0].ResponseCode == http.StatusNoContent
	})

	// Redirects: the attempt fails with the 302 and the target is never hit.
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the redirected attempt", func() bool {
		res, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: redir.Subscription.Id})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Deliveries) == 1 && res.Deliveries[0].ResponseCode == http.StatusFound &&
			res.Deliveries[0].Status == openv1.DeliveryStatus_DELIVERY_STATUS_PENDING
	})
	if n := len(target.requests()); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}

	// Redeliver sends the same event again under its id.
	before := len(rcv.requests())
	d, err := ev.Redeliver(ctx, &openv1.RedeliverRequest{SubscriptionId: created.Subscription.Id,
		Target: &openv1.RedeliverRequest_EventId{EventId: body.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Delivery.EventId != body.ID || d.Delivery.Status != openv1.DeliveryStatus_DELIVERY_STATUS_PENDING {
		t.Fatalf("redeliver: %+v", d.Delivery)
	}
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the redelivery", func() bool { return len(rcv.requests()) > before })
	if again := rcv.requests()[before]; again.eventID != got[0].eventID || string(again.body) != string(got[0].body) {
		t.Fatalf("redelivered event %s body %s", again.eventID, again.body)
	}

	// Only an event of a type the subscription takes is redelivered.
	if _, err := p.conv.DeleteConversation(p.ctx, &openv1.DeleteConversationRequest{ConversationId: convID}); err != nil {
		t.Fatal(err)
	}
	var deleted controller.EventPageJSON
	authCall(t, s, http.MethodGet, "/api/v1/events?types=conversation.deleted", f.Token(t, f.Admin), nil).want(t, http.StatusOK, "").decode(t, &deleted)
	if len(deleted.Events) != 1 {
		t.Fatalf("conversation.deleted events: %+v", deleted.Events)
	}
	_, err = ev.Redeliver(ctx, &openv1.RedeliverRequest{SubscriptionId: created.Subscription.Id,
		Target: &openv1.RedeliverRequest_EventId{EventId: deleted.Events[0].ID}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "takes only conversation.created") {
		t.Fatalf("redelivering a conversation.deleted to a conversation.created subscription: %v", err)
	}
	// An event or a delivery the subscription cannot have (another
	// subscription's delivery, an id of no event or delivery) is unknown,
	// and the answer names which of the ids.
	redirLog, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: redir.Subscription.Id})
	if err != nil || len(redirLog.Deliveries) == 0 {
		t.Fatalf("the redirected subscription's log: %v %v", redirLog, err)
	}
	sub := created.Subscription.Id
	for _, c := range []struct {
		field string
		req   *openv1.RedeliverRequest
	}{
		{"delivery_id", &openv1.RedeliverRequest{SubscriptionId: sub, Target: &openv1.RedeliverRequest_DeliveryId{DeliveryId: redirLog.Deliveries[0].Id}}},
		{"delivery_id", &openv1.RedeliverRequest{SubscriptionId: sub, Target: &openv1.RedeliverRequest_DeliveryId{DeliveryId: 1 << 62}}},
		{"event_id", &openv1.RedeliverRequest{SubscriptionId: sub, Target: &openv1.RedeliverRequest_EventId{EventId: 1 << 62}}},
	} {
		_, err := ev.Redeliver(ctx, c.req)
		if code, _, md := rpcReason(err); code != codes.NotFound || md["field"] != c.field {
			t.Fatalf("Redeliver %v: %v (metadata %v), want NOT_FOUND naming %s", c.req.Target, err, md, c.field)
		}
	}
	r := authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/webhooks/%d/redeliveries", sub), f.Token(t, f.Admin),
		map[string]any{"event_id": int64(1) << 62}).want(t, http.StatusNotFound, "")
	if r.Metadata["field"] != "event_id" || !strings.HasPrefix(r.Msg, "event_id") {
		t.Fatalf("HTTP redelivery of no event: field %q, message %q", r.Metadata["field"], r.Msg)
	}

	// Another tenant's app sees none of it.
	other := NewFixture(t, s)
	oev, octx := eventsClient(t, s, other.AppToken(t))
	if _, err := oev.ListDeliveries(octx, &openv1.ListDeliveriesRequest{SubscriptionId: created.Subscription.Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("other tenant's ListDeliveries: %v", err)
	}
	if _, err := oev.DeleteSubscription(octx, &openv1.DeleteSubscriptionRequest{Id: created.Subscription.Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("other tenant's delete: %v", err)
	}
	if _, err := ev.DeleteSubscription(ctx, &openv1.DeleteSubscriptionRequest{Id: created.Subscription.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: created.Subscription.Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted subscription's deliveries: %v", err)
	}
}

// webhookHostsEnv maps receiver names to addresses in the binary under
// test (never in pro), standing in for a hostile DNS zone.
const webhookHostsEnv = "MGV_TEST_WEBHOOK_HOSTS"
