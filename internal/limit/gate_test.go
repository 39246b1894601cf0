package limit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/megaview/mgvcore/internal/config"
)

// enterAll enters n heavy calls of k and keeps them running.
func enterAll(t *testing.T, l *Limiter, k Key, n int) []func() {
	t.Helper()
	var held []func()
	for i := range n {
		release, err := l.Enter(context.Background(), k)
		if err != nil {
			t.Fatalf("call %d of %d: %v", i+1, n, err)
		}
		held = append(held, release)
	}
	return held
}

func TestGateBoundsEachTenantsHeavyCalls(t *testing.T) {
	cfg := testConfig()
	cfg.Tiers["standard"] = config.Tier{RPS: 10, Burst: 2, HeavyCalls: 2}
	cfg.Tiers["premium"] = config.Tier{RPS: 20, Burst: 4, HeavyCalls: 4}
	l, _ := newTestLimiter(t, cfg)
	a := Key{Scope: ScopeTenant, ID: "tenant-a", Tier: "standard"}
	held := enterAll(t, l, a, 2)

	// The third waits for a place, and gets the first one given back.
	entered := make(chan func(), 1)
	go func() {
		release, err := l.Enter(context.Background(), a)
		if err != nil {
			t.Error(err)
			close(entered)
			return
		}
		entered <- release
	}()
	select {
	case <-entered:
		t.Fatal("a third heavy call ran beside two of a tier of heavy_calls 2")
	case <-time.After(50 * time.Millisecond):
	}
	// A fourth waits too (as many wait as may run); a fifth is refused at once.
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	fourth := make(chan error, 1)
	go func() {
		_, err := l.Enter(waitCtx, a)
		fourth <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_, err := l.Enter(context.Background(), a)
	var rej *Rejected
	if !errors.As(err, &rej) || rej.Scope != ScopeHeavy || rej.RetryAfterSeconds() != 1 {
		t.Fatalf("fifth call: %v, want a heavy refusal with Retry-After 1", err)
	}

	// Another tenant, and the same tenant at another tier, are not held up.
	for _, other := range []Key{{Scope: ScopeTenant, ID: "tenant-b", Tier: "standard"}, {Scope: ScopeTenant, ID: "tenant-a", Tier: "premium"}} {
		for _, release := range enterAll(t, l, other, 2) {
			release()
		}
	}

	held[0]()
	release := <-entered
	if release == nil {
		t.Fatal("the waiting call was not admitted")
	}
	stopWaiting()
	if err := <-fourth; !errors.Is(err, context.Canceled) {
		t.Errorf("a waiting call whose caller left: %v, want context.Canceled", err)
	}
	release()
	held[1]()
	if n := l.heavySlots(); n != 0 {
		t.Errorf("%d tenants held once every call ended, want 0", n)
	}
	if got := testutil.ToFloat64(l.rejections.WithLabelValues(string(ScopeHeavy))); got != 1 {
		t.Errorf("heavy rejections %v, want 1", got)
	}
	if got := testutil.ToFloat64(l.heavyRunning); got != 0 {
		t.Errorf("heavy calls running %v once all ended, want 0", got)
	}
}

func TestGateDeadlineWhileWaiting(t *testing.T) {
	cfg := testConfig()
	cfg.Tiers["standard"] = config.Tier{RPS: 10, Burst: 2, HeavyCalls: 1}
	l, _ := newTestLimiter(t, cfg)
	k := Key{Scope: ScopeTenant, ID: "t1"}
	held := enterAll(t, l, k, 1)
	defer held[0]()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Enter(ctx, k)
	var rej *Rejected
	if !errors.As(err, &rej) || rej.Scope != ScopeHeavy || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline while waiting: %v, want a heavy refusal caused by the deadline", err)
	}
}

// A tier that leaves heavy_calls out gets the default; an unknown tier
// the default tier's.
func TestGateSizes(t *testing.T) {
	cfg := testConfig()
	cfg.Tiers["standard"] = config.Tier{RPS: 10, Burst: 2, HeavyCalls: 3}
	l, _ := newTestLimiter(t, cfg)
	for _, tc := range []struct {
		tier string
		want int
	}{{"premium", config.DefaultHeavyCalls}, {"standard", 3}, {"no-such-tier", 3}, {"", 3}} {
		k := Key{Scope: ScopeTenant, ID: "t-" + tc.tier, Tier: tc.tier}
		var wg sync.WaitGroup
		held := enterAll(t, l, k, tc.want)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		if _, err := l.Enter(ctx, k); err == nil {
			t.Errorf("tier %q: call %d ran, want at most %d at once", tc.tier, tc.want+1, tc.want)
		}
		cancel()
		for _, release := range held {
			wg.Go(release)
		}
		wg.Wait()
	}
}

func TestGateOff(t *testing.T) {
	cfg := testConfig()
	cfg.Enabled = false
	cfg.Tiers["standard"] = config.Tier{RPS: 10, Burst: 2, HeavyCalls: 1}
	l, _ := newTestLimiter(t, cfg)
	enterAll(t, l, Key{Scope: ScopeTenant, ID: "t1"}, 10)
}
