package limit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/ratelimit"

	"github.com/megaview/mgvcore/internal/config"
)

func testConfig() config.RateLimit {
	return config.RateLimit{
		Enabled:     true,
		DefaultTier: "standard",
		AnonRPS:     5,
		AnonBurst:   1,
		IdleEvict:   config.Duration{Duration: time.Minute},
		Tiers: map[string]config.Tier{
			"standard": {RPS: 10, Burst: 2},
			"premium":  {RPS: 20, Burst: 4},
			"slow":     {RPS: 1, Burst: 3},
		},
	}
}

func newTestLimiter(t *testing.T, cfg config.RateLimit) (*Limiter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return l, reg
}

// queueOf is k's queue, nil when k holds none.
func queueOf(l *Limiter, k Key) *queue {
	qk, _ := l.resolve(k)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		q := s.queues[qk]
		s.mu.Unlock()
		if q != nil {
			return q
		}
	}
	return nil
}

// queued is how many calls wait for k now.
func queued(l *Limiter, k Key) int {
	q := queueOf(l, k)
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiters.Len()
}

// fill admits one call for k and parks burst more in its queue until ctx
// ends; it returns when they are all queued.
func fill(t *testing.T, ctx context.Context, l *Limiter, k Key, burst int) *sync.WaitGroup {
	t.Helper()
	if err := l.Wait(ctx, k); err != nil {
		t.Fatalf("first call of an idle key: %v", err)
	}
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() { _ = l.Wait(ctx, k) })
	}
	deadline := time.Now().Add(2 * time.Second)
	for queued(l, k) < burst {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", queued(l, k), burst)
		}
		time.Sleep(time.Millisecond)
	}
	return &wg
}

func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestFullQueueRefusesAtOnce(t *testing.T) {
	cases := []struct {
		name      string
		key       Key
		burst     int
		wantRetry time.Duration // (burst+1) intervals
	}{
		{"tenant on its tier", Key{Scope: ScopeTenant, ID: "t1", Tier: "slow"}, 3, 4 * time.Second},
		{"app on the default tier", Key{Scope: ScopeApp, ID: "a1"}, 2, 300 * time.Millisecond},
		{"unknown tier is the default", Key{Scope: ScopeTenant, ID: "t2", Tier: "gold"}, 2, 300 * time.Millisecond},
		{"anonymous ip ignores the tier", Key{Scope: ScopeIP, ID: "192.0.2.7", Tier: "premium"}, 1, 400 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, reg := newTestLimiter(t, testConfig())
			ctx, cancel := context.WithCancel(context.Background())
			wg := fill(t, ctx, l, tc.key, tc.burst)
			defer wg.Wait()
			defer cancel()

			// The median of a few, so a busy machine descheduling the test
			// once does not count as a slow refusal.
			var took []time.Duration
			var err error
			for range 9 {
				start := time.Now()
				err = l.Wait(context.Background(), tc.key)
				took = append(took, time.Since(start))
			}
			var rej *Rejected
			if !errors.As(err, &rej) {
				t.Fatalf("err %v, want *Rejected", err)
			}
			slices.Sort(took)
			if took[len(took)/2] > 5*time.Millisecond {
				t.Errorf("refusals took %v, want < 5ms", took)
			}
			if rej.Scope != tc.key.Scope || rej.RetryAfter != tc.wantRetry {
				t.Errorf("got scope %s retry %s, want %s %s", rej.Scope, rej.RetryAfter, tc.key.Scope, tc.wantRetry)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Error("an immediate refusal must not look like a timeout")
			}
			if got := metricValue(t, reg, "mgv_ratelimit_rejections_total", "scope", string(tc.key.Scope)); got != 9 {
				t.Errorf("rejections metric %g, want 9", got)
			}
			if got := metricValue(t, reg, "mgv_ratelimit_waiting", "", ""); got != float64(tc.burst) {
				t.Errorf("waiting metric %g, want %d", got, tc.burst)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {300 * time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {4 * time.Second, 4}} {
		if got := (&Rejected{RetryAfter: tc.d}).RetryAfterSeconds(); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestWaitingRespectsCancellation(t *testing.T) {
	l, reg := newTestLimiter(t, testConfig())
	k := Key{Scope: ScopeTenant, ID: "t", Tier: "slow"} // one per second
	if err := l.Wait(context.Background(), k); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr func(error) bool
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(30*time.Millisecond, cancel)
			return ctx, cancel
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"deadline is a rejection", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, func(err error) bool {
			var rej *Rejected
			return errors.As(err, &rej) && errors.Is(err, context.DeadlineExceeded) && rej.RetryAfter > 0
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := l.Wait(ctx, k)
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("left after %s, want about 30ms", took)
			}
			if !tc.wantErr(err) {
				t.Errorf("err %v", err)
			}
			if n := queued(l, k); n != 0 {
				t.Errorf("%d still queued after leaving", n)
			}
		})
	}
	if got := metricValue(t, reg, "mgv_ratelimit_waiting", "", ""); got != 0 {
		t.Errorf("waiting metric %g after everyone left", got)
	}
}

// countingLimiter counts the slots Take issues.
type countingLimiter struct {
	inner ratelimit.Limiter
	takes atomic.Int64
}

func (c *countingLimiter) Take() time.Time {
	c.takes.Add(1)
	return c.inner.Take()
}

// countTakes makes k's queue count its slots; k must have been used.
func countTakes(l *Limiter, k Key) (*queue, *countingLimiter) {
	q := queueOf(l, k)
	q.mu.Lock()
	defer q.mu.Unlock()
	c := &countingLimiter{inner: q.rl}
	q.rl = c
	return q, c
}

// settled waits until q has no pacer running and returns its spare slots.
func settled(t *testing.T, q *queue) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		pacing, spare := q.pacing, q.spare
		q.mu.Unlock()
		if !pacing {
			return spare
		}
		if time.Now().After(deadline) {
			t.Fatal("the pacer never stopped")
		}
		time.Sleep(time.Millisecond)
	}
}

// A caller that gives up must hand its place on: the slot it would have
// had goes to the next caller, or waits for one as a spare.
func TestAbandonedSlotGoesToTheNextCaller(t *testing.T) {
	l, _ := newTestLimiter(t, testConfig())
	k := Key{Scope: ScopeTenant, ID: "t", Tier: "premium"} // 50ms apart
	if err := l.Wait(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	q, c := countTakes(l, k)

	gaveUp, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(gaveUp, k) }()
	for queued(l, k) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	if spare := settled(t, q); spare != 1 || c.takes.Load() != 1 {
		t.Fatalf("%d spare of %d taken, want the abandoned slot kept", spare, c.takes.Load())
	}
	start := time.Now()
	if err := l.Wait(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 25*time.Millisecond {
		t.Errorf("the next caller waited %s for a slot already paid for", took)
	}
	if spare := settled(t, q); spare != 0 || c.takes.Load() != 1 {
		t.Errorf("%d spare of %d taken after the next caller used it", spare, c.takes.Load())
	}
}

// Many callers giving up at random moments: every call is either admitted
// or leaves, the queue ends empty, and every slot taken from the pacer was
// used exactly once (admitted, or kept as a spare).
func TestCancellationKeepsTheCount(t *testing.T) {
	cfg := testConfig()
	cfg.Tiers["fast"] = config.Tier{RPS: 500, Burst: 1000}
	l, reg := newTestLimiter(t, cfg)
	k := Key{Scope: ScopeTenant, ID: "t", Tier: "fast"}
	if err := l.Wait(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	q, c := countTakes(l, k)

	const callers = 400
	var admitted, left atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			// Every other caller gives up within 0..39ms; the rest wait.
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if i%2 == 0 {
				ctx, cancel = context.WithTimeout(ctx, time.Duration(i%40)*time.Millisecond)
			}
			defer cancel()
			if err := l.Wait(ctx, k); err != nil {
				left.Add(1)
				return
			}
			admitted.Add(1)
		})
	}
	wg.Wait()
	spare := settled(t, q)
	if admitted.Load()+left.Load() != callers {
		t.Fatalf("%d admitted + %d left != %d", admitted.Load(), left.Load(), callers)
	}
	if admitted.Load() < callers/2 || left.Load() == 0 {
		t.Errorf("%d admitted, %d left: the test did not exercise both", admitted.Load(), left.Load())
	}
	if taken := c.takes.Load(); taken != admitted.Load()+int64(spare) {
		t.Errorf("%d slots taken, %d admitted, %d spare: slots lost or issued twice", taken, admitted.Load(), spare)
	}
	if n := queued(l, k); n != 0 {
		t.Errorf("%d still queued", n)
	}
	if got := metricValue(t, reg, "mgv_ratelimit_waiting", "", ""); got != 0 {
		t.Errorf("waiting metric %g, want 0", got)
	}
}

// offer calls Wait for k from 30 looping callers for d and counts the
// calls admitted and refused.
func offer(l *Limiter, k Key, d time.Duration) (admitted, refused int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var in, out atomic.Int64
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := l.Wait(ctx, k); err == nil {
					in.Add(1)
				} else if errors.Is(err, context.DeadlineExceeded) {
					return
				} else {
					out.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return in.Load(), out.Load()
}

func TestAdmittedRateIsTheConfiguredRate(t *testing.T) {
	cfg := testConfig()
	cfg.Tiers["hundred"] = config.Tier{RPS: 100, Burst: 20}
	l, _ := newTestLimiter(t, cfg)

	// Offer far more than the rate for 2s from looping callers.
	admitted, refused := offer(l, Key{Scope: ScopeTenant, ID: "t", Tier: "hundred"}, 2*time.Second)
	// 200 in 2s. Never more; fewer only if the machine starves the pacer.
	// The benchmark carries the exact figure.
	if admitted < 140 || admitted > 212 {
		t.Errorf("admitted %d in 2s, want about 200 (refused %d)", admitted, refused)
	}
	if refused == 0 {
		t.Error("more than the rate was offered and nothing was refused")
	}
}

func TestKeysAreIsolated(t *testing.T) {
	cases := []struct {
		name        string
		busy, other Key
	}{
		{"two tenants", Key{Scope: ScopeTenant, ID: "a", Tier: "slow"}, Key{Scope: ScopeTenant, ID: "b", Tier: "slow"}},
		{"same id in two scopes", Key{Scope: ScopeTenant, ID: "x", Tier: "slow"}, Key{Scope: ScopeApp, ID: "x", Tier: "slow"}},
		{"two client ips", Key{Scope: ScopeIP, ID: "192.0.2.1"}, Key{Scope: ScopeIP, ID: "192.0.2.2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AnonRPS = 1
			l, _ := newTestLimiter(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			_, r := l.resolve(tc.busy)
			wg := fill(t, ctx, l, tc.busy, r.burst)
			defer wg.Wait()
			defer cancel()
			var rej *Rejected
			if err := l.Wait(context.Background(), tc.busy); !errors.As(err, &rej) {
				t.Fatalf("the busy key was not refused: %v", err)
			}
			start := time.Now()
			if err := l.Wait(context.Background(), tc.other); err != nil {
				t.Fatalf("the other key: %v", err)
			}
			if took := time.Since(start); took > 5*time.Millisecond {
				t.Errorf("the other key waited %s", took)
			}
		})
	}
}

func TestDisabledAdmitsEverything(t *testing.T) {
	l, err := New(config.RateLimit{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if err := l.Wait(context.Background(), Key{Scope: ScopeIP, ID: "x"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, mutate := range map[string]func(*config.RateLimit){
		"unknown default tier": func(c *config.RateLimit) { c.DefaultTier = "gold" },
		"zero burst":           func(c *config.RateLimit) { c.Tiers["standard"] = config.Tier{RPS: 10} },
		"zero anon rps":        func(c *config.RateLimit) { c.AnonRPS = 0 },
		"no eviction":          func(c *config.RateLimit) { c.IdleEvict = config.Duration{} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mutate(&cfg)
			if _, err := New(cfg, nil); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
