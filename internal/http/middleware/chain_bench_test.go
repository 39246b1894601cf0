package middleware_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/http/middleware"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/metrics"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/tracing"
)

const pingOp = "/mgv.open.v1.SystemService/Ping"

// BenchmarkHTTPChain serves GET /api/v1/ping through Echo as production
// does: bare (no policy at all), the chain with tracing off, with the pro
// sampler (1 %), and with every request sampled. Spans go through the real
// reporter and HTTP sender to a collector that counts and discards them, so
// allocs/op includes the reporter's share. allocs/op and the profiles of
// this benchmark stay meaningful on a loaded machine, unlike req/s.
func BenchmarkHTTPChain(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchEcho(b, nil) })
	b.Run("untraced", func(b *testing.B) { benchEcho(b, benchChain(b, tracing.Noop())) })
	b.Run("pro-1pct", func(b *testing.B) { benchEcho(b, benchChain(b, benchTracer(b, "probabilistic", 0.01))) })
	b.Run("sampled", func(b *testing.B) { benchEcho(b, benchChain(b, benchTracer(b, "const", 1))) })
}

// benchTracer is the real tracer sending to a collector that discards.
func benchTracer(b *testing.B, sampler string, param float64) tracing.Tracer {
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

// benchChain is internal/app's chain for an anonymous public call: auth
// finds no token and passes, rate limit and breaker run as configured.
func benchChain(b *testing.B, t tracing.Tracer) policy.Middleware {
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
		policy.Auth(nil, map[string]bool{pingOp: true}),
		policy.RateLimit(lim),
		policy.Breaker(brk),
	)
}

func benchEcho(b *testing.B, chain policy.Middleware) {
	e := echo.New()
	e.HTTPErrorHandler = render.ErrorHandler(zerolog.Nop())
	e.JSONSerializer = render.Serializer{}
	if chain != nil {
		ops := middleware.Operations{}
		ops.Add(http.MethodGet, "/api/v1/ping", pingOp)
		e.Use(middleware.Policy(chain, ops, middleware.Bounds{MaxBody: 1 << 20}))
	}
	e.GET("/api/v1/ping", controller.Ping)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/ping", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		w.status = 0
		e.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// discardWriter is a reusable ResponseWriter, so the benchmark measures the
// server's allocations, not the recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) { w.status = code }
