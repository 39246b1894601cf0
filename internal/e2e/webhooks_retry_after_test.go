//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/polltest"
)

// pathReceiver answers each path's first request as first says (status and
// Retry-After, computed when the request comes) and every later one 200,
// recording when each request came.
type pathReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	at    map[string][]time.Time
	first map[string]func() (int, string)
}

func newPathReceiver(t *testing.T, first map[string]func() (int, string)) *pathReceiver {
	r := &pathReceiver{at: map[string][]time.Time{}, first: first}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.at[req.URL.Path] = append(r.at[req.URL.Path], time.Now())
		n, answer := len(r.at[req.URL.Path]), r.first[req.URL.Path]
		r.mu.Unlock()
		if n == 1 && answer != nil {
			code, after := answer()
			w.Header().Set("Retry-After", after)
			w.WriteHeader(code)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *pathReceiver) times(path string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at[path]...)
}

// A receiver's Retry-After on a 429 or 503 (delta-seconds or an HTTP-date)
// holds off the next attempt, within webhooks.retry_base..retry_max (100ms..6s here), on
// every instance and across a kill -9 and restart (the time is stored); a
// negative value is ignored for the usual backoff. Two instances share the
// subscriptions; the one that failed the attempts is killed and started
// again before the retries are due.
func TestWebhookRetryAfterIsHonouredAcrossInstancesOnMariaDB(t *testing.T) {
	rcv := newPathReceiver(t, map[string]func() (int, string){
		"/delta": func() (int, string) { return http.StatusServiceUnavailable, "4" },
		"/date": func() (int, string) {
			return http.StatusTooManyRequests, time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
		},
		"/clamp":    func() (int, string) { return http.StatusServiceUnavailable, "3600" },
		"/negative": func() (int, string) { return http.StatusServiceUnavailable, "-5" },
	})
	env := fastWebhooksEnv(t, "6s")
	a := NewService(t, env)
	a.Start()
	b := NewService(t, env)
	b.Start()
	f := NewFixture(t, a)
	ev, ctx := eventsClient(t, a, f.AppToken(t))
	paths := []string{"/delta", "/date", "/clamp", "/negative"}
	for _, p := range paths {
		if _, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + p,
			EventTypes: []string{"conversation.created"}}); err != nil {
			t.Fatal(err)
		}
	}
	newPartner(t, a.GRPC(), f.AppToken(t)).create("retry-after-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	polltest.Until(t, 15*time.Second, 20*time.Millisecond, "the first attempts, and the negative one's retry", func() bool {
		for _, p := range paths {
			if len(rcv.times(p)) < 1 {
				return false
			}
		}
		return len(rcv.times("/negative")) >= 2
	})
	// Both instances forget what they knew: a is killed and started again,
	// b delivers meanwhile.
	time.Sleep(300 * time.Millisecond)
	a.Kill()
	a.Start()
	polltest.Until(t, 20*time.Second, 20*time.Millisecond, "the retries", func() bool {
		for _, p := range paths {
			if len(rcv.times(p)) < 2 {
				return false
			}
		}
		return true
	})
	for _, tc := range []struct {
		path     string
		min, max time.Duration
	}{
		{"/delta", 4 * time.Second, 8 * time.Second},
		// The date has whole seconds: 4 to 5 s after the answer.
		{"/date", 4 * time.Second, 9 * time.Second},
		{"/clamp", 6 * time.Second, 10 * time.Second},
		{"/negative", 0, 2 * time.Second},
	} {
		at := rcv.times(tc.path)
		if wait := at[1].Sub(at[0]); wait < tc.min || wait > tc.max {
			t.Errorf("%s: retried %s after the first attempt, want %s..%s", tc.path, wait, tc.min, tc.max)
		}
	}
}
