//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/model"
)

// tenantsBench is a service on MariaDB with two tenants: a, whose
// subscriptions go to a receiver answering 200 after slowFor (within every
// timeout), and b, with one subscription to a fast receiver.
type tenantsBench struct {
	s      *Service
	fa, fb *Fixture
	pa, pb *partner

	// slowHits counts the requests a's receiver took.
	slowHits atomic.Int64

	mu  sync.Mutex
	got []time.Time
}

func newTenantsBench(t *testing.T, slowFor time.Duration, aSubscriptions int) *tenantsBench {
	t.Helper()
	b := &tenantsBench{}
	quit := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.slowHits.Add(1)
		select {
		case <-time.After(slowFor):
		case <-quit:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.got = append(b.got, time.Now())
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(fast.Close)

	b.s = NewService(t, mysqlEnv(t))
	b.s.Start()
	b.s.WaitReady(30 * time.Second)
	b.fa, b.fb = NewFixture(t, b.s), NewFixture(t, b.s)
	aev, actx := eventsClient(t, b.s, b.fa.AppToken(t))
	for j := range aSubscriptions {
		if _, err := aev.CreateSubscription(actx, &openv1.CreateSubscriptionRequest{Url: fmt.Sprintf("%s/a/%d", slow.URL, j),
			EventTypes: []string{"conversation.created"}}); err != nil {
			t.Fatal(err)
		}
	}
	bev, bctx := eventsClient(t, b.s, b.fb.AppToken(t))
	if _, err := bev.CreateSubscription(bctx, &openv1.CreateSubscriptionRequest{Url: fast.URL + "/b", EventTypes: []string{"conversation.created"}}); err != nil {
		t.Fatal(err)
	}
	b.pa, b.pb = newPartner(t, b.s.GRPC(), b.fa.AppToken(t)), newPartner(t, b.s.GRPC(), b.fb.AppToken(t))
	// The slow receiver answers at once when the test ends, so that the
	// service stops without waiting for its requests.
	t.Cleanup(func() { close(quit) })
	return b
}

// bEvent raises an event of b and answers how long its delivery took; -1
// when it did not come within.
func (b *tenantsBench) bEvent(label string, within time.Duration) time.Duration {
	at := time.Now()
	b.pb.create(label+"-"+newTag(), b.fb.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	for time.Since(at) < within {
		b.mu.Lock()
		for _, g := range b.got {
			if g.After(at) {
				b.mu.Unlock()
				return g.Sub(at)
			}
		}
		b.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return -1
}

// aEvent raises an event of a, which its subscriptions take slowly.
func (b *tenantsBench) aEvent() {
	b.pa.create("noisy-"+newTag(), b.fa.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
}

// A tenant with 600 subscriptions (30 apps of 20, the default caps; more
// than a look for work reads) to a receiver that answers in 6 s raises
// one event: it holds its share of the workers while the rest of its
// subscriptions wait, all longer than another tenant's, and that tenant's
// event is still delivered within a second or so, not after the first
// tenant's subscriptions have gone through the window (half a minute).
// The first tenant's subscriptions past the first are copies of it written
// straight into the table, as its apps would have made them.
func TestWebhookManySlowSubscriptionsLeaveAnotherTenantFastOnMariaDB(t *testing.T) {
	const subscriptions = 600
	b := newTenantsBench(t, 6*time.Second, 1)
	err := b.fa.DB.Exec(fmt.Sprintf(`INSERT INTO webhook_subscriptions (tenant_id, app_id, url, event_types, secret_sealed, status,
  event_cursor, failing_since, next_attempt_at, lease_until, created_at, updated_at)
SELECT s.tenant_id, s.app_id, CONCAT(s.url, '/', q.seq), s.event_types, s.secret_sealed, s.status,
  s.event_cursor, s.failing_since, s.next_attempt_at - INTERVAL 1 MINUTE, s.lease_until, s.created_at, s.updated_at
FROM webhook_subscriptions AS s JOIN seq_1_to_%d AS q WHERE s.tenant_id = ?`, subscriptions-1), b.fa.Tenant.ID).Error
	if err != nil {
		t.Fatal(err)
	}
	idle := b.bEvent("idle", 30*time.Second)
	t.Logf("the other tenant idle: delivered after %v", idle)

	b.aEvent()
	time.Sleep(2 * time.Second)
	noisy := b.bEvent("noisy", 20*time.Second)
	t.Logf("the first tenant's %d subscriptions at a receiver answering in 6 s (%d requests taken): delivered after %v",
		subscriptions, b.slowHits.Load(), noisy)
	if noisy < 0 || noisy > 2*time.Second+10*idle {
		t.Errorf("another tenant's waiting subscriptions delay the delivery: %v (idle %v)", noisy, idle)
	}
}

// A tenant holding a million pending redeliveries (which the defaults
// allow: 1,000 on each of 1,000 subscriptions) at a
// receiver that answers in 6 s leaves another tenant's deliveries as fast
// as before: a look for work reads the subscriptions' earliest pending
// redelivery, not the delivery log. The redeliveries are written straight
// into the log, each subscription's earliest with them, as the redeliver
// call does; MGV_TEST_REDO_ROWS (default 1,000,000) sets how many.
// Grouping the log for each look took seconds with them.
func TestWebhookRedeliveryBacklogLeavesAnotherTenantFastOnMariaDB(t *testing.T) {
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("MGV_TEST_REDO_ROWS")); err == nil {
		rows = v
	}
	b := newTenantsBench(t, 6*time.Second, 20)
	b.aEvent()
	sample := func(label string) (worst time.Duration, all []time.Duration) {
		for range 5 {
			d := b.bEvent(label, 20*time.Second)
			if d < 0 {
				d = time.Hour
			}
			all = append(all, d)
			worst = max(worst, d)
			time.Sleep(200 * time.Millisecond)
		}
		return worst, all
	}
	_, idle := sample("idle")
	t.Logf("no redelivery pending: the other tenant's deliveries took %v", idle)

	var subs []int64
	if err := b.fa.DB.Model(&model.WebhookSubscription{}).Where("tenant_id = ?", b.fa.Tenant.ID).Pluck("id", &subs).Error; err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, id := range subs {
		err := b.fa.DB.Exec(fmt.Sprintf(`INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, event_type, redelivery, status, next_attempt_at)
SELECT ?, ?, 1, 'conversation.created', 1, 'pending', UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE FROM seq_1_to_%d`, rows/len(subs)), b.fa.Tenant.ID, id).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.fa.DB.Exec("UPDATE webhook_subscriptions SET redeliver_at = UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE WHERE tenant_id = ?", b.fa.Tenant.ID).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pending redeliveries written in %v", rows/len(subs)*len(subs), time.Since(start).Round(time.Second))
	time.Sleep(3 * time.Second)
	worst, noisy := sample("noisy")
	t.Logf("with them: the other tenant's deliveries took %v", noisy)
	slices.Sort(idle)
	if worst > 750*time.Millisecond+10*max(idle[len(idle)/2], 20*time.Millisecond) {
		t.Errorf("another tenant's pending redeliveries delay the deliveries: %v (idle %v)", noisy, idle)
	}
	t.Logf("the first tenant's receiver took %d requests", b.slowHits.Load())
}
