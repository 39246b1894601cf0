package webhook

import (
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// TenantWorkers shares three quarters of the workers among the tenants
// with work, at least one each.
func TestTenantWorkersShareAmongTenants(t *testing.T) {
	for _, c := range []struct{ workers, tenants, want int }{
		{32, 0, 24}, {32, 1, 24}, {32, 2, 12}, {32, 3, 8}, {32, 24, 1}, {32, 40, 1}, {1, 1, 1}, {4, 2, 1},
	} {
		if got := TenantWorkers(c.workers, c.tenants); got != c.want {
			t.Errorf("TenantWorkers(%d, %d) = %d, want %d", c.workers, c.tenants, got, c.want)
		}
	}
}

// fairTest is a deliverer of workers, looking for work every poll, over
// subscriptions of tenants, n[t] each (ids in tenant order), waiting since
// waited[t] ago: those of tenant fastTenant to a fast receiver, the others
// to one that answers once released.
func fairTest(t *testing.T, workers int, poll time.Duration, n map[int64]int, waited map[int64]time.Duration, fastTenant int64) (*memStore, tenantLogs, *stuckReceiver, *Deliverer) {
	t.Helper()
	sealer, _ := NewSealer("test key")
	st := &memStore{subs: map[int64]*model.WebhookSubscription{}}
	logs := tenantLogs{}
	now := time.Now()
	id := int64(0)
	for tenant := int64(1); tenant <= int64(len(n)); tenant++ {
		logs[tenant] = &memLog{}
		url := "https://slow.example/"
		if tenant == fastTenant {
			url = "https://fast.example/"
		}
		sealed, _ := sealer.Seal("whsec_x", secretAAD(tenant, 2))
		for range n[tenant] {
			id++
			st.subs[id] = &model.WebhookSubscription{ID: id, TenantID: tenant, AppID: 2, URL: url, EventTypes: "a",
				SecretSealed: sealed, Status: model.WebhookActive, NextAttemptAt: now.Add(-waited[tenant]).Add(time.Duration(id) * time.Millisecond)}
		}
	}
	rcv := &stuckReceiver{slow: "https://slow.example/", release: make(chan struct{})}
	d := NewDeliverer(st, logs, rcv, sealer, DeliverOptions{
		Owner: "t", Workers: workers, InFlight: 1, Batch: 8, Poll: poll, Lease: time.Minute,
		Slice: time.Minute, Log: zerolog.Nop(),
	})
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() { close(rcv.release) })
		d.Stop()
	})
	return st, logs, rcv, d
}

// A tenant at its share of the workers with more waiting subscriptions
// than a look for work reads (all waiting longer than the others) keeps
// no other tenant's subscription out of the look: it is left out of it,
// and another tenant's event is delivered while the first tenant's
// requests are all still open.
func TestDelivererLooksPastACappedTenantsSubscriptions(t *testing.T) {
	const workers = 4
	st, logs, rcv, d := fairTest(t, workers, 10*time.Millisecond, map[int64]int{1: candidateWindow + 100, 2: 1},
		map[int64]time.Duration{1: time.Hour, 2: time.Minute}, 2)
	fast := int64(candidateWindow + 101)
	logs[1].add("a")
	d.Start(t.Context())
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "the first tenant's requests held", func() bool {
		held, _ := rcv.counts()
		return held >= TenantWorkers(workers, 1)
	})
	logs[2].add("a")
	d.Wake()
	polltest.Until(t, 3*time.Second, 5*time.Millisecond, "the other tenant's delivery", func() bool {
		_, n := rcv.counts()
		return n == 1 && st.sub(fast).EventCursor == 1
	})
	if held, _ := rcv.counts(); held != TenantWorkers(workers, 1) {
		t.Fatalf("the first tenant's requests: %d held, want %d", held, TenantWorkers(workers, 1))
	}
}

// Two tenants whose receivers do not answer do not take every worker
// between them: the second, once the first holds its share, takes one of
// the last quarter, and a third tenant still finds a worker.
func TestDelivererKeepsAWorkerWhenTwoTenantsAreSlow(t *testing.T) {
	const workers = 8
	st, logs, rcv, d := fairTest(t, workers, 10*time.Millisecond, map[int64]int{1: 10, 2: 10, 3: 1},
		map[int64]time.Duration{1: time.Hour, 2: time.Hour, 3: time.Hour}, 3)
	logs[1].add("a")
	d.Start(t.Context())
	one := TenantWorkers(workers, 1)
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "the first tenant's requests held", func() bool {
		held, _ := rcv.counts()
		return held >= one
	})
	logs[2].add("a")
	d.Wake()
	polltest.Until(t, 5*time.Second, 5*time.Millisecond, "the second tenant's request held", func() bool {
		held, _ := rcv.counts()
		return held >= one+1
	})
	time.Sleep(50 * time.Millisecond) // a few more looks for work
	if held, _ := rcv.counts(); held != one+1 {
		t.Fatalf("two slow tenants hold %d of %d workers, want %d", held, workers, one+1)
	}
	logs[3].add("a")
	d.Wake()
	polltest.Until(t, 3*time.Second, 5*time.Millisecond, "the third tenant's delivery", func() bool {
		_, n := rcv.counts()
		return n == 1 && st.sub(21).EventCursor == 1
	})
}

// A look for work whose window a tenant fills, and in which that tenant
// reaches its share, is made again without it: another tenant's
// subscription behind the window is served by the same look, not at the
// next poll.
func TestDelivererLooksAgainPastATenantThatReachedItsShare(t *testing.T) {
	const workers = 4
	st, logs, rcv, d := fairTest(t, workers, time.Hour, map[int64]int{1: candidateWindow + 100, 2: 1},
		map[int64]time.Duration{1: time.Hour, 2: time.Minute}, 2)
	logs[1].add("a")
	logs[2].add("a")
	d.Start(t.Context())
	polltest.Until(t, 3*time.Second, 5*time.Millisecond, "the other tenant's delivery in the first look", func() bool {
		_, n := rcv.counts()
		return n == 1 && st.sub(candidateWindow+101).EventCursor == 1
	})
}

// A subscription listed with a redelivery due that has none any more (a
// trim or an erasure removed it) has its earliest pending redelivery set
// again by the round that finds none, so it is not claimed again and
// again for nothing.
func TestDelivererSetsAgainARedeliveryTimeWithNoneLeft(t *testing.T) {
	st, _, _, d := fairTest(t, 2, 10*time.Millisecond, map[int64]int{1: 1}, map[int64]time.Duration{1: time.Hour}, 1)
	gone := time.Now().Add(-time.Minute)
	st.subs[1].RedeliverAt = &gone
	d.Start(t.Context())
	polltest.Until(t, 3*time.Second, 5*time.Millisecond, "the redelivery time set again", func() bool {
		return st.sub(1).RedeliverAt == nil
	})
}
