package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/middleware"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/tracing"
)

// The policies read headers by any spelling; the ones they use are looked
// up in canonical form, the others canonicalised as net/http does. The
// chain, built once, runs each request's own route handler.
func TestPolicyReadsHeadersAndRunsEachRoute(t *testing.T) {
	var got map[string]string
	reading := func(next policy.Handler) policy.Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := policy.InfoFrom(ctx)
			got = map[string]string{}
			for _, k := range []string{policy.HeaderRequestID, "authorization", tracing.HeaderTraceContext, "x-other", "X-Missing"} {
				got[k] = info.Header(k)
			}
			return next(ctx, req)
		}
	}
	e := echo.New()
	e.Use(middleware.Policy(policy.Chain(reading), middleware.Operations{}, middleware.Bounds{MaxBody: 1 << 10}))
	e.GET("/a", func(c echo.Context) error { return c.String(http.StatusOK, "a") })
	e.GET("/b", func(c echo.Context) error { return c.String(http.StatusOK, "b") })

	for _, path := range []string{"/a", "/b", "/a"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("x-request-id", "rid")
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("uber-trace-id", "1:2:0:1")
		req.Header.Set("X-Other", "o")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Body.String() != path[1:] {
			t.Fatalf("%s answered %q", path, w.Body.String())
		}
		want := map[string]string{policy.HeaderRequestID: "rid", "authorization": "Bearer t", tracing.HeaderTraceContext: "1:2:0:1", "x-other": "o", "X-Missing": ""}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: Header(%q) = %q, want %q", path, k, got[k], v)
			}
		}
	}
}
