//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/polltest"
)

// A secret rotated without a grace (it leaked) stops signing within about
// a second, on the real binary, while deliveries flow to a receiver: before,
// a round in progress signed with the old secret alone until its slice
// (webhooks.slice, 10 s) ran out, 416 deliveries in one run.
func TestARotatedWebhookSecretStopsSigningAtOnce(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail = func(int, string) int { time.Sleep(50 * time.Millisecond); return http.StatusOK }
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	created, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			p.create(fmt.Sprintf("rot-%d", i), f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	polltest.Until(t, 30*time.Second, 50*time.Millisecond, "deliveries flowing", func() bool { return len(rcv.requests()) >= 10 })
	var rotated controller.WebhookSecretJSON
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/webhooks/%d/rotate-secret", created.Subscription.Id), admin,
		map[string]any{"grace_seconds": 0}).want(t, http.StatusOK, "").decode(t, &rotated)
	at := time.Now()
	const settle = 1500 * time.Millisecond // a renewal (1 s) and the attempt in flight
	time.Sleep(settle + 2*time.Second)
	var oldOnly, newOK int
	for _, r := range rcv.requests() {
		if r.at.Before(at.Add(settle)) {
			continue
		}
		switch {
		case webhook.Verify([]byte(rotated.Secret), r.timestamp, r.signature, r.body, time.Now(), time.Hour):
			newOK++
		case webhook.Verify([]byte(created.Secret), r.timestamp, r.signature, r.body, time.Now(), time.Hour):
			oldOnly++
		}
	}
	if oldOnly > 0 || newOK == 0 {
		t.Fatalf("from %s to %s after the rotation: %d deliveries signed with the rotated-out secret alone, %d with the new one",
			settle, settle+2*time.Second, oldOnly, newOK)
	}
}
