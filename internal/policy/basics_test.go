package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logging"
)

// mapCarrier is a Carrier over plain maps.
type mapCarrier struct{ in, out map[string]string }

func (m mapCarrier) Header(k string) string { return m.in[k] }
func (m mapCarrier) SetHeader(k, v string)  { m.out[k] = v }
func (m mapCarrier) SuccessStatus() int     { return http.StatusOK }

func testInfo(headers map[string]string) (*Info, map[string]string) {
	out := map[string]string{}
	return &Info{
		Operation:     "/mgv.open.v1.Test/Do",
		Transport:     HTTP,
		ContentLength: -1,
		Carrier:       mapCarrier{in: headers, out: out},
	}, out
}

func ok(context.Context, any) (any, error) { return "done", nil }

func TestRequestID(t *testing.T) {
	cases := []struct {
		name, incoming string
		keep           bool
	}{
		{"none", "", false},
		{"well formed", "abc-123_X.y", true},
		{"too long", strings.Repeat("a", 65), false},
		{"bad characters", "a b<script>", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, out := testInfo(map[string]string{HeaderRequestID: tc.incoming})
			_, _ = RequestID()(ok)(WithInfo(context.Background(), info), nil)
			got := info.RequestID()
			if tc.keep && got != tc.incoming {
				t.Fatalf("request id %q, want the incoming %q", got, tc.incoming)
			}
			if !tc.keep && (got == tc.incoming || len(got) != 32) {
				t.Fatalf("request id %q, want a new one", got)
			}
			if out[HeaderRequestID] != got {
				t.Fatalf("response header %q, want %q", out[HeaderRequestID], got)
			}
		})
	}
}

func TestRecoverHidesThePanic(t *testing.T) {
	var logs bytes.Buffer
	info, _ := testInfo(nil)
	info.SetRequestID("req-1")
	h := Recover(zerolog.New(&logs))(func(context.Context, any) (any, error) { panic("secret detail") })
	_, err := h(WithInfo(context.Background(), info), nil)
	var e *errs.Error
	if !errors.As(err, &e) || e.Status != http.StatusInternalServerError || e.Reason != errs.ReasonInternal {
		t.Fatalf("err = %v, want 500 INTERNAL", err)
	}
	if strings.Contains(e.Message, "secret") {
		t.Fatalf("panic value leaked to the client: %q", e.Message)
	}
	if e.Metadata["request_id"] != "req-1" {
		t.Fatalf("no request id in %v", e.Metadata)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "stack") {
		t.Fatalf("panic not logged with its stack: %s", logs.String())
	}
}

type recordObserver struct{ outs []Outcome }

func (r *recordObserver) Observe(_ *Info, o Outcome) { r.outs = append(r.outs, o) }

func TestAccessLogOneLinePerCall(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		status   int
		level    string
		canceled bool // the client's context is canceled
	}{
		{"ok", nil, 200, "info", false},
		{"not found", errs.NotFound("CONVERSATION_NOT_FOUND", "no conversation 7"), 404, "warn", false},
		{"internal", errors.New("db exploded"), 500, "error", false},
		{"answer to a closed connection", fmt.Errorf("write tcp: %w", syscall.EPIPE), 499, "info", false},
		{"reset while answering", &net.OpError{Op: "write", Err: syscall.ECONNRESET}, 499, "info", false},
		{"client left during the query", errs.Unavailable("search"), 499, "info", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			obs := &recordObserver{}
			info, _ := testInfo(nil)
			info.SetRequestID("r1")
			info.SetTraceID("t1")
			info.SetCaller(Caller{TenantID: "42"})
			ctx, cancel := context.WithCancel(context.Background())
			if tc.canceled {
				cancel()
			}
			defer cancel()
			_, err := AccessLog(zerolog.New(&logs), obs)(func(context.Context, any) (any, error) { return nil, tc.err })(WithInfo(ctx, info), nil)
			if tc.status == 499 && errs.From(err).Reason != errs.ReasonCanceled {
				t.Errorf("the call ends with %v, want CANCELED", err)
			}
			line := logs.String()
			if strings.Count(line, "\n") != 1 {
				t.Fatalf("want one line, got %q", line)
			}
			for _, want := range []string{`"operation":"/mgv.open.v1.Test/Do"`, `"request_id":"r1"`, `"trace_id":"t1"`, `"tenant":"42"`, `"level":"` + tc.level + `"`, `"latency_ms":`} {
				if !strings.Contains(line, want) {
					t.Errorf("log line lacks %s: %s", want, line)
				}
			}
			if len(obs.outs) != 1 || obs.outs[0].Status != tc.status {
				t.Fatalf("observed %+v, want status %d", obs.outs, tc.status)
			}
		})
	}
}

func TestTimeoutPerOperation(t *testing.T) {
	info, _ := testInfo(nil)
	var deadline time.Duration
	h := Timeout(time.Hour, map[string]time.Duration{info.Operation: 50 * time.Millisecond})(func(ctx context.Context, _ any) (any, error) {
		d, _ := ctx.Deadline()
		deadline = time.Until(d)
		return nil, nil
	})
	_, _ = h(WithInfo(context.Background(), info), nil)
	if deadline <= 0 || deadline > 50*time.Millisecond {
		t.Fatalf("deadline in %s, want ≤ 50ms", deadline)
	}
}

// TestTheCallsClockStartsWhereTheTransportTookIt: with Info.Start set, the
// deadline and the logged latency count from it, not from when each
// policy ran.
func TestTheCallsClockStartsWhereTheTransportTookIt(t *testing.T) {
	info, _ := testInfo(nil)
	info.Start = time.Now().Add(-time.Second)
	var logs bytes.Buffer
	var left time.Duration
	h := AccessLog(zerolog.New(&logs))(Timeout(2*time.Second, nil)(func(ctx context.Context, _ any) (any, error) {
		d, _ := ctx.Deadline()
		left = time.Until(d)
		return nil, nil
	}))
	if _, err := h(WithInfo(context.Background(), info), nil); err != nil {
		t.Fatal(err)
	}
	if left <= 0 || left > time.Second+50*time.Millisecond {
		t.Fatalf("deadline in %s, want about 1s: 2s from a start 1s ago", left)
	}
	var line struct {
		Latency float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Latency < 1000 {
		t.Fatalf("logged latency %vms (%v), want at least 1000ms from the start", line.Latency, err)
	}
}

func TestSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		length int64
		want   int
	}{{-1, 200}, {100, 200}, {1024, 200}, {1025, 413}} {
		info, _ := testInfo(nil)
		info.ContentLength = tc.length
		_, err := SizeLimit(1024)(ok)(WithInfo(context.Background(), info), nil)
		if got := OutcomeOf(info, err, 0).Status; got != tc.want {
			t.Errorf("length %d: status %d, want %d", tc.length, got, tc.want)
		}
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mark := func(name string) Middleware {
		return func(next Handler) Handler {
			return func(ctx context.Context, req any) (any, error) {
				order = append(order, name)
				return next(ctx, req)
			}
		}
	}
	_, _ = Chain(mark("a"), nil, mark("b"), mark("c"))(ok)(context.Background(), nil)
	if strings.Join(order, "") != "abc" {
		t.Fatalf("order %v, want a b c (nil skipped)", order)
	}
}

// BenchmarkAccessLog is one call through AccessLog with the production
// logger (JSON lines, timestamp, buffered writer) and no observer: the
// access log's own cost per request.
func BenchmarkAccessLog(b *testing.B) {
	out := logging.NewBufferedWriter(io.Discard, 64<<10, time.Hour)
	b.Cleanup(func() { _ = out.Close() })
	log, err := logging.New(out, "info", "json")
	if err != nil {
		b.Fatal(err)
	}
	h := AccessLog(log)(ok)
	info, _ := testInfo(nil)
	info.SetRequestID("5d97856f7820355211234e0ec78fe2cb")
	info.SetTraceID("c909f96cc639d709c8c07cd5d28756c3")
	info.ClientIP = "127.0.0.1"
	ctx := WithInfo(context.Background(), info)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
