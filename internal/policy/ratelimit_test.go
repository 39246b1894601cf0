package policy

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/limit"
)

// syncCarrier records response headers in a sync.Map.
type syncCarrier struct{ out *sync.Map }

func (syncCarrier) Header(string) string    { return "" }
func (s syncCarrier) SetHeader(k, v string) { s.out.Store(k, v) }
func (syncCarrier) SuccessStatus() int      { return http.StatusOK }

// callInfo is an Info for operation op from caller c, recording the
// response headers it is given.
func callInfo(op string, c Caller) (*Info, *sync.Map) {
	headers := &sync.Map{}
	info := &Info{
		Operation:     op,
		Transport:     GRPC,
		ClientIP:      "192.0.2.10",
		ContentLength: -1,
		Carrier:       syncCarrier{headers},
	}
	info.SetCaller(c)
	return info, headers
}

func TestRateLimitKey(t *testing.T) {
	cases := []struct {
		name   string
		caller Caller
		want   limit.Key
	}{
		{"partner app", Caller{TenantID: "t1", AppID: "app7", Tier: "premium"}, limit.Key{Scope: limit.ScopeApp, ID: "app7", Tier: "premium"}},
		{"user of a tenant", Caller{TenantID: "t1", UserID: "u1", Tier: "standard"}, limit.Key{Scope: limit.ScopeTenant, ID: "t1", Tier: "standard"}},
		{"tenant without tier", Caller{TenantID: "t1"}, limit.Key{Scope: limit.ScopeTenant, ID: "t1"}},
		{"anonymous", Caller{}, limit.Key{Scope: limit.ScopeIP, ID: "192.0.2.10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, _ := callInfo(testOp, tc.caller)
			if got := RateLimitKey(info); got != tc.want {
				t.Errorf("key %+v, want %+v", got, tc.want)
			}
		})
	}
	// An anonymous IPv6 client is limited as its /64: a host that holds
	// the whole network would otherwise get a fresh budget per address.
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} {
		info, _ := callInfo(testOp, Caller{})
		info.ClientIP = addr
		if got, want := RateLimitKey(info), (limit.Key{Scope: limit.ScopeIP, ID: "2001:db8:1:2::/64"}); got != want {
			t.Errorf("%s: key %+v, want %+v", addr, got, want)
		}
	}
}

func newLimiter(t *testing.T) *limit.Limiter {
	t.Helper()
	l, err := limit.New(config.RateLimit{
		Enabled:     true,
		DefaultTier: "standard",
		AnonRPS:     1,
		AnonBurst:   1,
		IdleEvict:   config.Duration{Duration: time.Minute},
		Tiers:       map[string]config.Tier{"standard": {RPS: 1, Burst: 1}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRateLimitAnswers(t *testing.T) {
	cases := []struct {
		name string
		// queueFull parks one caller in the queue (burst 1) first.
		queueFull  bool
		ctx        func() (context.Context, context.CancelFunc)
		wantStatus int
		wantReason string
		wantRetry  bool
	}{
		{"queue full: refused at once", true, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, http.StatusTooManyRequests, errs.ReasonRateLimited, true},
		{"deadline while waiting", false, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, http.StatusTooManyRequests, errs.ReasonRateLimited, true},
		{"caller left while waiting", false, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, 499, errs.ReasonCanceled, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(t)
			h := Chain(RateLimit(l))(func(context.Context, any) (any, error) { return "served", nil })
			tenant := Caller{TenantID: "t1"}

			info, _ := callInfo(testOp, tenant)
			if resp, err := h(WithInfo(context.Background(), info), nil); err != nil || resp != "served" {
				t.Fatalf("first call: %v %v", resp, err)
			}
			// At 1/s the next call waits about a second for its slot.
			hold, release := context.WithCancel(context.Background())
			defer release()
			if tc.queueFull {
				go func() {
					info, _ := callInfo(testOp, tenant)
					_, _ = h(WithInfo(hold, info), nil)
				}()
				time.Sleep(50 * time.Millisecond)
			}

			ctx, cancel := tc.ctx()
			defer cancel()
			info, headers := callInfo(testOp, tenant)
			resp, err := h(WithInfo(ctx, info), nil)
			e := errs.From(err)
			if resp != nil || e == nil || e.Status != tc.wantStatus || e.Reason != tc.wantReason {
				t.Fatalf("got %v %v, want %d %s", resp, err, tc.wantStatus, tc.wantReason)
			}
			retry, _ := headers.Load(HeaderRetryAfter)
			if !tc.wantRetry {
				if retry != nil {
					t.Errorf("Retry-After %v on a call that left", retry)
				}
				return
			}
			if retry == nil || retry != e.Metadata["retry_after_seconds"] || retry == "0" {
				t.Errorf("Retry-After %v, metadata %v", retry, e.Metadata)
			}
			if code := status.Code(err); code != codes.ResourceExhausted {
				t.Errorf("gRPC code %s, want ResourceExhausted", code)
			}
		})
	}
}

func TestRateLimitIsolatesTenants(t *testing.T) {
	l := newLimiter(t)
	h := Chain(RateLimit(l))(func(context.Context, any) (any, error) { return "served", nil })
	call := func(c Caller) error {
		info, _ := callInfo(testOp, c)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := h(WithInfo(ctx, info), nil)
		return err
	}
	if err := call(Caller{TenantID: "a"}); err != nil {
		t.Fatal(err)
	}
	var e *errs.Error
	if err := call(Caller{TenantID: "a"}); !errors.As(err, &e) || e.Reason != errs.ReasonRateLimited {
		t.Fatalf("tenant a over its limit: %v", err)
	}
	if err := call(Caller{TenantID: "b"}); err != nil {
		t.Fatalf("tenant b paid for tenant a: %v", err)
	}
}

func TestRateLimitOff(t *testing.T) {
	if RateLimit(nil) != nil {
		t.Fatal("a nil limiter must give no middleware, so Chain skips it")
	}
}

// testOp is an API operation: rate limited, unlike probes.
const testOp = "/mgv.open.v1.TestService/Op"

func TestProbesAreNeverThrottled(t *testing.T) {
	cfg := config.RateLimit{Enabled: true, DefaultTier: "t", AnonRPS: 1, AnonBurst: 1,
		IdleEvict: config.Duration{Duration: time.Minute}, Tiers: map[string]config.Tier{"t": {RPS: 1, Burst: 1}}}
	l, err := limit.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := RateLimit(l)(func(context.Context, any) (any, error) { return "ok", nil })
	for i := 0; i < 50; i++ {
		info, _ := callInfo("/grpc.health.v1.Health/Check", Caller{})
		if _, err := h(WithInfo(context.Background(), info), nil); err != nil {
			t.Fatalf("probe %d throttled: %v", i, err)
		}
	}
}

// A tenant's budget holds for its users and all its apps together, each
// app having its own besides: with 1/s, burst 1, a second app's first call
// is refused once the first app spent the tenant's, and a user's too.
// Before, each app a tenant made added a tier's rate (a tenant admin may
// make 50).
func TestATenantsAppsShareItsBudget(t *testing.T) {
	l := newLimiter(t)
	h := Chain(RateLimit(l))(func(context.Context, any) (any, error) { return "served", nil })
	call := func(c Caller) error {
		info, _ := callInfo(testOp, c)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_, err := h(WithInfo(ctx, info), nil)
		return err
	}
	if err := call(Caller{TenantID: "t1", AppID: "a1", Tier: "standard"}); err != nil {
		t.Fatalf("the first app's first call: %v", err)
	}
	for _, c := range []Caller{{TenantID: "t1", AppID: "a2", Tier: "standard"}, {TenantID: "t1", UserID: "u1", Tier: "standard"}} {
		if err := call(c); errs.ReasonOf(err) != errs.ReasonRateLimited {
			t.Errorf("%+v after the tenant's budget was spent: %v; want 429", c, err)
		}
	}
	if err := call(Caller{TenantID: "t2", AppID: "a3", Tier: "standard"}); err != nil {
		t.Errorf("another tenant's app: %v", err)
	}
}
