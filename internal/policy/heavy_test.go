package policy

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/limit"
)

func TestHeavyBoundsATenantsHeavyCalls(t *testing.T) {
	const heavyOp, lightOp = "/mgv.test.v1.Stats/Year", "/mgv.test.v1.Stats/One"
	l, err := limit.New(config.RateLimit{
		Enabled:     true,
		DefaultTier: "standard",
		AnonRPS:     1000,
		AnonBurst:   1000,
		IdleEvict:   config.Duration{Duration: time.Minute},
		Tiers:       map[string]config.Tier{"standard": {RPS: 1000, Burst: 1000, HeavyCalls: 1}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	running, finish := make(chan struct{}), make(chan struct{})
	h := Chain(RateLimit(l), Heavy(l, map[string]bool{heavyOp: true}))(func(ctx context.Context, _ any) (any, error) {
		if InfoFrom(ctx).Operation == heavyOp && InfoFrom(ctx).Caller().TenantID == "t1" {
			running <- struct{}{}
			<-finish
		}
		return "served", nil
	})
	call := func(op string, c Caller, wait time.Duration) (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		info, _ := callInfo(op, c)
		return h(WithInfo(ctx, info), nil)
	}
	tenant := Caller{TenantID: "t1", AppID: "app1"}
	first := make(chan error, 1)
	go func() {
		_, err := call(heavyOp, tenant, 10*time.Second)
		first <- err
	}()
	<-running

	// The same tenant's next heavy call, from a user or another app,
	// waits for the place and is refused once its deadline passes.
	for _, c := range []Caller{{TenantID: "t1", UserID: "u1"}, {TenantID: "t1", AppID: "app2"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		info, out := callInfo(heavyOp, c)
		resp, err := h(WithInfo(ctx, info), nil)
		cancel()
		e := errs.From(err)
		if resp != nil || e == nil || e.Status != http.StatusTooManyRequests || e.Reason != errs.ReasonRateLimited {
			t.Fatalf("%+v: got %v %v, want 429 RATE_LIMITED", c, resp, err)
		}
		if retry, _ := out.Load(HeaderRetryAfter); retry != "1" {
			t.Errorf("Retry-After %v, want 1", retry)
		}
		if code := status.Code(err); code != codes.ResourceExhausted {
			t.Errorf("gRPC code %s, want ResourceExhausted", code)
		}
	}
	// Its light calls, another tenant's heavy calls and calls without a
	// tenant go on.
	for _, tc := range []struct {
		op string
		c  Caller
	}{{lightOp, tenant}, {heavyOp, Caller{TenantID: "t2"}}, {heavyOp, Caller{}}} {
		if resp, err := call(tc.op, tc.c, time.Second); err != nil || resp != "served" {
			t.Errorf("%s by %+v: %v %v, want served", tc.op, tc.c, resp, err)
		}
	}
	close(finish)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The place is given back.
	go func() { <-running }()
	if resp, err := call(heavyOp, tenant, time.Second); err != nil || resp != "served" {
		t.Errorf("after the first ended: %v %v, want served", resp, err)
	}
}
