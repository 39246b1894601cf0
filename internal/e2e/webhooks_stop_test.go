//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/polltest"
)

// slowHook is a receiver that takes delay to answer 200: it counts the
// requests as they arrive and the answers per event id.
type slowHook struct {
	srv      *httptest.Server
	delay    atomic.Int64 // nanoseconds
	arrived  atomic.Int64
	answered atomic.Int64
	mu       sync.Mutex
	perEvent map[string]int
}

func newSlowHook(t *testing.T, delay time.Duration) *slowHook {
	h := &slowHook{perEvent: map[string]int{}}
	h.delay.Store(int64(delay))
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		h.arrived.Add(1)
		time.Sleep(time.Duration(h.delay.Load()))
		h.mu.Lock()
		h.perEvent[req.Header.Get(webhook.HeaderEventID)]++
		h.mu.Unlock()
		h.answered.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *slowHook) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.perEvent))
	for k, v := range h.perEvent {
		out[k] = v
	}
	return out
}

// A receiver answering slowly while the service is stopped (SIGTERM, then
// started again) or upgraded (USR2) gets every event exactly once: the
// stopping process lets its requests in flight finish and records them,
// within the drain deadline, and the next process goes on after them
// rather than sending again what the receiver acknowledged.
func TestWebhookStopAndUpgradeSendEachEventOnce(t *testing.T) {
	for _, how := range []string{"SIGTERM", "USR2"} {
		t.Run(how, func(t *testing.T) {
			// Requests take 1 s of a 2 s request timeout; leases of 6 s,
			// slices of 1 s (fastWebhooksEnv).
			hook := newSlowHook(t, time.Second)
			s := NewService(t, fastWebhooksEnv(t, "1s"))
			s.Start()
			s.WaitReady(60 * time.Second)
			f := NewFixture(t, s)
			ev, ctx := eventsClient(t, s, f.AppToken(t))
			if _, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: hook.srv.URL + "/hook",
				EventTypes: []string{"conversation.created"}}); err != nil {
				t.Fatal(err)
			}
			// A backlog of 10 s at 8 requests a second: the deliverer is
			// busy with requests in flight whenever it is stopped.
			const backlog = 80
			p := newPartner(t, s.GRPC(), f.AppToken(t))
			for i := range backlog {
				p.create(fmt.Sprintf("stop-%d", i), f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
			}
			polltest.Until(t, 30*time.Second, 5*time.Millisecond, "deliveries in flight", func() bool {
				return hook.arrived.Load() >= 8 && hook.arrived.Load() > hook.answered.Load()
			})

			old := s.PID()
			signalled := time.Now()
			switch how {
			case "SIGTERM":
				s.Signal(syscall.SIGTERM)
				if !WaitGone(old, 20*time.Second) {
					t.Fatal("the stopped process is still running")
				}
			case "USR2":
				s.Signal(syscall.SIGUSR2)
				// The new process delivers as soon as it is ready; the old
				// one drains and stops.
				polltest.Until(t, 60*time.Second, 50*time.Millisecond, "the upgraded process", func() bool {
					pid := s.PID()
					return pid != old && pid != 0
				})
				if !WaitGone(old, 30*time.Second) {
					t.Fatal("the old process is still running")
				}
			}
			stopped := time.Since(signalled)
			inFlight := hook.arrived.Load() - hook.answered.Load()
			acknowledged := hook.answered.Load()
			if inFlight != 0 {
				t.Fatalf("%d requests still open after the process exited", inFlight)
			}
			if how == "SIGTERM" {
				// The drain deadline (process.drain_timeout, 10 s in the test
				// config) bounds the servers' drain; the deliverer's stop
				// waits at most a request (2 s) and its record.
				if stopped > 10*time.Second {
					t.Fatalf("the stop took %s", stopped)
				}
				s.Start()
			}
			t.Logf("%s: the old process exited %s after the signal; the receiver had acknowledged %d of %d events",
				how, stopped.Round(time.Millisecond), acknowledged, backlog)
			if acknowledged >= backlog {
				t.Fatalf("the whole backlog was delivered before the process stopped: the test stopped nothing in flight")
			}

			hook.delay.Store(0)
			polltest.Until(t, 60*time.Second, 50*time.Millisecond, "every event delivered", func() bool { return len(hook.counts()) >= backlog })
			// Anything sent again would have come by now (polls of 100 ms).
			time.Sleep(2 * time.Second)
			counts := hook.counts()
			var twice []string
			for id, n := range counts {
				if n != 1 {
					twice = append(twice, id+"×"+strconv.Itoa(n))
				}
			}
			sort.Strings(twice)
			if len(counts) != backlog || len(twice) > 0 {
				t.Fatalf("%d events received (want %d), sent more than once: %v", len(counts), backlog, twice)
			}
		})
	}
}
