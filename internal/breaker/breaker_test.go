package breaker

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/errs"
)

type fixture struct {
	reg  *Registry
	prom *prometheus.Registry
	logs *bytes.Buffer
}

func testConfig() config.Breaker {
	return config.Breaker{
		Enabled:         true,
		FailureRate:     0.5,
		MinSamples:      10,
		ConsecutiveFail: 5,
		Window:          config.Duration{Duration: 10 * time.Second},
		Cooldown:        config.Duration{Duration: 50 * time.Millisecond},
	}
}

func newFixture(t *testing.T, cfg config.Breaker) fixture {
	t.Helper()
	f := fixture{prom: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	var err error
	f.reg, err = NewRegistry(cfg, zerolog.New(&lockedWriter{w: f.logs}), f.prom)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f fixture) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := f.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	next:
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

var errDown = errs.Unavailable("upstream")

func call(b *Breaker, err error) error {
	return b.Do(context.Background(), func(context.Context) error { return err })
}

func isRefusal(err error, name string) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Status == http.StatusServiceUnavailable &&
		e.Reason == errs.ReasonDependencyUnavailable && e.Metadata["dependency"] == name
}

func TestOpensOnConsecutiveFailuresAndRefusesFast(t *testing.T) {
	f := newFixture(t, testConfig())
	b := f.reg.Get("mysql")
	for i := range 4 {
		if err := call(b, errDown); err != errDown {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if b.State() != Closed {
		t.Fatalf("open after 4 of 5 failures")
	}
	_ = call(b, errDown)
	if b.State() != Open {
		t.Fatalf("state %s after 5 consecutive failures, want open", b.State())
	}

	ran := false
	var took []time.Duration
	var err error
	for range 9 {
		start := time.Now()
		err = b.Do(context.Background(), func(context.Context) error { ran = true; return nil })
		took = append(took, time.Since(start))
	}
	if ran {
		t.Fatal("an open breaker ran the call")
	}
	if !isRefusal(err, "mysql") {
		t.Fatalf("refusal %v, want 503 DEPENDENCY_UNAVAILABLE for mysql", err)
	}
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("gRPC code %s, want Unavailable", code)
	}
	slices.Sort(took)
	if took[len(took)/2] > time.Millisecond {
		t.Errorf("refusals took %v, want well under 1ms", took)
	}
	if got := f.metric(t, "mgv_breaker_state", map[string]string{"name": "mysql"}); got != 2 {
		t.Errorf("mgv_breaker_state %g, want 2", got)
	}
	if got := f.metric(t, "mgv_breaker_transitions_total", map[string]string{"name": "mysql", "to": "open"}); got != 1 {
		t.Errorf("transitions to open %g, want 1", got)
	}
	if !strings.Contains(f.logs.String(), `"breaker":"mysql","from":"closed","to":"open"`) {
		t.Errorf("no log line for the change: %s", f.logs)
	}
}

func TestOpensOnFailureRate(t *testing.T) {
	cfg := testConfig()
	cfg.ConsecutiveFail = 0
	f := newFixture(t, cfg)
	b := f.reg.Get("elasticsearch")
	// Alternating: never 2 failures in a row, half of them failures.
	for i := range 9 {
		err := error(nil)
		if i%2 == 1 {
			err = errDown
		}
		_ = call(b, err)
	}
	if b.State() != Closed {
		t.Fatal("opened before min_samples")
	}
	_ = call(b, errDown) // 10th sample, 5 failures: rate 0.5
	if b.State() != Open {
		t.Fatalf("state %s at failure rate 0.5 over 10 samples, want open", b.State())
	}
}

// The answers that are not the dependency's fault never open it, however
// many; nor do callers that give up.
func TestOnlyRealFailuresOpenIt(t *testing.T) {
	cases := []struct {
		name string
		ctx  func() context.Context
		err  error
	}{
		{"not found", context.Background, errs.NotFound("CONVERSATION_NOT_FOUND", "none")},
		{"validation", context.Background, errs.InvalidArgument("q", "empty")},
		{"auth", context.Background, errs.Unauthenticated("expired")},
		{"rate limited", context.Background, errs.New(http.StatusTooManyRequests, errs.ReasonRateLimited, "slow down")},
		{"grpc not found", context.Background, status.Error(codes.NotFound, "none")},
		{"canceled", context.Background, context.Canceled},
		{"caller left mid-call", canceledCtx, errs.Internal(errors.New("driver: bad connection"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			b := f.reg.Get("/mgv.open.v1.ConversationService/GetConversation")
			for range 100 {
				err := b.Do(tc.ctx(), func(context.Context) error { return tc.err })
				if err != tc.err {
					t.Fatalf("Do returned %v, want the call's own error", err)
				}
			}
			if b.State() != Closed {
				t.Fatalf("state %s after 100 × %s", b.State(), tc.name)
			}
		})
	}
}

func trip(t *testing.T, b *Breaker) {
	t.Helper()
	for range 5 {
		_ = call(b, errDown)
	}
	if b.State() != Open {
		t.Fatalf("state %s, want open", b.State())
	}
}

func TestHalfOpensAfterCooldown(t *testing.T) {
	cases := []struct {
		name      string
		probe     error
		probeCtx  func() context.Context
		wantAfter State
	}{
		{"probe succeeds: closed", nil, context.Background, Closed},
		{"probe answers not found: closed", errs.NotFound("X_NOT_FOUND", "none"), context.Background, Closed},
		{"probe fails: open again", errDown, context.Background, Open},
		{"probe canceled: the next call probes", context.Canceled, context.Background, Open},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			b := f.reg.Get("mysql")
			trip(t, b)
			if err := call(b, nil); !isRefusal(err, "mysql") {
				t.Fatalf("before the cooldown: %v, want a refusal", err)
			}
			time.Sleep(60 * time.Millisecond)

			probe, err := b.Allow()
			if err != nil {
				t.Fatalf("after the cooldown the probe was refused: %v", err)
			}
			if b.State() != HalfOpen {
				t.Fatalf("state %s during the probe, want half_open", b.State())
			}
			// Only one probe at a time.
			if _, err := b.Allow(); !isRefusal(err, "mysql") {
				t.Fatalf("a second call went through during the probe: %v", err)
			}
			probe.Done(tc.probeCtx(), tc.probe)
			if b.State() != tc.wantAfter {
				t.Fatalf("state %s after the probe, want %s", b.State(), tc.wantAfter)
			}
			switch tc.wantAfter {
			case Closed:
				if err := call(b, nil); err != nil {
					t.Fatalf("closed breaker refused: %v", err)
				}
			case Open:
				err := call(b, nil)
				if tc.probe == context.Canceled {
					// The cooldown is still over: the next call is the probe.
					if err != nil || b.State() != Closed {
						t.Fatalf("next probe: %v, state %s", err, b.State())
					}
				} else if !isRefusal(err, "mysql") {
					// A failed probe starts a new cooldown.
					t.Fatalf("right after a failed probe: %v, want a refusal", err)
				}
			}
			if got := f.metric(t, "mgv_breaker_transitions_total", map[string]string{"name": "mysql", "to": "half_open"}); got < 1 {
				t.Errorf("transitions to half_open %g, want some", got)
			}
		})
	}
}

// A probe whose caller never reports does not keep the breaker half-open
// for ever: after a cooldown another call probes.
func TestLostProbeIsReplaced(t *testing.T) {
	f := newFixture(t, testConfig())
	b := f.reg.Get("mysql")
	trip(t, b)
	time.Sleep(60 * time.Millisecond)
	if _, err := b.Allow(); err != nil { // never reported
		t.Fatal(err)
	}
	if _, err := b.Allow(); err == nil {
		t.Fatal("second probe let through at once")
	}
	time.Sleep(60 * time.Millisecond)
	if err := call(b, nil); err != nil || b.State() != Closed {
		t.Fatalf("replacement probe: %v, state %s", err, b.State())
	}
}

// Calls that began before the breaker opened do not decide its state.
func TestCallsFromBeforeTheTripAreNotCounted(t *testing.T) {
	f := newFixture(t, testConfig())
	b := f.reg.Get("mysql")
	late, _ := b.Allow()
	trip(t, b)
	time.Sleep(60 * time.Millisecond)
	late.Done(context.Background(), nil)
	if b.State() != Open {
		t.Fatalf("a success from before the trip moved the breaker to %s", b.State())
	}
}

func TestPanicCountsAsFailure(t *testing.T) {
	f := newFixture(t, testConfig())
	b := f.reg.Get("op")
	for range 5 {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic did not go on up")
				}
			}()
			_ = b.Do(context.Background(), func(context.Context) error { panic("boom") })
		}()
	}
	if b.State() != Open {
		t.Fatalf("state %s after 5 panics, want open", b.State())
	}
}

func TestDisabledNeverOpens(t *testing.T) {
	cfg := testConfig()
	cfg.Enabled = false
	f := newFixture(t, cfg)
	b := f.reg.Get("mysql")
	for range 50 {
		if err := call(b, errDown); err != errDown {
			t.Fatalf("disabled breaker: %v", err)
		}
	}
	if b.State() != Closed {
		t.Fatal("a disabled breaker opened")
	}
	var none *Breaker
	if err := call(none, nil); err != nil {
		t.Fatalf("nil breaker: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	f := newFixture(t, testConfig())
	first, again := f.reg.Get("mysql"), f.reg.Get("mysql")
	if first != again {
		t.Fatal("Get made two breakers for one name")
	}
	trip(t, f.reg.Get("elasticsearch"))
	got := f.reg.States()
	if len(got) != 2 || got["mysql"] != Closed || got["elasticsearch"] != Open {
		t.Fatalf("States() = %v", got)
	}
	if v := f.metric(t, "mgv_breaker_state", map[string]string{"name": "mysql"}); v != 0 {
		t.Errorf("a new breaker's gauge is %g, want 0", v)
	}
	if _, err := NewRegistry(testConfig(), zerolog.Nop(), f.prom); err == nil {
		t.Error("registering the metrics twice on one registry went unnoticed")
	}
	bad := testConfig()
	bad.Window.Duration = 0
	if _, err := NewRegistry(bad, zerolog.Nop(), nil); err == nil {
		t.Error("NewRegistry accepted a zero window")
	}
}

// Many callers with mixed outcomes while the breaker trips, probes and
// recovers: no race, and it ends in a state its engine agrees with.
func TestConcurrentUse(t *testing.T) {
	cfg := testConfig()
	cfg.Cooldown.Duration = 5 * time.Millisecond
	f := newFixture(t, cfg)
	b := f.reg.Get("mysql")
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				var err error
				if (g+i)%3 == 0 {
					err = errDown
				}
				_ = call(b, err)
			}
		})
	}
	wg.Wait()
	if (b.State() == Closed) == b.eng.tripped() {
		t.Fatalf("state %s disagrees with the engine (tripped %t)", b.State(), b.eng.tripped())
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != Closed {
		if time.Now().After(deadline) {
			t.Fatalf("never recovered: %s", b.State())
		}
		time.Sleep(10 * time.Millisecond)
		_ = call(b, nil)
	}
	if got := f.metric(t, "mgv_breaker_state", map[string]string{"name": "mysql"}); got != 0 {
		t.Errorf("gauge %g after recovery, want 0", got)
	}
}
