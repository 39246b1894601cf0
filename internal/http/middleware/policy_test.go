package middleware_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// A GET that declares a body it never sends is answered at once, and its
// connection closed: net/http would otherwise wait for the body before
// answering, until the read deadline. A POST's body is still read, and
// its connection kept.
func TestBodyOfAMethodWithoutOneIsNeverWaitedFor(t *testing.T) {
	e := echo.New()
	e.Use(middleware.Policy(policy.Chain(), middleware.Operations{}, middleware.Bounds{MaxBody: 1 << 10}))
	e.GET("/get", func(c echo.Context) error { return c.String(http.StatusOK, "got") })
	e.POST("/post", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)

	// The POST first, on the same connection: its body is read and the
	// connection stays open for the next request.
	if _, err := io.WriteString(conn, "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "hello" || resp.Close {
		t.Fatalf("POST: %d %q, close %v; want 200 hello on a kept connection", resp.StatusCode, body, resp.Close)
	}

	start := time.Now()
	if _, err := io.WriteString(conn, "GET /get HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer to a GET with a declared body after %s: %v", time.Since(start), err)
	}
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "got" || !resp.Close {
		t.Fatalf("GET: %d %q, close %v; want 200 got, and the connection closed", resp.StatusCode, body, resp.Close)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stayed open after the answer: %v", err)
	}
}

// Routes without a name are named by method and path, but only for the
// methods net/http defines: any other method a client sends is one name,
// so that sending many cannot grow the metrics' labels.
func TestOperationOfAnUnknownMethodIsBounded(t *testing.T) {
	ops := middleware.Operations{}
	ops.Add(http.MethodGet, "/api/x/:id", "/mgv.x.v1.X/Get")
	for _, c := range []struct{ method, path, want string }{
		{http.MethodGet, "/api/x/:id", "/mgv.x.v1.X/Get"},
		{http.MethodGet, "/healthz", "GET /healthz"},
		{http.MethodDelete, "/healthz", "DELETE /healthz"},
		{"FOO1", "/healthz", "http.unmatched"},
		{"PROPFIND", "/api/x/:id", "http.unmatched"},
		{http.MethodGet, "/*", "http.unmatched"},
		{http.MethodGet, "", "http.unmatched"},
	} {
		if got := ops.Lookup(c.method, c.path); got != c.want {
			t.Errorf("Lookup(%q, %q) = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}
