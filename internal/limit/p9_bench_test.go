package limit_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/policy"
)

// P9 of QUALITY.md through the same Limiter and policy chain the servers
// use: tenant A limited to 100 req/s is offered 500 req/s while tenant B
// sends 50 req/s. Reports A's admitted rate (target ±5 % of 100/s), the p99
// latency of A's rejections (target < 5 ms) and B's p99 loaded against B
// alone (target within 20 %). One run takes about 8 s:
//
//	go test -run '^$' -bench BenchmarkP9TenantIsolation -benchtime 1x ./internal/limit/
func BenchmarkP9TenantIsolation(b *testing.B) {
	const (
		aRate, aOffered, bOffered = 100, 500, 50
		aloneFor, loadedFor       = 3 * time.Second, 4 * time.Second
		warmUp                    = time.Second // A's queue fills, its pace settles
	)
	for range b.N {
		l, err := limit.New(config.RateLimit{
			Enabled:     true,
			DefaultTier: "p9",
			AnonRPS:     1,
			AnonBurst:   1,
			IdleEvict:   config.Duration{Duration: time.Minute},
			Tiers:       map[string]config.Tier{"p9": {RPS: aRate, Burst: aRate}},
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		run := newP9Chain(l)

		bAlone := run.offer(context.Background(), "B", bOffered, aloneFor)
		bAlone.wait()

		start := time.Now()
		a := run.offer(context.Background(), "A", aOffered, loadedFor)
		bLoaded := run.offer(context.Background(), "B", bOffered, loadedFor)
		a.wait()
		bLoaded.wait()

		from, to := start.Add(warmUp), start.Add(loadedFor)
		admitted := 0
		for _, at := range a.admittedAt {
			if !at.Before(from) && at.Before(to) {
				admitted++
			}
		}
		rate := float64(admitted) / to.Sub(from).Seconds()
		rejectP99 := p99(a.rejected)
		aloneP99, loadedP99 := p99(bAlone.served), p99(bLoaded.served)

		b.ReportMetric(rate, "A_admitted/s")
		b.ReportMetric(100*(rate-aRate)/aRate, "A_rate_error_%")
		b.ReportMetric(float64(rejectP99.Microseconds())/1000, "A_reject_p99_ms")
		b.ReportMetric(float64(aloneP99.Microseconds()), "B_alone_p99_us")
		b.ReportMetric(float64(loadedP99.Microseconds()), "B_loaded_p99_us")
		b.ReportMetric(float64(loadedP99)/float64(aloneP99), "B_p99_loaded/alone")
		b.Logf("A: %d admitted, %d refused; B: %d alone, %d loaded, %d refused",
			len(a.admittedAt), len(a.rejected), len(bAlone.served), len(bLoaded.served), len(bAlone.rejected)+len(bLoaded.rejected))
	}
}

// p9Chain is the rate-limit policy of the servers around a handler that
// notes when each call is admitted.
type p9Chain struct {
	h policy.Handler
}

func newP9Chain(l *limit.Limiter) p9Chain {
	return p9Chain{h: policy.Chain(policy.RateLimit(l))(func(context.Context, any) (any, error) {
		return time.Now(), nil
	})}
}

// tally is what one tenant's calls came to.
type tally struct {
	mu         sync.Mutex
	wg         sync.WaitGroup
	admittedAt []time.Time
	served     []time.Duration // latency of admitted calls
	rejected   []time.Duration // latency of 429s
}

func (t *tally) wait() { t.wg.Wait() }

// offer sends rps calls per second as tenant for d, open loop: each call on
// its own goroutine, as a server would, whatever the earlier ones are doing.
func (c p9Chain) offer(ctx context.Context, tenant string, rps int, d time.Duration) *tally {
	t := &tally{}
	tick := time.NewTicker(time.Second / time.Duration(rps))
	stop := time.Now().Add(d)
	t.wg.Go(func() {
		defer tick.Stop()
		for now := range tick.C {
			if now.After(stop) {
				return
			}
			t.wg.Go(func() { t.call(ctx, c.h, tenant) })
		}
	})
	return t
}

func (t *tally) call(ctx context.Context, h policy.Handler, tenant string) {
	// Each call has the deadline a server would give it.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info := &policy.Info{
		Operation:     "/mgv.open.v1.ConversationService/ListConversations",
		Transport:     policy.GRPC,
		ContentLength: -1,
		Carrier:       policy.NoCarrier{},
	}
	info.SetCaller(policy.Caller{TenantID: tenant})
	start := time.Now()
	resp, err := h(policy.WithInfo(ctx, info), nil)
	took := time.Since(start)

	t.mu.Lock()
	defer t.mu.Unlock()
	var e *errs.Error
	switch {
	case err == nil:
		t.admittedAt = append(t.admittedAt, resp.(time.Time))
		t.served = append(t.served, took)
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		t.rejected = append(t.rejected, took)
	}
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}
