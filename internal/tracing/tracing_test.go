package tracing

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/config"
)

const (
	parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
)

func headers(m map[string]string) HeaderFunc {
	return func(k string) string { return m[strings.ToLower(k)] }
}

func TestStartServerContinuesOrStartsTraces(t *testing.T) {
	cases := []struct {
		name        string
		header      string
		wantTrace   string // empty: any new trace
		wantParent  string
		wantInvalid bool
	}{
		{"continues the caller's trace", parentTrace + ":" + parentSpan + ":0:1", parentTrace, parentSpan, false},
		{"url-encoded as some clients send it", parentTrace + "%3A" + parentSpan + "%3A0%3A1", parentTrace, parentSpan, false},
		{"no header", "", "", "", false},
		{"garbage", "not-a-trace", "", "", true},
		{"too many parts", parentTrace + ":" + parentSpan + ":0:1:9", "", "", true},
		{"bad hex", "zz:" + parentSpan + ":0:1", "", "", true},
		{"zero trace id", "0:" + parentSpan + ":0:1", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorder()
			ctx, span := rec.StartServer(context.Background(), "/svc/Op", headers(map[string]string{"uber-trace-id": tc.header}))
			id := TraceID(ctx)
			span.Finish()

			spans := rec.Spans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Operation != "/svc/Op" || s.Tags["span.kind"] != "server" {
				t.Errorf("span %q kind %v, want /svc/Op server", s.Operation, s.Tags["span.kind"])
			}
			if id == "" || id != s.TraceID {
				t.Errorf("TraceID(ctx) = %q, span trace %q", id, s.TraceID)
			}
			if tc.wantTrace != "" && s.TraceID != tc.wantTrace {
				t.Errorf("trace %s, want the caller's %s", s.TraceID, tc.wantTrace)
			}
			if tc.wantTrace == "" && (s.TraceID == parentTrace || len(s.TraceID) != 32) {
				t.Errorf("trace %s, want a new 128-bit trace", s.TraceID)
			}
			if s.ParentID != tc.wantParent {
				t.Errorf("parent %q, want %q", s.ParentID, tc.wantParent)
			}
			if got := s.Tags["trace.parent_invalid"] == true; got != tc.wantInvalid {
				t.Errorf("trace.parent_invalid = %v, want %v", got, tc.wantInvalid)
			}
		})
	}
}

func TestCallersCannotForceDebugOrBaggage(t *testing.T) {
	rec := NewRecorder()
	ctx, span := rec.StartServer(context.Background(), "op", headers(map[string]string{
		"jaeger-debug-id": "forced", "uberctx-tenant": "evil", "jaeger-baggage": "k=v",
	}))
	span.Finish()
	var out []string
	rec.Inject(ctx, func(k, _ string) { out = append(out, k) })
	if len(out) != 1 || out[0] != "uber-trace-id" {
		t.Errorf("injected %v, want only uber-trace-id", out)
	}
	if _, debug := rec.Spans()[0].Tags["jaeger-debug-id"]; debug {
		t.Error("a caller's jaeger-debug-id was honoured")
	}
}

func TestChildAndClientSpansNestUnderTheCallSpan(t *testing.T) {
	rec := NewRecorder()
	ctx, server := rec.StartServer(context.Background(), "op", nil)
	cctx, child := rec.StartChild(ctx, "work")
	_, client := rec.StartClient(cctx, "call")
	client.Finish()
	child.Finish()
	server.Finish()

	spans := rec.Spans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	call, work, op := spans[0], spans[1], spans[2]
	if call.ParentID != work.SpanID || work.ParentID != op.SpanID || op.ParentID != "" {
		t.Errorf("parents: call→%s work→%s op→%s; ids call %s work %s op %s",
			call.ParentID, work.ParentID, op.ParentID, call.SpanID, work.SpanID, op.SpanID)
	}
	if call.TraceID != op.TraceID || work.TraceID != op.TraceID {
		t.Error("children left the trace")
	}
	if call.Tags["span.kind"] != "client" {
		t.Errorf("client span kind %v", call.Tags["span.kind"])
	}
}

func TestNoSpansOutsideATracedCall(t *testing.T) {
	rec := NewRecorder()
	ctx, child := rec.StartChild(context.Background(), "orphan")
	child.SetTag("k", "v")
	child.SetError(context.DeadlineExceeded)
	child.Finish()
	if TraceID(ctx) != "" || len(rec.Spans()) != 0 {
		t.Errorf("orphan span recorded: %v", rec.Spans())
	}
	called := false
	rec.Inject(ctx, func(string, string) { called = true })
	if called {
		t.Error("Inject wrote headers without a span")
	}
}

func TestInjectCarriesTheSpanToTheCallee(t *testing.T) {
	rec := NewRecorder()
	ctx, span := rec.StartServer(context.Background(), "op", nil)
	cctx, client := rec.StartClient(ctx, "call")
	got := map[string]string{}
	rec.Inject(cctx, func(k, v string) { got[k] = v })
	client.Finish()
	span.Finish()

	callee := NewRecorder()
	_, s := callee.StartServer(context.Background(), "remote", headers(got))
	s.Finish()
	remote, call := callee.Spans()[0], rec.Spans()[0]
	if remote.TraceID != call.TraceID || remote.ParentID != call.SpanID {
		t.Errorf("callee span %+v does not continue %+v (headers %v)", remote, call, got)
	}
}

func TestSetErrorMarksTheSpan(t *testing.T) {
	rec := NewRecorder()
	_, span := rec.StartServer(context.Background(), "op", nil)
	span.SetTag("status", 503)
	span.SetError(context.DeadlineExceeded)
	span.Finish()
	if tags := rec.Spans()[0].Tags; tags["error"] != true || tags["status"] != 503 {
		t.Errorf("tags %v", tags)
	}
}

func TestNoopTracer(t *testing.T) {
	tr, err := New(config.Tracing{Enabled: false}, "dev", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tr.StartServer(context.Background(), "op", headers(map[string]string{"uber-trace-id": parentTrace + ":" + parentSpan + ":0:1"}))
	span.SetTag("k", 1)
	span.SetError(context.Canceled)
	span.Finish()
	_, child := tr.StartChild(ctx, "c")
	child.Finish()
	tr.Inject(ctx, func(string, string) { t.Error("noop injected a header") })
	if id := TraceID(ctx); id != "" {
		t.Errorf("TraceID = %q with tracing off", id)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestNewRejectsWhatValidationWouldMiss(t *testing.T) {
	cfg := config.Default().Tracing
	cfg.Enabled = true
	cfg.AgentAddr = "127.0.0.1:6831"
	cfg.Sampler = "remote"
	if _, err := New(cfg, "dev", zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "tracing.sampler") {
		t.Errorf("err = %v, want one naming tracing.sampler", err)
	}
	cfg.Sampler = "probabilistic"
	cfg.SamplerParam = 2
	if _, err := New(cfg, "dev", zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "tracing.sampler_param") {
		t.Errorf("err = %v, want one naming tracing.sampler_param", err)
	}
}

func TestCloseGivesUpAtTheDeadline(t *testing.T) {
	blocked := make(chan struct{})
	defer close(blocked)
	tr := &jaegerTracer{closer: closerFunc(func() error { <-blocked; return nil })}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Close(ctx); err == nil || !strings.Contains(err.Error(), "flushing spans") {
		t.Errorf("err = %v", err)
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
