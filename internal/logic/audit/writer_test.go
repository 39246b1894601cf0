package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// memStore chains appended records per tenant in memory; fail makes the
// next appends fail, gate blocks them; an append with a record of a tenant
// in broken fails whole (one transaction) with that tenant's error.
type memStore struct {
	mu      sync.Mutex
	heads   map[int64]Link
	entries []Entry
	batches []int
	fail    int
	gate    chan struct{}
	broken  map[int64]error
}

func newMemStore() *memStore { return &memStore{heads: map[int64]Link{}} }

func (m *memStore) Append(ctx context.Context, recs []Record) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errors.New("database unavailable")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, r := range recs {
		if err := m.broken[r.TenantID]; err != nil {
			return err
		}
	}
	m.batches = append(m.batches, len(recs))
	for _, r := range recs {
		head, ok := m.heads[r.TenantID]
		if !ok {
			head = Link{Hash: Genesis}
		}
		es, h := Chain(r.TenantID, head, []Record{r})
		m.heads[r.TenantID] = h
		m.entries = append(m.entries, es...)
	}
	return nil
}

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func TestWriterBatchesAndDrainsOnStop(t *testing.T) {
	store := newMemStore()
	w := NewWriter(store, zerolog.Nop(), WriterOptions{Queue: 1000, Batch: 50, Interval: time.Hour})
	w.Start()
	call := &Call{RequestID: "req-1", ClientAddr: "198.51.100.4"}
	ctx := WithCall(context.Background(), call)
	record := func(n int) {
		for i := range n {
			w.Record(ctx, Record{TenantID: int64(1 + i%2), ActorKind: ActorUser, ActorID: 3, Operation: "search"})
		}
	}
	// Fewer than a batch wait for the interval, which is an hour here.
	record(40)
	time.Sleep(50 * time.Millisecond)
	if n := store.count(); n != 0 {
		t.Fatalf("%d records written before a batch was full or the interval passed", n)
	}
	// A full batch wakes the writer, which takes everything queued then;
	// what it leaves is less than a batch (how much depends on when it
	// woke during the 80), which waits for the interval or Stop.
	record(80)
	least := 120 - (50 - 1)
	deadline := time.Now().Add(10 * time.Second)
	for store.count() < least && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := store.count(); n < least {
		t.Fatalf("%d records written after 120 were queued in batches of 50, want at least %d", n, least)
	}
	ctxStop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.Stop(ctxStop)
	if n := store.count(); n != 120 {
		t.Fatalf("%d records written after Stop, want 120", n)
	}
	for _, e := range store.entries {
		if e.RequestID != "req-1" || e.ClientAddr != "198.51.100.4" || e.Result != ResultOK || e.Time.IsZero() {
			t.Fatalf("record not filled from its call: %+v", e)
		}
	}
	// Each tenant's chain verifies.
	for tenant, head := range store.heads {
		v := NewVerifier(tenant, Link{Hash: Genesis})
		for _, e := range store.entries {
			if e.TenantID == tenant {
				if err := v.Next(e); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := v.End(head); err != nil || v.Checked() != 60 {
			t.Fatalf("tenant %d: %d checked, %v", tenant, v.Checked(), err)
		}
	}
	// After Stop a record is refused, counted, and Stop again is harmless.
	w.Record(context.Background(), Record{TenantID: 1, Operation: "late"})
	if got := testutil.ToFloat64(w.dropped); got != 1 {
		t.Fatalf("dropped %v after stop, want 1", got)
	}
	w.Stop(ctxStop)
}

func TestWriterFlushesOnInterval(t *testing.T) {
	store := newMemStore()
	w := NewWriter(store, zerolog.Nop(), WriterOptions{Batch: 500, Interval: 20 * time.Millisecond})
	w.Start()
	defer w.Stop(context.Background())
	w.Record(context.Background(), Record{TenantID: 1, Operation: "auth.login"})
	deadline := time.Now().Add(10 * time.Second)
	for store.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if store.count() != 1 {
		t.Fatal("a lone record was not written at the interval")
	}
}

func TestWriterRetriesAFailingStore(t *testing.T) {
	store := newMemStore()
	store.fail = 3
	w := NewWriter(store, zerolog.Nop(), WriterOptions{Interval: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	w.Start()
	for range 10 {
		w.Record(context.Background(), Record{TenantID: 1, Operation: "tracker.create"})
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.count() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	w.Stop(context.Background())
	if store.count() != 10 || testutil.ToFloat64(w.failures) != 3 || testutil.ToFloat64(w.dropped) != 0 {
		t.Fatalf("written %d, failures %v, dropped %v", store.count(), testutil.ToFloat64(w.failures), testutil.ToFloat64(w.dropped))
	}
}

func TestWriterFullQueueWaitsThenCounts(t *testing.T) {
	store := newMemStore()
	store.gate = make(chan struct{})
	w := NewWriter(store, zerolog.Nop(), WriterOptions{Queue: 4, Batch: 1, Interval: time.Millisecond, FullWait: 30 * time.Millisecond})
	w.Start()
	// The writer holds one record in its blocked append; four more fill
	// the queue; the next waits FullWait and is given up, counted.
	calls := 0
	record := func() {
		calls++
		w.Record(context.Background(), Record{TenantID: 1, Operation: "search"})
	}
	record()
	deadline := time.Now().Add(10 * time.Second)
	for len(w.queue) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for range 4 {
		record()
	}
	start := time.Now()
	record()
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Fatalf("a record on a full queue returned after %v, before FullWait", waited)
	}
	dropped := testutil.ToFloat64(w.dropped)
	if dropped < 1 || testutil.ToFloat64(w.waited) < 1 {
		t.Fatalf("dropped %v, waited %v", dropped, testutil.ToFloat64(w.waited))
	}
	close(store.gate)
	w.Stop(context.Background())
	if got := store.count() + int(dropped); got != calls {
		t.Fatalf("written %d + dropped %v of %d records", store.count(), dropped, calls)
	}
}

func TestWriterStopGivesUpAtTheDeadline(t *testing.T) {
	store := newMemStore()
	store.fail = 1 << 30
	w := NewWriter(store, zerolog.Nop(), WriterOptions{Interval: time.Hour, RetryMax: 10 * time.Millisecond})
	w.Start()
	for range 3 {
		w.Record(context.Background(), Record{TenantID: 1, Operation: "search"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	w.Stop(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Stop took %v past its deadline", took)
	}
	if got := testutil.ToFloat64(w.dropped); got != 3 {
		t.Fatalf("dropped %v, want the 3 unwritten records counted", got)
	}
}

// written counts the stored records of each tenant.
func (m *memStore) written() map[int64]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int64]int{}
	for _, e := range m.entries {
		out[e.TenantID]++
	}
	return out
}

// A tenant whose appends fail, for a taken chain position or a reason of
// its own, does not hold back the other tenants' records: they are
// written at once, and the failing tenant's records are given up in a
// bounded number of tries, each counted, not retried for ever.
func TestWriterIsolatesAFailingTenant(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		// tries is how many appends of the tenant's records fail.
		tries float64
	}{
		{"chain position taken", &ChainTaken{TenantID: 1, Head: 32, Seq: 33, ID: 900}, 1},
		{"other error", errors.New("tenant 1: something of its own"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			store.broken = map[int64]error{1: fmt.Errorf("append: %w", tc.err)}
			w := NewWriter(store, zerolog.Nop(), WriterOptions{Batch: 30, Interval: time.Hour, RetryMax: 10 * time.Millisecond, TenantTries: 3})
			w.Start()
			for round := range 3 {
				for i := range 30 {
					w.Record(context.Background(), Record{TenantID: int64(1 + i%3), Operation: "search"})
				}
				deadline := time.Now().Add(10 * time.Second)
				for store.written()[2] < 10*(round+1) && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
			}
			got := store.written()
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			w.Stop(stop)
			dropped := testutil.ToFloat64(w.dropped)
			if got[2] != 30 || got[3] != 30 || got[1] != 0 {
				t.Fatalf("written per tenant %v, want 30 of tenants 2 and 3 and none of tenant 1", got)
			}
			if dropped != 30 {
				t.Fatalf("dropped %v, want tenant 1's 30 records given up and counted", dropped)
			}
			// Each batch: one failed append of all tenants, then tc.tries
			// of tenant 1's records alone.
			if f := testutil.ToFloat64(w.failures); f != 3*(1+tc.tries) {
				t.Fatalf("failures %v, want %v", f, 3*(1+tc.tries))
			}
			if q := testutil.ToFloat64(w.queued); q != 0 {
				t.Fatalf("queued gauge %v after everything was written or given up", q)
			}
		})
	}
}
