package breaker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
)

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestRoundTripper(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		down     bool // the server is gone: a transport error
		wantOpen bool
	}{
		{"ok", http.StatusOK, false, false},
		{"not found", http.StatusNotFound, false, false},
		{"bad request", http.StatusBadRequest, false, false},
		{"too many requests", http.StatusTooManyRequests, false, false},
		{"server error", http.StatusInternalServerError, false, true},
		{"unavailable", http.StatusServiceUnavailable, false, true},
		{"connection refused", 0, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			if tc.down {
				srv.Close()
			}
			f := newFixture(t, testConfig())
			b := f.reg.Get(Elasticsearch)
			client := &http.Client{Transport: RoundTripper(b, nil)}

			for range 6 {
				resp, err := client.Get(srv.URL)
				if err == nil {
					_ = resp.Body.Close()
				}
			}
			if got := b.State() == Open; got != tc.wantOpen {
				t.Fatalf("state %s after 6 calls answering %d", b.State(), tc.status)
			}
			if !tc.wantOpen {
				return
			}

			before := hits.Load()
			body := &closeRecorder{Reader: strings.NewReader(`{"query":{}}`)}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
			start := time.Now()
			_, err := client.Do(req)
			if took := time.Since(start); took > 50*time.Millisecond {
				t.Errorf("refusal took %s", took)
			}
			if e := errs.From(err); e.Status != http.StatusServiceUnavailable || e.Reason != errs.ReasonDependencyUnavailable {
				t.Errorf("refusal %v became %d %s, want 503 DEPENDENCY_UNAVAILABLE", err, e.Status, e.Reason)
			}
			if hits.Load() != before {
				t.Error("an open breaker let the request reach the server")
			}
			if !body.closed.Load() {
				t.Error("the refused request's body was not closed")
			}
		})
	}
}

func TestRoundTripperCanceledRequestsDoNotCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	f := newFixture(t, testConfig())
	b := f.reg.Get("http:search")
	client := &http.Client{Transport: RoundTripper(b, nil)}
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if _, err := client.Do(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want canceled", err)
		}
	}
	if b.State() != Closed {
		t.Fatalf("callers that gave up opened the breaker: %s", b.State())
	}
}
