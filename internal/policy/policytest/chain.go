// Package policytest builds the production policy chain for benchmarks of
// the transport adapters (internal/http/middleware, internal/grpc/interceptor),
// with the real tracer reporting to a collector that discards.
package policytest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/metrics"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/tracing"
)

// PingOperation is SystemService.Ping, public, rate limited and guarded by
// a breaker like every API operation.
const PingOperation = "/mgv.open.v1.SystemService/Ping"

// Tracers are the benchmarked tracing settings: off, the pro sampler (1 %),
// and every call sampled.
func Tracers(tb testing.TB) map[string]func() tracing.Tracer {
	return map[string]func() tracing.Tracer{
		"untraced": tracing.Noop,
		"pro-1pct": func() tracing.Tracer { return Tracer(tb, "probabilistic", 0.01) },
		"sampled":  func() tracing.Tracer { return Tracer(tb, "const", 1) },
	}
}

// Tracer is the real tracer (reporter, HTTP sender) sending to a collector
// that discards; Cleanup checks that sampled spans reached it.
func Tracer(b testing.TB, sampler string, param float64) tracing.Tracer {
	b.Helper()
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(collector.Close)
	t, err := tracing.New(config.Tracing{
		Enabled: true, ServiceName: "bench", Sampler: sampler, SamplerParam: param,
		CollectorURL:  collector.URL,
		FlushInterval: config.Duration{Duration: 100 * time.Millisecond},
		FlushTimeout:  config.Duration{Duration: 2 * time.Second},
	}, "bench", zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := t.Close(ctx); err != nil {
			b.Error(err)
		}
		if sampler == "const" && posts.Load() == 0 {
			b.Error("no span batch reached the collector")
		}
	})
	return t
}

// Chain is internal/app's chain for an anonymous call of PingOperation:
// auth finds no token and passes, rate limit and breaker run as configured.
func Chain(b testing.TB, t tracing.Tracer) policy.Middleware {
	b.Helper()
	reg := prometheus.NewRegistry()
	cfg := config.Default()
	cfg.RateLimit.AnonRPS, cfg.RateLimit.AnonBurst = 1e9, 1e6
	lim, err := limit.New(cfg.RateLimit, reg)
	if err != nil {
		b.Fatal(err)
	}
	brk, err := breaker.NewRegistry(cfg.Breaker, zerolog.Nop(), reg)
	if err != nil {
		b.Fatal(err)
	}
	log := zerolog.New(io.Discard).Hook(tracing.LogHook{})
	return policy.Chain(
		policy.RequestID(),
		policy.Recover(log),
		policy.AccessLog(log, metrics.New()),
		policy.Tracing(t),
		policy.Timeout(10*time.Second, nil),
		policy.SizeLimit(1<<20),
		policy.Auth(nil, map[string]bool{PingOperation: true}, nil),
		policy.RateLimit(lim),
		policy.Breaker(brk),
	)
}
