package webhook

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// ctxStore is memStore with the property every database/sql store has: a
// call whose context is already cancelled fails (BeginTx, Exec, Query).
type ctxStore struct {
	*memStore
	mu sync.Mutex
	// bounds are the time left to the deadline of each Record made with a
	// context that has one.
	bounds []time.Duration
}

func (c *ctxStore) Candidates(ctx context.Context, limit int, skip []int64) ([]model.WebhookSubscription, map[int64]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return c.memStore.Candidates(ctx, limit, skip)
}

func (c *ctxStore) Claim(ctx context.Context, id int64, owner string, lease time.Duration) (*model.WebhookSubscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.memStore.Claim(ctx, id, owner, lease)
}

func (c *ctxStore) Renew(ctx context.Context, id int64, owner, secret string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.memStore.Renew(ctx, id, owner, secret, lease)
}

func (c *ctxStore) Release(ctx context.Context, id int64, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.memStore.Release(ctx, id, owner)
}

func (c *ctxStore) DueRedeliveries(ctx context.Context, id int64, limit int) ([]model.WebhookDelivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.memStore.DueRedeliveries(ctx, id, limit)
}

func (c *ctxStore) Attempted(ctx context.Context, id int64, events []int64) ([]model.WebhookDelivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.memStore.Attempted(ctx, id, events)
}

func (c *ctxStore) Record(ctx context.Context, owner string, read model.WebhookSubscription, s *model.WebhookSubscription, rows []model.WebhookDelivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at, ok := ctx.Deadline(); ok {
		c.mu.Lock()
		c.bounds = append(c.bounds, time.Until(at))
		c.mu.Unlock()
	}
	return c.memStore.Record(ctx, owner, read, s, rows)
}

// arrivals counts requests as they arrive, before the receiver answers.
type arrivals struct {
	rcv *memReceiver
	n   atomic.Int64
}

func (a *arrivals) Post(ctx context.Context, url string, h map[string]string, body []byte) (Result, error) {
	a.n.Add(1)
	return a.rcv.Post(ctx, url, h, body)
}

// stopTest is one subscription on a store that refuses a cancelled
// context, its log, and a receiver that takes 300 ms to answer.
type stopTest struct {
	mem  *memStore
	st   *ctxStore
	log  *memLog
	rcv  *memReceiver
	seal *Sealer
	opts DeliverOptions
}

func newStopTest(t *testing.T, sub model.WebhookSubscription, inFlight int, retry Retry) *stopTest {
	t.Helper()
	sealer, _ := NewSealer("test key")
	sub.SecretSealed, _ = sealer.Seal("whsec_x", secretAAD(1, 2))
	sub.ID, sub.TenantID, sub.AppID, sub.URL, sub.EventTypes = 1, 1, 2, "https://r.example/", "a,b"
	mem := &memStore{subs: map[int64]*model.WebhookSubscription{1: &sub}}
	return &stopTest{
		mem: mem, st: &ctxStore{memStore: mem}, log: &memLog{}, seal: sealer,
		rcv: &memReceiver{sec: []byte("whsec_x"), delay: 300 * time.Millisecond},
		opts: DeliverOptions{Owner: "old", Workers: 1, InFlight: inFlight, Batch: 8, Poll: 10 * time.Millisecond,
			Lease: time.Minute, Slice: 10 * time.Second, RequestTimeout: time.Second, Retry: retry, Log: zerolog.Nop()},
	}
}

// stopWhileInFlight starts a deliverer, waits until n requests have
// reached the receiver (which is still answering them) and stops it.
func (s *stopTest) stopWhileInFlight(t *testing.T, n int64) (arrived int64) {
	t.Helper()
	a := &arrivals{rcv: s.rcv}
	d := NewDeliverer(s.st, s.log, a, s.seal, s.opts)
	d.Start(context.Background())
	polltest.Until(t, 5*time.Second, time.Millisecond, "the requests in flight", func() bool { return a.n.Load() == n })
	d.Stop()
	return a.n.Load()
}

// runAgain runs another deliverer (the next process) until done.
func (s *stopTest) runAgain(t *testing.T, what string, done func() bool) {
	t.Helper()
	s.rcv.mu.Lock()
	s.rcv.delay = 0
	s.rcv.mu.Unlock()
	o := s.opts
	o.Owner = "new"
	d := NewDeliverer(s.st, s.log, s.rcv, s.seal, o)
	d.Start(context.Background())
	defer d.Stop()
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, what, done)
	// Anything it would send again would have been sent by now.
	time.Sleep(100 * time.Millisecond)
}

func (s *stopTest) rows() []model.WebhookDelivery {
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	return slices.Clone(s.mem.rows)
}

// A stop (a clean stop, or the old process of an upgrade) lets the
// requests in flight finish and records them although it has cancelled the
// deliverer's context: the cursor moves past what the receiver
// acknowledged, the lease is handed back, and the next process sends each
// event once.
func TestDelivererStopRecordsTheRequestsInFlight(t *testing.T) {
	s := newStopTest(t, model.WebhookSubscription{Status: model.WebhookActive}, 4, Retry{Base: time.Second, Max: time.Second, Window: time.Hour})
	for range 4 {
		s.log.add("a")
	}
	s.stopWhileInFlight(t, 4)
	got := s.rcv.ids()
	sub := s.mem.sub(1)
	if len(got) != 4 || sub.EventCursor != 4 {
		t.Fatalf("after the stop: the receiver acknowledged %v, the cursor is %d (want 4)", got, sub.EventCursor)
	}
	if sub.LeaseOwner != "" {
		t.Fatalf("the lease is still held by %q", sub.LeaseOwner)
	}
	for _, r := range s.rows() {
		if r.Status != model.DeliveryDelivered || r.Attempts != 1 {
			t.Fatalf("delivery log %+v", s.rows())
		}
	}
	if n := len(s.rows()); n != 4 {
		t.Fatalf("%d deliveries logged, want 4", n)
	}
	s.st.mu.Lock()
	for _, b := range s.st.bounds {
		if b > storeWithin {
			t.Errorf("a record is bounded by %s, more than %s", b, storeWithin)
		}
	}
	s.st.mu.Unlock()

	s.log.add("b")
	s.runAgain(t, "the next process delivered event 5", func() bool { return s.mem.sub(1).EventCursor == 5 })
	if got := s.rcv.ids(); !slices.Equal(sortedNumeric(got), []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("the receiver got %v, want each of 1..5 once", got)
	}
}

// Once Stop is called no attempt starts: the round that was sending one
// event at a time records the one in flight and leaves the rest to the
// next process.
func TestDelivererStartsNoAttemptAfterStop(t *testing.T) {
	s := newStopTest(t, model.WebhookSubscription{Status: model.WebhookActive}, 1, Retry{Base: time.Second, Max: time.Second, Window: time.Hour})
	for range 4 {
		s.log.add("a")
	}
	if n := s.stopWhileInFlight(t, 1); n != 1 {
		t.Fatalf("%d requests sent by a deliverer stopped during the first", n)
	}
	if c := s.mem.sub(1).EventCursor; c != 1 {
		t.Fatalf("cursor %d after the stop, want 1", c)
	}
	s.runAgain(t, "the next process caught up", func() bool { return s.mem.sub(1).EventCursor == 4 })
	if got := s.rcv.ids(); !slices.Equal(sortedNumeric(got), []string{"1", "2", "3", "4"}) {
		t.Fatalf("the receiver got %v, want each of 1..4 once", got)
	}
}

// A redelivery in flight at the stop is recorded as delivered, so the next
// process does not send it again.
func TestDelivererStopRecordsTheRedeliveriesInFlight(t *testing.T) {
	s := newStopTest(t, model.WebhookSubscription{Status: model.WebhookActive, EventCursor: 1}, 4, Retry{Base: time.Second, Max: time.Second, Window: time.Hour})
	s.log.add("a")
	s.mem.rows = []model.WebhookDelivery{{ID: 1, TenantID: 1, SubscriptionID: 1, EventID: 1, EventType: "a", Redelivery: true,
		Status: model.DeliveryPending, NextAttemptAt: time.Now().Add(-time.Second), CreatedAt: time.Now()}}
	s.stopWhileInFlight(t, 1)
	if r := s.rows()[0]; r.Status != model.DeliveryDelivered || r.Attempts != 1 || r.ResponseCode != 200 {
		t.Fatalf("the redelivery after the stop: %+v", r)
	}
	s.log.add("a")
	s.runAgain(t, "the next process delivered event 2", func() bool { return s.mem.sub(1).EventCursor == 2 })
	if got := s.rcv.ids(); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("the receiver got %v, want the redelivery of 1 once, then 2", got)
	}
}

// An attempt in flight at the stop that ends the retry window disables the
// subscription with its reason, though the deliverer is stopping.
func TestDelivererStopRecordsADisablingInFlight(t *testing.T) {
	s := newStopTest(t, model.WebhookSubscription{Status: model.WebhookActive, Attempts: 3, FailingSince: time.Now().Add(-time.Hour)},
		4, Retry{Base: time.Second, Max: time.Second, Window: time.Minute})
	s.rcv.down = true
	s.log.add("a")
	s.stopWhileInFlight(t, 1)
	sub := s.mem.sub(1)
	if sub.Status != model.WebhookDisabled || sub.DisabledReason == "" {
		t.Fatalf("after the stop: %+v", sub)
	}
	if rows := s.rows(); len(rows) != 1 || rows[0].Status != model.DeliveryFailed || rows[0].Attempts != 1 {
		t.Fatalf("delivery log %+v", rows)
	}
}

// Redeliveries read just before the stop are not sent once it is called:
// they stay due, untouched, for the next owner.
func TestDelivererStartsNoRedeliveryAfterStop(t *testing.T) {
	s := newStopTest(t, model.WebhookSubscription{Status: model.WebhookActive, EventCursor: 1}, 4, Retry{Base: time.Second, Max: time.Second, Window: time.Hour})
	s.log.add("a")
	due := model.WebhookDelivery{ID: 1, TenantID: 1, SubscriptionID: 1, EventID: 1, EventType: "a", Redelivery: true,
		Status: model.DeliveryPending, NextAttemptAt: time.Now().Add(-time.Second), CreatedAt: time.Now()}
	s.mem.rows = []model.WebhookDelivery{due}
	d := NewDeliverer(s.mem, s.log, s.rcv, s.seal, s.opts)
	sub, err := s.mem.Claim(context.Background(), 1, s.opts.Owner, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Stop
	// memStore answers a cancelled context: the stop came after the
	// redeliveries were read.
	if _, err := d.redeliver(ctx, sub, [][]byte{[]byte("whsec_x")}); err == nil {
		t.Fatal("a stopped redelivery round reports no error")
	}
	if got := s.rcv.ids(); len(got) != 0 {
		t.Fatalf("sent %v after the stop", got)
	}
	if r := s.rows()[0]; r != due {
		t.Fatalf("the redelivery after the stop: %+v, want it untouched", r)
	}
}
