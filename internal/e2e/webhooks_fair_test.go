//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/polltest"
)

// An app may have webhooks.max_subscriptions_per_app subscriptions: one
// more is refused (ResourceExhausted, SUBSCRIPTION_QUOTA_EXCEEDED) naming
// the cap. And subscriptions without work never keep others waiting: with
// 520 idle subscriptions of one tenant (more than the deliverer looks at
// in one go, and all older), another tenant's new subscription gets its
// event within seconds.
func TestWebhookIdleSubscriptionsDoNotStarveOthersOnMariaDB(t *testing.T) {
	const limit = 520
	rcv := newReceiver(t)
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_WEBHOOKS_MAX_SUBSCRIPTIONS_PER_APP"] = fmt.Sprint(limit)
	s.Start()
	s.WaitReady(30 * time.Second)

	crowd := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, crowd.AppToken(t))
	for i := range limit {
		_, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: fmt.Sprintf("%s/idle/%d", rcv.srv.URL, i),
			EventTypes: []string{"conversation.created"}})
		if err != nil {
			t.Fatalf("subscription %d: %v", i+1, err)
		}
	}
	_, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/over", EventTypes: []string{"conversation.created"}})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), fmt.Sprintf("max_subscriptions_per_app = %d", limit)) {
		t.Fatalf("subscription %d: %v, want ResourceExhausted naming the cap", limit+1, err)
	}

	other := NewFixture(t, s)
	oev, octx := eventsClient(t, s, other.AppToken(t))
	if _, err := oev.CreateSubscription(octx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/other",
		EventTypes: []string{"conversation.created"}}); err != nil {
		t.Fatal(err)
	}
	// The idle subscriptions have been due for a while: give the deliverer
	// a few looks at them before the event.
	time.Sleep(time.Second)
	p := newPartner(t, s.GRPC(), other.AppToken(t))
	raised := time.Now()
	p.create("fair-1", other.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the other tenant's delivery", func() bool {
		for _, r := range rcv.requests() {
			if r.at.After(raised) {
				return true
			}
		}
		return false
	})
	for _, r := range rcv.requests() {
		if !strings.Contains(string(r.body), fmt.Sprintf(`"tenant_id":%d`, other.Tenant.ID)) {
			t.Fatalf("an idle subscription received %s", r.body)
		}
	}
}

// A deleted subscription's round stops at its next lease renewal: with a
// slow receiver (a second an answer, one request at a time) and a backlog
// of events, no request starts more than a renewal and a request after the
// delete, where the round used to go on through its whole batch.
func TestWebhookDeletedSubscriptionStopsItsRoundOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail = func(int, string) int {
		time.Sleep(time.Second)
		return 200
	}
	s := NewService(t, mysqlEnv(t))
	for k, v := range map[string]string{"MGV_WEBHOOKS_IN_FLIGHT": "1", "MGV_WEBHOOKS_BATCH": "50", "MGV_WEBHOOKS_REQUEST_TIMEOUT": "3s",
		"MGV_WEBHOOKS_HEADER_TIMEOUT": "3s", "MGV_WEBHOOKS_LEASE": "30s", "MGV_WEBHOOKS_SLICE": "30s"} {
		s.Env[k] = v
	}
	s.Start()
	s.WaitReady(30 * time.Second)
	f := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	created, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/slow", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	for i := range 15 {
		p.create(fmt.Sprintf("slow-%d", i), f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	}
	polltest.Until(t, 20*time.Second, 20*time.Millisecond, "two requests", func() bool { return len(rcv.requests()) >= 2 })
	if _, err := ev.DeleteSubscription(ctx, &openv1.DeleteSubscriptionRequest{Id: created.Subscription.Id}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	time.Sleep(6 * time.Second)
	for _, r := range rcv.requests() {
		if r.at.After(deleted.Add(3200 * time.Millisecond)) {
			t.Fatalf("a request %s after the subscription was deleted (%d requests in all)", r.at.Sub(deleted), len(rcv.requests()))
		}
	}
}

// A receiver that fails with an answer in bytes that are not UTF-8 (a
// Latin-1 error page) is retried on the backoff schedule like any other
// failing receiver, and its failure shows in the delivery log by its
// status: the answer itself is not kept.
func TestWebhookAnswerNotInUTF8IsLoggedByItsStatusAndBackedOffOnMariaDB(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	latin1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("service indisponible, r\xe9essayez plus tard \xff"))
	}))
	defer latin1.Close()
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_WEBHOOKS_RETRY_BASE"] = "1m"
	s.Start()
	s.WaitReady(30 * time.Second)
	f := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	created, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: latin1.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	p.create("latin1-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	var logged *openv1.Delivery
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the failed attempt in the delivery log", func() bool {
		res, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: created.Subscription.Id})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Deliveries) == 1 {
			logged = res.Deliveries[0]
		}
		return logged != nil
	})
	if logged.Status != openv1.DeliveryStatus_DELIVERY_STATUS_PENDING || logged.ResponseCode != http.StatusServiceUnavailable ||
		logged.Error != "HTTP 503" {
		t.Fatalf("delivery %+v", logged)
	}
	// The next attempt waits for the backoff (half a minute at least).
	time.Sleep(2 * time.Second)
	mu.Lock()
	n := hits
	mu.Unlock()
	if n != 1 {
		t.Fatalf("the receiver was called %d times in two seconds, want once before the backoff", n)
	}
}

// Disabling the app stops its deliveries within seconds, also those of a
// round already under way: a receiver taking its time over a backlog is
// not served to the end of the backlog (or of the subscription's slice)
// once the app may no longer read the events.
func TestWebhookDisabledAppStopsItsRoundOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail = func(int, string) int {
		time.Sleep(300 * time.Millisecond)
		return http.StatusNoContent
	}
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_WEBHOOKS_IN_FLIGHT"] = "1"
	s.Env["MGV_WEBHOOKS_SLICE"] = "1m"
	s.Start()
	s.WaitReady(30 * time.Second)
	f := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	if _, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}}); err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	const backlog = 40
	for i := range backlog {
		p.create(fmt.Sprintf("backlog-%d", i), f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	}
	polltest.Until(t, 10*time.Second, 20*time.Millisecond, "the first deliveries", func() bool { return len(rcv.requests()) >= 2 })
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/disable", f.App.ID), f.Token(t, f.Admin), nil).want(t, http.StatusOK, "")
	disabled := time.Now()
	time.Sleep(5 * time.Second)
	late := 0
	for _, r := range rcv.requests() {
		if r.at.After(disabled.Add(2 * time.Second)) {
			late++
		}
	}
	if n := len(rcv.requests()); late > 0 || n >= backlog {
		t.Fatalf("%d of %d requests more than 2s after the app was disabled", late, n)
	}
}

// subscribedService starts a service with env and a fixture whose app
// subscribes url to conversation.created; it returns the app's event
// client and the new subscription with its secret.
func subscribedService(t *testing.T, env map[string]string, url string) (*Service, *Fixture, openv1.EventServiceClient, context.Context, *openv1.CreateSubscriptionResponse) {
	t.Helper()
	s := NewService(t, env)
	s.Start()
	f := NewFixture(t, s)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	created, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: url, EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, f, ev, ctx, created
}

// A subscription an admin disabled receives nothing, not even an event its
// app asks to have redelivered: the redelivery waits, pending, and goes
// once the admin enables the subscription again.
func TestWebhookDisabledSubscriptionGetsNoRedeliveryOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	s, f, ev, ctx, created := subscribedService(t, mysqlEnv(t), rcv.srv.URL+"/hook")
	sub := created.Subscription.Id
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	p.create("disabled-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the delivery", func() bool { return len(rcv.requests()) == 1 })
	eventID := rcv.requests()[0].eventID
	path := fmt.Sprintf("/api/v1/webhooks/%d", sub)
	admin := f.Token(t, f.Admin)
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": false}).want(t, http.StatusOK, "")
	var id int64
	if _, err := fmt.Sscan(eventID, &id); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Redeliver(ctx, &openv1.RedeliverRequest{SubscriptionId: sub, Target: &openv1.RedeliverRequest_EventId{EventId: id}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("the disabled subscription received %d requests, want only the delivery before it was disabled", n)
	}
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": true}).want(t, http.StatusOK, "")
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the redelivery once enabled", func() bool { return len(rcv.requests()) == 2 })
	if again := rcv.requests()[1]; again.eventID != eventID {
		t.Fatalf("redelivered event %s, want %s", again.eventID, eventID)
	}
}

// A round that fails past the retry window while an admin enables the
// subscription again loses to the enable: the subscription stays active,
// the event is retried, and the delivery log shows the delivery pending,
// not failed.
func TestWebhookRoundGivingUpAgainstAnEnableLogsPendingOnMariaDB(t *testing.T) {
	second, third := make(chan struct{}), make(chan struct{})
	rcv := newReceiver(t)
	rcv.fail = func(n int, _ string) int {
		switch n {
		case 1:
			return http.StatusServiceUnavailable
		case 2:
			close(second)
		case 3:
			close(third)
		}
		// Past the retry window (1s), within the request timeout (2s).
		time.Sleep(1500 * time.Millisecond)
		return http.StatusServiceUnavailable
	}
	env := fastWebhooksEnv(t, "1s")
	env["MGV_WEBHOOKS_RETRY_WINDOW"] = "1s"
	s, f, ev, ctx, created := subscribedService(t, env, rcv.srv.URL+"/hook")
	sub := created.Subscription.Id
	newPartner(t, s.GRPC(), f.AppToken(t)).create("enable-wins-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	wait := func(c chan struct{}, what string) {
		select {
		case <-c:
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	wait(second, "second attempt")
	authCall(t, s, http.MethodPatch, fmt.Sprintf("/api/v1/webhooks/%d", sub), f.Token(t, f.Admin), map[string]any{"enabled": true}).
		want(t, http.StatusOK, "")
	// The third attempt is in flight: the log is as the second's round
	// left it.
	wait(third, "third attempt")
	res, err := ev.ListDeliveries(ctx, &openv1.ListDeliveriesRequest{SubscriptionId: sub})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != openv1.DeliveryStatus_DELIVERY_STATUS_PENDING || res.Deliveries[0].Attempts != 2 {
		t.Fatalf("delivery log %v, want the delivery pending after two attempts", res.Deliveries)
	}
	subs, err := ev.ListSubscriptions(ctx, &openv1.ListSubscriptionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs.Subscriptions) != 1 || subs.Subscriptions[0].Status != openv1.SubscriptionStatus_SUBSCRIPTION_STATUS_ACTIVE {
		t.Fatalf("subscriptions %v, want it active", subs.Subscriptions)
	}
}

// A subscription has at most webhooks.max_pending_redeliveries pending:
// one more, asked for by its app (gRPC) or an admin (HTTP), is refused
// naming the cap, and nothing is queued or dropped. The redeliveries
// pending go once the subscription is enabled, and then another may be
// asked for.
func TestWebhookPendingRedeliveriesAreCappedOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	env := mysqlEnv(t)
	env["MGV_WEBHOOKS_MAX_PENDING_REDELIVERIES"] = "2"
	s, f, ev, ctx, created := subscribedService(t, env, rcv.srv.URL+"/hook")
	sub := created.Subscription.Id
	newPartner(t, s.GRPC(), f.AppToken(t)).create("capped-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the delivery", func() bool { return len(rcv.requests()) == 1 })
	var eventID int64
	if _, err := fmt.Sscan(rcv.requests()[0].eventID, &eventID); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/webhooks/%d", sub)
	admin := f.Token(t, f.Admin)
	// Disabled, the subscription keeps its redeliveries pending.
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": false}).want(t, http.StatusOK, "")
	redeliver := func() error {
		_, err := ev.Redeliver(ctx, &openv1.RedeliverRequest{SubscriptionId: sub, Target: &openv1.RedeliverRequest_EventId{EventId: eventID}})
		return err
	}
	for i := range 2 {
		if err := redeliver(); err != nil {
			t.Fatalf("redelivery %d: %v", i+1, err)
		}
	}
	err := redeliver()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "max_pending_redeliveries = 2") {
		t.Fatalf("a third pending redelivery: %v, want ResourceExhausted naming the cap", err)
	}
	r := authCall(t, s, http.MethodPost, path+"/redeliveries", admin, map[string]any{"event_id": eventID}).
		want(t, http.StatusConflict, "REDELIVERY_QUOTA_EXCEEDED")
	if r.Code != 40944 || r.Metadata["max_pending_redeliveries"] != "2" {
		t.Fatalf("an admin's third pending redelivery: code %d, metadata %v; want 40944 naming the cap", r.Code, r.Metadata)
	}
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": true}).want(t, http.StatusOK, "")
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the two redeliveries", func() bool { return len(rcv.requests()) == 3 })
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "a redelivery accepted again", func() bool { return redeliver() == nil })
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the third redelivery", func() bool { return len(rcv.requests()) == 4 })
	for _, q := range rcv.requests() {
		if q.eventID != fmt.Sprint(eventID) {
			t.Fatalf("the receiver got event %s, want only %d", q.eventID, eventID)
		}
	}
}

// An admin rotates a subscription's signing secret: with a grace, the
// deliveries carry a signature by each secret, so the receiver verifies
// them with the old secret (in Go and with the Python verifier) as with
// the new one; without one, only the new secret signs. A grace past 7 days
// is refused naming the field.
func TestWebhookSecretRotationWithAGraceOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	s, f, _, _, created := subscribedService(t, mysqlEnv(t), rcv.srv.URL+"/hook")
	path := fmt.Sprintf("/api/v1/webhooks/%d/rotate-secret", created.Subscription.Id)
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	deliver := func(origin string) received {
		t.Helper()
		n := len(rcv.requests())
		p.create(origin, f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
		polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the delivery of "+origin, func() bool { return len(rcv.requests()) > n })
		return rcv.requests()[n]
	}
	verifies := func(q received, secret string) bool {
		return webhook.Verify([]byte(secret), q.timestamp, q.signature, q.body, time.Now(), time.Hour)
	}
	first := created.Secret
	if q := deliver("rotate-1"); !verifies(q, first) {
		t.Fatalf("the first delivery %q does not verify with the subscription's secret", q.signature)
	}

	authCall(t, s, http.MethodPost, path, admin, map[string]any{"grace_seconds": 604801}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	var graced struct {
		Secret         string     `json:"secret"`
		OldSecretUntil *time.Time `json:"old_secret_until"`
	}
	authCall(t, s, http.MethodPost, path, admin, map[string]any{"grace_seconds": 3600}).want(t, http.StatusOK, "").decode(t, &graced)
	if graced.Secret == "" || graced.Secret == first || graced.OldSecretUntil == nil || time.Until(*graced.OldSecretUntil) < 59*time.Minute {
		t.Fatalf("rotation with a grace: %+v", graced)
	}
	q := deliver("rotate-2")
	if strings.Count(q.signature, "v1=") != 2 || !verifies(q, first) || !verifies(q, graced.Secret) {
		t.Fatalf("a delivery during the grace, %q: want signatures by the old and the new secret", q.signature)
	}
	if n := pythonVerify(t, first, []faultRequest{{EventID: q.eventID, Timestamp: q.timestamp, Signature: q.signature, Body: string(q.body)}}); n != 1 {
		t.Fatalf("the Python verifier verified %d deliveries with the old secret, want 1", n)
	}

	var ended struct {
		Secret         string     `json:"secret"`
		OldSecretUntil *time.Time `json:"old_secret_until"`
	}
	authCall(t, s, http.MethodPost, path, admin, nil).want(t, http.StatusOK, "").decode(t, &ended)
	if ended.Secret == "" || ended.Secret == graced.Secret || ended.OldSecretUntil != nil {
		t.Fatalf("rotation without a grace: %+v", ended)
	}
	q = deliver("rotate-3")
	if !verifies(q, ended.Secret) || verifies(q, graced.Secret) || verifies(q, first) {
		t.Fatalf("a delivery after a rotation without a grace, %q: want a signature by the newest secret only", q.signature)
	}
}

// A subscription left disabled past the events' retention does not skip
// the events it lost in silence: enabled again, it is disabled by the
// deliverer naming the events that expired, its cursor past them; enabled
// once more, it goes on from the oldest event kept. Its app's deletion
// then takes it, and its delivery log, with it.
func TestWebhookSubscriptionPassedByRetentionOnMariaDB(t *testing.T) {
	rcv := newReceiver(t)
	s, f, _, _, created := subscribedService(t, mysqlEnv(t), rcv.srv.URL+"/hook")
	sub := created.Subscription.Id
	path := fmt.Sprintf("/api/v1/webhooks/%d", sub)
	admin := f.Token(t, f.Admin)
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": false}).want(t, http.StatusOK, "")
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	for i := range 3 {
		p.create(fmt.Sprintf("expired-%d", i), f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	}
	// What the instances' trimmer does once events.retention has passed.
	if _, err := dao.NewEvents(f.DB).Trim(t.Context(), time.Now().Add(time.Minute), 1000); err != nil {
		t.Fatal(err)
	}
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": true}).want(t, http.StatusOK, "")
	var hook controller.WebhookJSON
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the disabling", func() bool {
		authCall(t, s, http.MethodGet, path, admin, nil).want(t, http.StatusOK, "").decode(t, &hook)
		return hook.Status == "disabled"
	})
	if !strings.Contains(hook.DisabledReason, "expired (events.retention) before they were delivered; enable the subscription to go on from event") {
		t.Fatalf("disabled with %q", hook.DisabledReason)
	}
	t.Logf("disabled: %s (cursor %d)", hook.DisabledReason, hook.Cursor)
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("the receiver got %d requests for expired events", n)
	}
	p.create("kept", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	authCall(t, s, http.MethodPatch, path, admin, map[string]any{"enabled": true}).want(t, http.StatusOK, "")
	polltest.Until(t, 10*time.Second, 50*time.Millisecond, "the event kept", func() bool { return len(rcv.requests()) == 1 })
	if got := rcv.requests()[0].eventID; got != fmt.Sprint(hook.Cursor+1) {
		t.Fatalf("delivered event %s, want %d, the oldest kept", got, hook.Cursor+1)
	}

	var app struct{ AppID int64 }
	if err := f.DB.Raw("SELECT app_id FROM webhook_subscriptions WHERE id = ?", sub).Scan(&app).Error; err != nil {
		t.Fatal(err)
	}
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/apps/%d", app.AppID), admin, nil).want(t, http.StatusOK, "")
	authCall(t, s, http.MethodGet, path, admin, nil).want(t, http.StatusNotFound, "")
	var left int64
	if err := f.DB.Raw("SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = ?", sub).Scan(&left).Error; err != nil || left != 0 {
		t.Fatalf("%d deliveries of the deleted app's subscription left (%v)", left, err)
	}
}
