// Package health answers liveness and readiness for both transports: HTTP
// /healthz and /readyz, and grpc.health.v1.
package health

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/megaview/mgvcore/internal/clip"
)

// CheckFunc reports whether one dependency answers.
type CheckFunc func(ctx context.Context) error

// Health tracks readiness and draining.
type Health struct {
	checks   map[string]CheckFunc
	timeout  time.Duration
	serving  atomic.Bool
	draining atomic.Bool
	grpc     *health.Server

	// runs shares the checks' run in progress: calls meanwhile take its
	// report instead of running the checks again. /readyz takes no
	// credentials and is not rate limited, and each run is a query on the
	// database and a request to Elasticsearch; a flood of calls holds one
	// of each at a time, not the database's pool.
	runs singleflight.Group

	// failed is told why a check failed, once per change of its error
	// (failing holds each check's last one, under mu): /readyz answers
	// anonymous callers, so its report says only which dependency failed.
	mu      sync.Mutex
	failed  func(check string, err error)
	failing map[string]string

	// drained ends a moment after the drain starts: Watch streams end
	// then (WatchInterceptor), having been told NOT_SERVING.
	drained   context.Context
	endWatch  context.CancelFunc
	drainOnce sync.Once
}

// watchEndAfter is how long Watch streams are left, after the drain starts,
// to send NOT_SERVING before they end.
const watchEndAfter = 200 * time.Millisecond

// New returns a Health whose checks each get timeout.
func New(timeout time.Duration) *Health {
	h := &Health{checks: map[string]CheckFunc{}, timeout: timeout, grpc: health.NewServer()}
	h.drained, h.endWatch = context.WithCancel(context.Background())
	h.grpc.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return h
}

// Add registers a dependency check under name (e.g. "mysql").
func (h *Health) Add(name string, fn CheckFunc) { h.checks[name] = fn }

// OnFailure has fn told why a check failed, the first time it fails so
// after a success or with another error; call it before serving.
func (h *Health) OnFailure(fn func(check string, err error)) { h.failed = fn }

// GRPC is the grpc.health.v1 server to register.
func (h *Health) GRPC() *health.Server { return h.grpc }

// Serving marks the process ready: both transports report SERVING.
func (h *Health) Serving() {
	h.serving.Store(true)
	h.grpc.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

// Drain marks the process as leaving: NOT_SERVING from now on, and Watch
// streams end a moment later.
func (h *Health) Drain() {
	h.draining.Store(true)
	h.grpc.Shutdown()
	h.drainOnce.Do(func() { time.AfterFunc(watchEndAfter, h.endWatch) })
}

// WatchInterceptor ends grpc.health.v1 Watch streams when the drain starts
// (after they have sent NOT_SERVING): a Watch lasts as long as its client
// keeps it, and the server's graceful stop waits for every open stream, so
// a single watching client would otherwise hold every stop and upgrade
// until the drain deadline.
func (h *Health) WatchInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != healthpb.Health_Watch_FullMethodName {
			return handler(srv, ss)
		}
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(h.drained, cancel)()
		return handler(srv, &watchStream{ServerStream: ss, ctx: ctx})
	}
}

// watchStream is a Watch stream whose context ends with the drain.
type watchStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *watchStream) Context() context.Context { return w.ctx }

// Status is the readiness report.
type Status struct {
	Ready  bool              `json:"ready"`
	Failed string            `json:"failed,omitempty"`
	Checks map[string]string `json:"checks"`
}

// Ready runs every check concurrently, or shares the report of the run in
// progress. The first failing dependency (in name order) is named in
// Failed. The report may be shared: callers must not change it.
func (h *Health) Ready(ctx context.Context) Status {
	st := Status{Checks: map[string]string{}}
	if h.draining.Load() {
		st.Failed = "draining"
		st.Checks["process"] = "draining"
		return st
	}
	if !h.serving.Load() {
		st.Failed = "starting"
		st.Checks["process"] = "starting"
		return st
	}
	// The report is shared, so it does not end when this caller leaves.
	v, _, _ := h.runs.Do("ready", func() (any, error) { return h.check(context.WithoutCancel(ctx)), nil })
	return v.(Status)
}

// Requiring judges a readiness report by the named checks alone: ready
// when the process serves and each of them answered, whatever the others
// say (they stay in the report), Failed naming the first of them, in name
// order, that did not. A service registry routes by it: an instance whose
// search engine is down still takes writes, one whose database is
// unreachable takes nothing. The names are checks (Known); one that is
// not never answers.
func (h *Health) Requiring(st Status, names []string) Status {
	if _, process := st.Checks["process"]; process {
		return st // starting or draining
	}
	out := Status{Ready: true, Checks: st.Checks}
	for _, n := range slices.Sorted(slices.Values(names)) {
		if st.Checks[n] != "ok" {
			out.Ready, out.Failed = false, n
			break
		}
	}
	return out
}

// maxNameBytes bounds the bytes of an unknown name that Known repeats: a
// query string may be as long as the request line allows.
const maxNameBytes = 64

// Known fails naming the first of names that is no check, cut to
// maxNameBytes.
func (h *Health) Known(names []string) error {
	for _, n := range names {
		if _, ok := h.checks[n]; !ok {
			known := slices.Sorted(maps.Keys(h.checks))
			return fmt.Errorf("no check %s (the checks are %s)", clip.Quote(n, maxNameBytes), strings.Join(known, ", "))
		}
	}
	return nil
}

// Check runs every check now, whether or not the process serves yet: the
// dependencies of a process that is still starting.
func (h *Health) Check(ctx context.Context) Status { return h.check(ctx) }

// check runs every check concurrently, each under the timeout.
func (h *Health) check(ctx context.Context) Status {
	st := Status{Checks: map[string]string{}}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(map[string]error, len(h.checks))
	for name, fn := range h.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx)
			res := "ok"
			if err != nil {
				res = "error"
			}
			mu.Lock()
			st.Checks[name] = res
			errs[name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	h.report(errs)
	names := make([]string, 0, len(st.Checks))
	for n := range st.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if st.Checks[n] != "ok" {
			st.Failed = n
			return st
		}
	}
	st.Ready = true
	return st
}

// report tells failed of the checks whose error changed since the last run.
func (h *Health) report(errs map[string]error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing == nil {
		h.failing = map[string]string{}
	}
	for name, err := range errs {
		if err == nil {
			delete(h.failing, name)
			continue
		}
		if msg := err.Error(); h.failing[name] != msg {
			h.failing[name] = msg
			if h.failed != nil {
				h.failed(name, err)
			}
		}
	}
}
