package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/http/middleware"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/policy/policytest"
)

// BenchmarkHTTPChain serves GET /api/v1/ping through Echo as production
// does: bare (no policy at all), the chain with tracing off, with the pro
// sampler (1 %), and with every request sampled. Spans go through the real
// reporter and HTTP sender to a collector that counts and discards them, so
// allocs/op includes the reporter's share. allocs/op and the profiles of
// this benchmark stay meaningful on a loaded machine, unlike req/s.
func BenchmarkHTTPChain(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchEcho(b, nil) })
	for _, name := range []string{"untraced", "pro-1pct", "sampled"} {
		b.Run(name, func(b *testing.B) { benchEcho(b, policytest.Chain(b, policytest.Tracers(b)[name]())) })
	}
}

func benchEcho(b *testing.B, chain policy.Middleware) {
	e := echo.New()
	e.HTTPErrorHandler = render.ErrorHandler(zerolog.Nop())
	e.JSONSerializer = render.Serializer{}
	if chain != nil {
		ops := middleware.Operations{}
		ops.Add(http.MethodGet, "/api/v1/ping", policytest.PingOperation)
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
