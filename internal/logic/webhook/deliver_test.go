package webhook

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// memStore is an in-memory DeliveryStore with the dao's lease rules.
type memStore struct {
	mu   sync.Mutex
	subs map[int64]*model.WebhookSubscription
	rows []model.WebhookDelivery
	// fills counts FillRedeliverAt.
	fills atomic.Int32
}

// Candidates lists, as the dao does, up to limit of the due subscriptions
// longest waiting first, and those with a redelivery due, of the tenants
// not skipped.
func (m *memStore) Candidates(_ context.Context, limit int, skip []int64) ([]model.WebhookSubscription, map[int64]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	redo := map[int64]bool{}
	for _, r := range m.rows {
		if r.Redelivery && r.Status == model.DeliveryPending && !r.NextAttemptAt.After(now) {
			redo[r.SubscriptionID] = true
		}
	}
	for _, s := range m.subs {
		if s.RedeliverAt != nil && !s.RedeliverAt.After(now) {
			redo[s.ID] = true
		}
	}
	var due, more []model.WebhookSubscription
	for _, s := range m.subs {
		if s.LeaseUntil.After(now) || slices.Contains(skip, s.TenantID) {
			continue
		}
		if s.Status == model.WebhookActive && !s.NextAttemptAt.After(now) {
			due = append(due, *s)
		} else if redo[s.ID] {
			more = append(more, *s)
		}
	}
	slices.SortFunc(due, func(a, b model.WebhookSubscription) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return append(due[:min(limit, len(due))], more...), redo, nil
}

func (m *memStore) FillRedeliverAt(context.Context) error { m.fills.Add(1); return nil }

func (m *memStore) Claim(_ context.Context, id int64, owner string, lease time.Duration) (*model.WebhookSubscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.subs[id]
	if s.LeaseUntil.After(time.Now()) {
		return nil, nil
	}
	s.LeaseUntil, s.LeaseOwner = time.Now().Add(lease), owner
	c := *s
	return &c, nil
}

func (m *memStore) Renew(_ context.Context, id int64, owner, secret string, lease time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.subs[id]; s.LeaseOwner == owner && s.Status == model.WebhookActive && s.SecretSealed == secret {
		s.LeaseUntil = time.Now().Add(lease)
		return nil
	}
	return errs.Conflict("lost")
}

func (m *memStore) Release(_ context.Context, id int64, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.subs[id]; s.LeaseOwner == owner {
		s.LeaseUntil, s.LeaseOwner = time.Now(), ""
	}
	return nil
}

func (m *memStore) DueRedeliveries(_ context.Context, id int64, limit int) ([]model.WebhookDelivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.WebhookDelivery
	for _, r := range m.rows {
		if r.SubscriptionID == id && r.Redelivery && r.Status == model.DeliveryPending && !r.NextAttemptAt.After(time.Now()) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) Attempted(_ context.Context, id int64, events []int64) ([]model.WebhookDelivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.WebhookDelivery
	for _, r := range m.rows {
		if r.SubscriptionID == id && !r.Redelivery && slices.Contains(events, r.EventID) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) Record(_ context.Context, owner string, read model.WebhookSubscription, s *model.WebhookSubscription, rows []model.WebhookDelivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.subs[s.ID]
	if cur.LeaseOwner != owner {
		return errs.Conflict("lost")
	}
	cur.EventCursor = s.EventCursor
	// The failure state only if it is still as the round read it.
	wrote := cur.Status == read.Status && cur.Attempts == read.Attempts && cur.DisabledReason == read.DisabledReason
	if wrote {
		cur.Attempts, cur.FailingSince, cur.NextAttemptAt = s.Attempts, s.FailingSince, s.NextAttemptAt
		cur.Status, cur.DisabledReason = s.Status, s.DisabledReason
	} else {
		s.Attempts, s.FailingSince, s.NextAttemptAt = cur.Attempts, cur.FailingSince, cur.NextAttemptAt
		s.Status, s.DisabledReason = cur.Status, cur.DisabledReason
	}
	for _, r := range rows {
		if r.ID == 0 {
			r.ID = int64(len(m.rows) + 1)
			r.CreatedAt = time.Now()
			m.rows = append(m.rows, r)
			continue
		}
		m.rows[r.ID-1] = r
	}
	if wrote && s.Status == model.WebhookDisabled {
		for i := range m.rows {
			if m.rows[i].SubscriptionID == s.ID && m.rows[i].Status == model.DeliveryPending {
				m.rows[i].Status = model.DeliveryFailed
			}
		}
	}
	if read.RedeliverAt != nil {
		// As the dao: the earliest pending redelivery, set again.
		cur.RedeliverAt = nil
		for _, r := range m.rows {
			if r.SubscriptionID == s.ID && r.Redelivery && r.Status == model.DeliveryPending && (cur.RedeliverAt == nil || r.NextAttemptAt.Before(*cur.RedeliverAt)) {
				cur.RedeliverAt = &r.NextAttemptAt
			}
		}
		s.RedeliverAt = cur.RedeliverAt
	}
	return nil
}

func (m *memStore) Trim(context.Context, time.Time, int) (int64, error) { return 0, nil }

func (m *memStore) ClearReasons(context.Context) error { return nil }

// enable is an admin's enable: active, its failures cleared, due now.
func (m *memStore) enable(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.subs[id]
	s.Status, s.DisabledReason, s.Attempts, s.NextAttemptAt = model.WebhookActive, "", 0, time.Now()
}

func (m *memStore) sub(id int64) model.WebhookSubscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.subs[id]
}

// memLog is a tenant's event log.
type memLog struct {
	mu  sync.Mutex
	evs []Event
	// trimmed is the id through which retention has deleted events.
	trimmed int64
}

func (l *memLog) add(typ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, Event{ID: int64(len(l.evs) + 1), Type: typ, TenantID: 1, OccurredAt: time.Now(), Data: []byte(`{}`)})
}

func (l *memLog) After(_ context.Context, _, cursor int64, types []string, limit int) ([]Event, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	head := int64(len(l.evs))
	for _, e := range l.evs {
		if e.ID > max(cursor, l.trimmed) && (len(types) == 0 || slices.Contains(types, e.Type)) && len(out) < limit {
			out = append(out, e)
		}
	}
	if err := CheckExpired(cursor, l.trimmed); err != nil {
		return nil, 0, err
	}
	if len(out) == limit {
		return out, out[len(out)-1].ID, nil
	}
	return out, max(head, cursor), nil
}

func (l *memLog) Get(_ context.Context, _, id int64) (Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id < 1 || id > int64(len(l.evs)) {
		return Event{}, errs.NotFound(errs.ReasonNotFound, "no event")
	}
	return l.evs[id-1], nil
}

func (l *memLog) Last(context.Context, int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.evs)), nil
}

func (l *memLog) LastOf(ctx context.Context, _ []int64) (map[int64]int64, error) {
	n, _ := l.Last(ctx, 1)
	return map[int64]int64{1: n}, nil
}

// memReceiver records deliveries and answers as told.
type memReceiver struct {
	mu     sync.Mutex
	got    []string // event ids, in arrival order
	down   bool
	delay  time.Duration
	sec    []byte
	badSig int
	// during runs once, in the next request, after it has seen whether
	// the receiver is down: what happens while a round sends.
	during atomic.Pointer[func()]
}

func (r *memReceiver) Post(_ context.Context, _ string, h map[string]string, body []byte) (Result, error) {
	r.mu.Lock()
	delay, down := r.delay, r.down
	r.mu.Unlock()
	if f := r.during.Swap(nil); f != nil {
		(*f)()
	}
	time.Sleep(delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !Verify(r.sec, h[HeaderTimestamp], h[HeaderSignature], body, time.Now(), time.Minute) {
		r.badSig++
	}
	r.got = append(r.got, h[HeaderEventID])
	if down {
		return Result{}, errors.New("connection refused")
	}
	return Result{Status: 200}, nil
}

func (r *memReceiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func newTestDeliverer(t *testing.T, retry Retry, workers int) (*memStore, *memLog, *memReceiver, *Deliverer, *Sealer) {
	t.Helper()
	sealer, _ := NewSealer("test key")
	sealed, _ := sealer.Seal("whsec_x", secretAAD(1, 2))
	st := &memStore{subs: map[int64]*model.WebhookSubscription{1: {
		ID: 1, TenantID: 1, AppID: 2, URL: "https://r.example/", EventTypes: "a,b", SecretSealed: sealed, Status: model.WebhookActive,
	}}}
	log, rcv := &memLog{}, &memReceiver{sec: []byte("whsec_x")}
	d := NewDeliverer(st, log, rcv, sealer, DeliverOptions{
		Owner: "t", Workers: workers, InFlight: 4, Batch: 8, Poll: 10 * time.Millisecond, Lease: time.Minute, Slice: time.Second,
		Retry: retry, Log: zerolog.Nop(),
	})
	return st, log, rcv, d, sealer
}

// Every event of the subscribed types arrives signed, other types move the
// cursor without a request, and a receiver that is down gets the same ids
// again until it is back; nothing is lost.
func TestDelivererRetriesWithTheSameIDsUntilDelivered(t *testing.T) {
	st, log, rcv, d, _ := newTestDeliverer(t, Retry{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, Window: time.Hour}, 2)
	d.Start(t.Context())
	defer d.Stop()
	for i := range 30 {
		log.add([]string{"a", "b", "c"}[i%3])
	}
	want := []string{}
	for i := 1; i <= 30; i++ {
		if i%3 != 0 {
			want = append(want, strconv.Itoa(i))
		}
	}
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the first 20 deliveries", func() bool { return st.sub(1).EventCursor == 30 })
	if got := rcv.ids(); !slices.Equal(sortedUnique(got), sortedNumeric(want)) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	rcv.mu.Lock()
	rcv.down, rcv.got = true, nil
	rcv.mu.Unlock()
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "three attempts at event 31", func() bool { return len(rcv.ids()) >= 3 })
	for _, id := range rcv.ids() {
		if id != "31" {
			t.Fatalf("attempts while down: %v, want only 31", rcv.ids())
		}
	}
	if s := st.sub(1); s.Attempts < 3 || s.EventCursor != 30 || s.Status != model.WebhookActive {
		t.Fatalf("while down: %+v", s)
	}
	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()
	log.add("b")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the backlog after recovery", func() bool { return st.sub(1).EventCursor == 32 })
	if s := st.sub(1); s.Attempts != 0 {
		t.Fatalf("after recovery: %+v", s)
	}
	if rcv.badSig != 0 {
		t.Fatalf("%d requests with a bad signature", rcv.badSig)
	}
}

// After the retry window the subscription is disabled with its reason and
// its pending delivery failed; nothing more is sent to it.
func TestDelivererDisablesAfterTheWindow(t *testing.T) {
	st, log, rcv, d, _ := newTestDeliverer(t, Retry{Base: 5 * time.Millisecond, Max: 10 * time.Millisecond, Window: 100 * time.Millisecond}, 1)
	rcv.down = true
	d.Start(t.Context())
	defer d.Stop()
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the subscription disabled", func() bool { return st.sub(1).Status == model.WebhookDisabled })
	s := st.sub(1)
	if s.DisabledReason == "" || s.EventCursor != 0 {
		t.Fatalf("disabled: %+v", s)
	}
	st.mu.Lock()
	rows := slices.Clone(st.rows)
	st.mu.Unlock()
	if len(rows) != 1 || rows[0].Status != model.DeliveryFailed || rows[0].Attempts < 2 || rows[0].LastError == "" {
		t.Fatalf("delivery log %+v", rows)
	}
	n := len(rcv.ids())
	time.Sleep(100 * time.Millisecond)
	if len(rcv.ids()) != n {
		t.Fatal("a disabled subscription is still delivered to")
	}
}

// failingSubscription runs a deliverer retrying every few milliseconds for
// window, to a receiver that is down, until the first delivery has failed.
func failingSubscription(t *testing.T, window time.Duration) (*memStore, *memReceiver, *Deliverer) {
	st, log, rcv, d, _ := newTestDeliverer(t, Retry{Base: 5 * time.Millisecond, Max: 10 * time.Millisecond, Window: window}, 1)
	rcv.down = true
	d.Start(t.Context())
	t.Cleanup(d.Stop)
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "a failed delivery", func() bool { return st.sub(1).Attempts > 0 })
	return st, rcv, d
}

// An admin enables a failing subscription again (clearing its failures)
// while a round sends to the receiver, which fails past the retry window:
// the round does not disable it, and what it missed is delivered once the
// receiver is back.
func TestDelivererKeepsAnEnableMadeDuringARound(t *testing.T) {
	window := 50 * time.Millisecond
	st, rcv, _ := failingSubscription(t, window)
	meanwhile := func() {
		st.enable(1)
		time.Sleep(window + 10*time.Millisecond)
		rcv.mu.Lock()
		rcv.down = false
		rcv.mu.Unlock()
	}
	rcv.during.Store(&meanwhile)
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the delivery, or the subscription disabled", func() bool {
		s := st.sub(1)
		return s.EventCursor == 1 || s.Status == model.WebhookDisabled
	})
	if s := st.sub(1); s.Status != model.WebhookActive || s.EventCursor != 1 {
		t.Fatalf("after an enable during a failing round: %+v; want active and delivered", s)
	}
}

// A round that gives up on a failing subscription while an admin enables it
// again loses to the enable: the events are retried, and so its deliveries
// stay pending in the log (not failed), and no disabling is counted.
func TestDelivererLogsARoundAnEnableWinsAsPending(t *testing.T) {
	window := 200 * time.Millisecond
	st, rcv, d := failingSubscription(t, window)
	// The round after the enable's sees the log as the enable's round
	// left it.
	seen := make(chan model.WebhookDelivery, 1)
	next := func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		seen <- st.rows[0]
	}
	meanwhile := func() {
		st.enable(1)
		time.Sleep(window + 20*time.Millisecond)
		rcv.during.Store(&next)
	}
	rcv.during.Store(&meanwhile)
	var row model.WebhookDelivery
	select {
	case row = <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after the enable")
	}
	if row.Status != model.DeliveryPending {
		t.Fatalf("after a round that gave up while an admin enabled the subscription, its delivery is %s, want pending", row.Status)
	}
	if s := st.sub(1); s.Status != model.WebhookActive {
		t.Fatalf("subscription %+v, want active", s)
	}
	if n := testutil.ToFloat64(d.disabled); n != 0 {
		t.Fatalf("%v disablings counted, want none", n)
	}
}

// Two deliverers (two instances) share one subscription: every event is
// delivered, and the lease keeps both from sending the same event.
func TestTwoDeliverersShareWithoutDoubleSending(t *testing.T) {
	st, log, rcv, d1, sealer := newTestDeliverer(t, DefaultRetry, 4)
	d2 := NewDeliverer(st, log, rcv, sealer, DeliverOptions{Owner: "other", Workers: 4, InFlight: 4, Batch: 8,
		Poll: 10 * time.Millisecond, Lease: time.Minute, Slice: 20 * time.Millisecond, Log: zerolog.Nop()})
	d1.Start(t.Context())
	d2.Start(t.Context())
	for range 200 {
		log.add("a")
		time.Sleep(100 * time.Microsecond)
	}
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "every event", func() bool { return st.sub(1).EventCursor == 200 })
	d1.Stop()
	d2.Stop()
	got := rcv.ids()
	if len(got) != 200 || len(sortedUnique(got)) != 200 {
		t.Fatalf("%d requests for %d distinct events, want 200 each", len(got), len(sortedUnique(got)))
	}
}

func sortedUnique(ids []string) []string {
	out := sortedNumeric(ids)
	return slices.Compact(out)
}

func sortedNumeric(ids []string) []string {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return out
}

// A round that delivers moves the subscription's next_attempt_at to its
// end, so the store's candidates (longest waiting first) put it behind the
// subscriptions still waiting; a subscription whose secret does not open
// is put back by retry_max instead of staying first in line.
func TestDelivererPutsServedSubscriptionsBack(t *testing.T) {
	st, log, _, d, _ := newTestDeliverer(t, Retry{Base: 5 * time.Millisecond, Max: time.Hour, Window: time.Hour}, 2)
	st.subs[2] = &model.WebhookSubscription{ID: 2, TenantID: 1, AppID: 2, URL: "https://r.example/", EventTypes: "a",
		SecretSealed: "v1:not sealed", Status: model.WebhookActive}
	start := time.Now()
	d.Start(t.Context())
	defer d.Stop()
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the delivery", func() bool { return st.sub(1).EventCursor == 1 })
	if s := st.sub(1); s.NextAttemptAt.Before(start) {
		t.Fatalf("served, next_attempt_at %s is still before the round (%s)", s.NextAttemptAt, start)
	}
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the unopenable subscription put back", func() bool {
		return st.sub(2).NextAttemptAt.After(start.Add(30 * time.Minute))
	})
}

// A round never outlasts its lease: with a receiver so slow that a batch
// takes three leases, the round stops starting attempts in time to record
// them before its lease could pass, and goes on in the next round under a
// renewed lease; so a second instance polling all along never takes the
// subscription over mid-round and sends nothing twice, and stopping short
// is no failure (no back-off).
func TestDelivererRoundsEndWithinTheLease(t *testing.T) {
	st, log, rcv, d1, sealer := newTestDeliverer(t, DefaultRetry, 2)
	const lease, timeout = time.Second, 200 * time.Millisecond
	d1.o.Lease, d1.o.RequestTimeout, d1.o.InFlight, d1.o.Batch, d1.o.Slice = lease, timeout, 1, 30, 10*time.Second
	d2 := NewDeliverer(st, log, rcv, sealer, DeliverOptions{Owner: "other", Workers: 2, InFlight: 1, Batch: 30,
		Poll: 10 * time.Millisecond, Lease: lease, Slice: 10 * time.Second, RequestTimeout: timeout, Log: zerolog.Nop()})
	rcv.delay = 100 * time.Millisecond
	for range 30 {
		log.add("a")
	}
	d1.Start(t.Context())
	time.Sleep(50 * time.Millisecond)
	d2.Start(t.Context())
	polltest.Until(t, 20*time.Second, 10*time.Millisecond, "every event", func() bool { return st.sub(1).EventCursor == 30 })
	d1.Stop()
	d2.Stop()
	if got := rcv.ids(); len(got) != 30 || len(sortedUnique(got)) != 30 {
		t.Fatalf("%d requests for %d distinct events, want 30 each: %v", len(got), len(sortedUnique(got)), got)
	}
	if s := st.sub(1); s.Attempts != 0 {
		t.Fatalf("a round cut short counted as a failure: %+v", s)
	}
}

// Deleting or disabling a subscription stops its round within a renewal:
// no attempt starts after that.
func TestDelivererStopsARoundOfADisabledSubscription(t *testing.T) {
	st, log, rcv, d, _ := newTestDeliverer(t, DefaultRetry, 1)
	d.o.InFlight, d.o.Batch, d.o.RequestTimeout = 1, 100, time.Second
	rcv.delay = 50 * time.Millisecond
	for range 100 {
		log.add("a")
	}
	d.Start(t.Context())
	defer d.Stop()
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the first request", func() bool { return len(rcv.ids()) > 0 })
	st.mu.Lock()
	st.subs[1].Status = model.WebhookDisabled
	st.mu.Unlock()
	off := len(rcv.ids())
	time.Sleep(renewEvery + 500*time.Millisecond)
	if n := len(rcv.ids()); n > off+int(renewEvery.Milliseconds()/50)+2 {
		t.Fatalf("%d requests after disabling (from %d)", n-off, off)
	}
	n := len(rcv.ids())
	time.Sleep(300 * time.Millisecond)
	if len(rcv.ids()) != n {
		t.Fatal("requests go on after a renewal found the subscription disabled")
	}
}

// A disabled subscription receives no redelivery its app asks for: the
// redelivery waits, pending, until the subscription is enabled again.
func TestDelivererSendsNoRedeliveryToADisabledSubscription(t *testing.T) {
	st, log, rcv, d, _ := newTestDeliverer(t, DefaultRetry, 1)
	log.add("a")
	st.mu.Lock()
	st.subs[1].Status, st.subs[1].EventCursor = model.WebhookDisabled, 1
	st.rows = append(st.rows, model.WebhookDelivery{ID: 1, TenantID: 1, SubscriptionID: 1, EventID: 1, EventType: "a",
		Redelivery: true, Status: model.DeliveryPending, NextAttemptAt: time.Now()})
	st.mu.Unlock()
	d.Start(t.Context())
	defer d.Stop()
	time.Sleep(300 * time.Millisecond)
	if got := rcv.ids(); len(got) != 0 {
		t.Fatalf("a disabled subscription was sent %v", got)
	}
	st.mu.Lock()
	st.subs[1].Status = model.WebhookActive
	st.mu.Unlock()
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the redelivery once enabled", func() bool { return len(rcv.ids()) == 1 })
}

// tenantLogs is an event log per tenant.
type tenantLogs map[int64]*memLog

func (l tenantLogs) After(ctx context.Context, tenant, cursor int64, types []string, limit int) ([]Event, int64, error) {
	return l[tenant].After(ctx, tenant, cursor, types, limit)
}

func (l tenantLogs) Get(ctx context.Context, tenant, id int64) (Event, error) {
	return l[tenant].Get(ctx, tenant, id)
}

func (l tenantLogs) Last(ctx context.Context, tenant int64) (int64, error) {
	return l[tenant].Last(ctx, tenant)
}

func (l tenantLogs) LastOf(ctx context.Context, tenants []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, t := range tenants {
		out[t], _ = l.Last(ctx, t)
	}
	return out, nil
}

// stuckReceiver holds every request to slow until release is closed and
// answers the others at once.
type stuckReceiver struct {
	slow    string
	release chan struct{}
	mu      sync.Mutex
	held    int
	fast    int
}

func (r *stuckReceiver) Post(_ context.Context, url string, _ map[string]string, _ []byte) (Result, error) {
	r.mu.Lock()
	if url != r.slow {
		r.fast++
		r.mu.Unlock()
		return Result{Status: 200}, nil
	}
	r.held++
	r.mu.Unlock()
	<-r.release
	return Result{Status: 200}, nil
}

func (r *stuckReceiver) counts() (held, fast int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held, r.fast
}

// One tenant with more subscriptions than workers, all to a receiver that
// does not answer, holds at most TenantWorkers of them: another tenant's
// subscription gets a worker and is delivered to while the first tenant's
// requests are all still open.
func TestDelivererKeepsWorkersForOtherTenants(t *testing.T) {
	const workers = 4
	sealer, _ := NewSealer("test key")
	st := &memStore{subs: map[int64]*model.WebhookSubscription{}}
	for id := int64(1); id <= 7; id++ {
		tenant, url := int64(1), "https://slow.example/"
		if id == 7 {
			tenant, url = 2, "https://fast.example/"
		}
		sealed, _ := sealer.Seal("whsec_x", secretAAD(tenant, 2))
		st.subs[id] = &model.WebhookSubscription{ID: id, TenantID: tenant, AppID: 2, URL: url, EventTypes: "a",
			SecretSealed: sealed, Status: model.WebhookActive}
	}
	logs := tenantLogs{1: &memLog{}, 2: &memLog{}}
	rcv := &stuckReceiver{slow: "https://slow.example/", release: make(chan struct{})}
	d := NewDeliverer(st, logs, rcv, sealer, DeliverOptions{
		Owner: "t", Workers: workers, InFlight: 1, Batch: 8, Poll: 10 * time.Millisecond, Lease: time.Minute,
		Slice: time.Minute, Log: zerolog.Nop(),
	})
	logs[1].add("a")
	d.Start(t.Context())
	defer d.Stop()
	var once sync.Once
	release := func() { once.Do(func() { close(rcv.release) }) }
	defer release()

	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "the first tenant's requests held", func() bool {
		held, _ := rcv.counts()
		return held >= TenantWorkers(workers, 1)
	})
	time.Sleep(50 * time.Millisecond) // a few more looks for work
	if held, _ := rcv.counts(); held != TenantWorkers(workers, 1) {
		t.Fatalf("one tenant holds %d of %d workers, want %d", held, workers, TenantWorkers(workers, 1))
	}
	logs[2].add("a")
	d.Wake()
	polltest.Until(t, 2*time.Second, 5*time.Millisecond, "the other tenant's delivery", func() bool {
		_, fast := rcv.counts()
		return fast == 1 && st.sub(7).EventCursor == 1
	})
	if held, _ := rcv.counts(); held != TenantWorkers(workers, 1) {
		t.Fatalf("the first tenant's requests: %d held, want %d", held, TenantWorkers(workers, 1))
	}
	release()
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "every subscription of the first tenant", func() bool {
		for id := int64(1); id <= 6; id++ {
			if st.sub(id).EventCursor != 1 {
				return false
			}
		}
		return true
	})
}

// failingReceiver fails every delivery with err, as the sender does when no
// answer came (a refused connection, a TLS error).
type failingReceiver struct{ err string }

func (r failingReceiver) Post(context.Context, string, map[string]string, []byte) (Result, error) {
	return Result{}, errors.New(r.err)
}

// A transport error that is not UTF-8 (it may quote the receiver: the names
// its certificate is valid for) is logged as UTF-8, which the delivery
// log's column and gRPC take, and its retries back off as any other
// failure's.
func TestDelivererLogsAnErrorThatIsNotUTF8AsUTF8(t *testing.T) {
	st, log, _, _, sealer := newTestDeliverer(t, Retry{Base: time.Hour, Max: time.Hour, Window: 24 * time.Hour}, 1)
	rcv := failingReceiver{err: "tls: certificate is valid for \xe9t\xe9.example \xff\xfe"}
	d := NewDeliverer(st, log, rcv, sealer, DeliverOptions{
		Owner: "t", Workers: 1, InFlight: 1, Batch: 8, Poll: 10 * time.Millisecond, Lease: time.Minute, Slice: time.Second,
		Retry: Retry{Base: time.Hour, Max: time.Hour, Window: 24 * time.Hour}, Log: zerolog.Nop(),
	})
	d.Start(t.Context())
	defer d.Stop()
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the failed attempt logged", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.rows) == 1
	})
	st.mu.Lock()
	row := st.rows[0]
	st.mu.Unlock()
	if !utf8.ValidString(row.LastError) || !strings.HasPrefix(row.LastError, "tls: certificate is valid for \uFFFDt\uFFFD.example") {
		t.Fatalf("last error %q, want valid UTF-8 keeping the error", row.LastError)
	}
	if s := st.sub(1); s.Attempts != 1 || time.Until(s.NextAttemptAt) < 10*time.Minute {
		t.Fatalf("after the failure: %+v, want the retry in about an hour", s)
	}
}

// waitReceiver answers every delivery with status and, when asked, a
// Retry-After of wait.
type waitReceiver struct {
	status int
	wait   time.Duration
	asked  bool
}

func (r waitReceiver) Post(context.Context, string, map[string]string, []byte) (Result, error) {
	return Result{Status: r.status, RetryAfter: r.wait, HasRetryAfter: r.asked}, nil
}

// A 429 or 503 with a Retry-After sets the next attempt, of the
// subscription and of a redelivery alike: not before the asked wait, but
// within the schedule's minimum and maximum; another status, or no valid
// Retry-After, takes the exponential backoff.
func TestDelivererWaitsAsTheReceiverAsks(t *testing.T) {
	retry := Retry{Base: time.Minute, Max: time.Hour, Window: 24 * time.Hour}
	for _, tc := range []struct {
		name     string
		rcv      waitReceiver
		min, max time.Duration
	}{
		{"503 asking 10m", waitReceiver{503, 10 * time.Minute, true}, 10 * time.Minute, 10*time.Minute + 5*time.Second},
		{"429 asking 20m", waitReceiver{429, 20 * time.Minute, true}, 20 * time.Minute, 20*time.Minute + 5*time.Second},
		{"429 asking past the maximum", waitReceiver{429, 30 * time.Hour, true}, time.Hour - time.Second, time.Hour},
		{"503 asking less than the minimum", waitReceiver{503, time.Second, true}, time.Minute - time.Second, time.Minute},
		{"500 asking 10m", waitReceiver{500, 10 * time.Minute, true}, 29 * time.Second, time.Minute},
		{"503 without a valid Retry-After", waitReceiver{503, 0, false}, 29 * time.Second, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, log, _, _, sealer := newTestDeliverer(t, retry, 1)
			d := NewDeliverer(st, log, tc.rcv, sealer, DeliverOptions{
				Owner: "t", Workers: 1, InFlight: 2, Batch: 8, Poll: 10 * time.Millisecond, Lease: time.Minute, Slice: time.Second,
				Retry: retry, Log: zerolog.Nop(),
			})
			log.add("a")
			log.add("b")
			st.mu.Lock()
			st.rows = append(st.rows, model.WebhookDelivery{ID: 1, TenantID: 1, SubscriptionID: 1, EventID: 1, EventType: "a",
				Redelivery: true, Status: model.DeliveryPending, CreatedAt: time.Now(), NextAttemptAt: time.Now()})
			st.mu.Unlock()
			d.Start(t.Context())
			defer d.Stop()
			var rows []model.WebhookDelivery
			polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the redelivery and the event attempted", func() bool {
				st.mu.Lock()
				defer st.mu.Unlock()
				rows = slices.Clone(st.rows)
				return len(rows) >= 2 && rows[0].Attempts == 1
			})
			s := st.sub(1)
			for name, at := range map[string]time.Time{
				"subscription": s.NextAttemptAt, "redelivery": rows[0].NextAttemptAt, "in-order delivery": rows[1].NextAttemptAt,
			} {
				var from time.Time
				if name == "redelivery" {
					from = rows[0].LastAttemptAt
				} else {
					from = rows[1].LastAttemptAt
				}
				if wait := at.Sub(from); wait < tc.min || wait > tc.max+time.Second {
					t.Errorf("%s: next attempt %s after the answer, want %s..%s", name, wait, tc.min, tc.max)
				}
			}
		})
	}
}

// In-order deliveries never queue up behind a receiver that is down: the
// subscription's cursor stays at the first failing event, and only the
// attempts a round made past it (at most a batch) are in the delivery log,
// however many events wait in the log and however many rounds fail.
func TestDelivererKeepsAtMostABatchPendingBehindADownReceiver(t *testing.T) {
	st, log, rcv, d, _ := newTestDeliverer(t, Retry{Base: time.Millisecond, Max: time.Millisecond, Window: time.Hour}, 1)
	rcv.down = true
	for range 50 {
		log.add("a")
	}
	d.Start(t.Context())
	defer d.Stop()
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "twenty failed rounds", func() bool { return st.sub(1).Attempts >= 20 })
	st.mu.Lock()
	rows := slices.Clone(st.rows)
	st.mu.Unlock()
	if len(rows) == 0 || len(rows) > d.o.Batch {
		t.Fatalf("%d deliveries logged after twenty failed rounds, want 1..%d", len(rows), d.o.Batch)
	}
	for _, r := range rows {
		if r.Status != model.DeliveryPending || r.EventID > int64(d.o.Batch) || r.Attempts < 1 {
			t.Fatalf("delivery %+v, want pending, of the first batch's events", r)
		}
	}
}

// During a rotation's grace a delivery is signed with the new secret and
// the old one, so a receiver still holding the old secret verifies it;
// once the grace is over only the new secret signs.
func TestDelivererSignsWithThePreviousSecretDuringItsGrace(t *testing.T) {
	st, log, rcv, d, sealer := newTestDeliverer(t, Retry{Base: time.Millisecond, Max: time.Millisecond, Window: time.Hour}, 1)
	oldSealed, _ := sealer.Seal("whsec_old", secretAAD(1, 2))
	until := time.Now().Add(time.Hour)
	st.mu.Lock()
	st.subs[1].OldSecretSealed, st.subs[1].OldSecretUntil = oldSealed, &until
	st.mu.Unlock()
	rcv.sec = []byte("whsec_old")
	d.Start(t.Context())
	defer d.Stop()
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the delivery", func() bool { return st.sub(1).EventCursor == 1 })
	rcv.mu.Lock()
	bad := rcv.badSig
	rcv.mu.Unlock()
	if bad != 0 {
		t.Fatal("a delivery during the grace does not verify with the previous secret")
	}
	over := time.Now().Add(-time.Second)
	st.mu.Lock()
	st.subs[1].OldSecretUntil = &over
	st.mu.Unlock()
	log.add("a")
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the delivery after the grace", func() bool { return st.sub(1).EventCursor == 2 })
	rcv.mu.Lock()
	bad = rcv.badSig
	rcv.mu.Unlock()
	if bad != 1 {
		t.Fatalf("%d deliveries after the grace verify with the previous secret, want none", 1-bad)
	}
}

// A rotation takes effect within a renewal, not at the end of the slice
// that a round in progress was given: an admin who rotates a secret that
// leaked stops it signing at once, and a previous secret stops signing
// when its grace ends. Before, a round signed with the secrets it was
// claimed with until its slice (10 s in pro) ran out.
func TestDelivererStopsSigningWithARotatedSecretWithinARenewal(t *testing.T) {
	st, log, rcv, d, sealer := newTestDeliverer(t, DefaultRetry, 1)
	d.o.InFlight, d.o.Batch, d.o.Slice = 1, 100, time.Minute
	rcv.delay = 20 * time.Millisecond
	for range 400 {
		log.add("a")
	}
	badSince := func(wait time.Duration) (bad, sent int) {
		rcv.mu.Lock()
		b0, n0 := rcv.badSig, len(rcv.got)
		rcv.mu.Unlock()
		time.Sleep(wait)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.badSig - b0, len(rcv.got) - n0
	}
	d.Start(t.Context())
	defer d.Stop()
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the first request", func() bool { return len(rcv.ids()) > 0 })

	// Rotated without grace: the receiver takes the new secret at once.
	sealed, _ := sealer.Seal("whsec_new", secretAAD(1, 2))
	st.mu.Lock()
	st.subs[1].SecretSealed = sealed
	st.mu.Unlock()
	rcv.mu.Lock()
	rcv.sec = []byte("whsec_new")
	rcv.mu.Unlock()
	time.Sleep(renewEvery + 500*time.Millisecond)
	if bad, sent := badSince(500 * time.Millisecond); bad != 0 || sent == 0 {
		t.Fatalf("%d of %d deliveries signed with the rotated secret only, %s after the rotation", bad, sent, renewEvery+time.Second)
	}

	// Rotated with a grace of a moment, to a receiver that has only the
	// previous secret: it verifies until the grace ends, then not.
	newer, _ := sealer.Seal("whsec_newer", secretAAD(1, 2))
	until := time.Now().Add(renewEvery)
	st.mu.Lock()
	st.subs[1].SecretSealed, st.subs[1].OldSecretSealed, st.subs[1].OldSecretUntil = newer, sealed, &until
	st.mu.Unlock()
	time.Sleep(time.Until(until) + 500*time.Millisecond)
	if bad, sent := badSince(500 * time.Millisecond); bad != sent || sent == 0 {
		t.Fatalf("%d of %d deliveries signed with the previous secret too, after its grace ended", sent-bad, sent)
	}
}

// A subscription whose cursor the log's retention has passed stops, saying
// which events it lost, with its cursor past them: enabled again, it goes
// on from the oldest event kept.
func TestDelivererDisablesASubscriptionPassedByRetention(t *testing.T) {
	st, log, rcv, d, _ := newTestDeliverer(t, DefaultRetry, 1)
	for range 5 {
		log.add("a")
	}
	log.mu.Lock()
	log.trimmed = 3
	log.mu.Unlock()
	d.Start(t.Context())
	defer d.Stop()
	disabled := func() (bool, string, int64) {
		st.mu.Lock()
		defer st.mu.Unlock()
		s := st.subs[1]
		return s.Status == model.WebhookDisabled, s.DisabledReason, s.EventCursor
	}
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "the disabling", func() bool { off, _, _ := disabled(); return off })
	_, reason, cursor := disabled()
	if want := "events 1 to 3 expired (events.retention) before they were delivered; enable the subscription to go on from event 4"; reason != want || cursor != 3 {
		t.Fatalf("disabled with %q at cursor %d, want %q at 3", reason, cursor, want)
	}
	if got := rcv.ids(); len(got) != 0 {
		t.Fatalf("sent %v before the disabling", got)
	}
	st.mu.Lock()
	st.subs[1].Status, st.subs[1].DisabledReason = model.WebhookActive, ""
	st.mu.Unlock()
	polltest.Until(t, 10*time.Second, 5*time.Millisecond, "events 4 and 5 once enabled", func() bool { return len(rcv.ids()) == 2 })
	got := rcv.ids()
	slices.Sort(got)
	if strings.Join(got, " ") != "4 5" {
		t.Fatalf("sent %v once enabled, want 4 and 5", got)
	}
}

// A read is expired exactly when its snapshot of the log was trimmed past
// the cursor.
func TestCheckExpired(t *testing.T) {
	for _, tc := range []struct {
		name            string
		cursor, trimmed int64
		expired         bool
	}{
		{"trim behind the cursor", 10, 10, false},
		{"trimmed past the cursor", 10, 12, true},
		{"never trimmed", 0, 0, false},
	} {
		err := CheckExpired(tc.cursor, tc.trimmed)
		var gone *Expired
		if errors.As(err, &gone) != tc.expired || tc.expired && (gone.Cursor != tc.cursor || gone.Through != tc.trimmed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// backlogStore is a memStore whose delivery log holds expired rows: each
// Trim deletes up to its limit of them.
type backlogStore struct {
	memStore
	trimMu  sync.Mutex
	expired int64
	calls   int
}

func (b *backlogStore) Trim(_ context.Context, _ time.Time, limit int) (int64, error) {
	b.trimMu.Lock()
	defer b.trimMu.Unlock()
	b.calls++
	n := min(b.expired, int64(limit))
	b.expired -= n
	return n, nil
}

// The delivery log gets a row per event and subscription, and an app's
// redeliveries to a fast receiver add more: a backlog larger than one batch
// is trimmed batch after batch at once, not one batch a minute, which
// leaves a log written faster than that to grow without bound.
func TestDelivererTrimsADeliveryLogBacklogBatchAfterBatch(t *testing.T) {
	st := &backlogStore{memStore: memStore{subs: map[int64]*model.WebhookSubscription{}}, expired: 3*trimBatch + 500}
	sealer, _ := NewSealer("test key")
	d := NewDeliverer(st, &memLog{}, &memReceiver{}, sealer, DeliverOptions{
		Owner: "t", Workers: 1, Poll: 10 * time.Millisecond, Lease: time.Minute, Slice: time.Second,
		Keep: time.Hour, Log: zerolog.Nop(),
	})
	d.Start(context.Background())
	defer d.Stop()
	polltest.Until(t, 10*time.Second, 10*time.Millisecond, "the backlog trimmed", func() bool {
		st.trimMu.Lock()
		defer st.trimMu.Unlock()
		return st.expired == 0
	})
	d.Stop()
	st.trimMu.Lock()
	defer st.trimMu.Unlock()
	if st.calls != 4 {
		t.Errorf("a backlog of 3.5 batches took %d trims, want 4 (the fourth, short, ends the run)", st.calls)
	}
}

// The earliest pending redeliveries are filled at the start and then
// every upkeep round (for the first hour), since instances of the version
// before, serving beside a rolling upgrade, add redeliveries without it.
func TestRedeliverAtIsFilledEveryRoundAfterTheStart(t *testing.T) {
	was := trimEvery
	trimEvery = 5 * time.Millisecond
	defer func() { trimEvery = was }()
	st, _, _, d, _ := newTestDeliverer(t, Retry{Base: time.Millisecond, Max: time.Millisecond, Window: time.Hour}, 1)
	d.Start(t.Context())
	defer d.Stop()
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "three fills", func() bool { return st.fills.Load() >= 3 })
}
