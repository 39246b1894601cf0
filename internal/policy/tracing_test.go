package policy

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/tracing"
)

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

func TestTracingContinuesTheCallersTrace(t *testing.T) {
	rec := tracing.NewRecorder()
	info, out := testInfo(map[string]string{"uber-trace-id": callerTrace + ":" + callerSpan + ":0:1"})
	info.Method, info.Route = http.MethodGet, "/api/v1/ping"
	var inHandler string
	h := Tracing(rec)(func(ctx context.Context, _ any) (any, error) {
		inHandler = tracing.TraceID(ctx)
		return "done", nil
	})
	if resp, err := h(WithInfo(context.Background(), info), nil); err != nil || resp != "done" {
		t.Fatalf("resp %v, err %v", resp, err)
	}

	s := rec.Spans()[0]
	if s.TraceID != callerTrace || s.ParentID != callerSpan || s.Operation != info.Operation {
		t.Errorf("span %+v, want %s under %s:%s", s, info.Operation, callerTrace, callerSpan)
	}
	if info.TraceID() != callerTrace || out[tracing.HeaderTraceID] != callerTrace || inHandler != callerTrace {
		t.Errorf("trace id: info %q, header %q, handler %q; want %s", info.TraceID(), out[tracing.HeaderTraceID], inHandler, callerTrace)
	}
	want := map[string]any{"transport": HTTP, "http.method": "GET", "http.route": "/api/v1/ping", "http.status_code": 200, "span.kind": "server"}
	for k, v := range want {
		if s.Tags[k] != v {
			t.Errorf("tag %s = %v, want %v", k, s.Tags[k], v)
		}
	}
	if _, ok := s.Tags["error"]; ok {
		t.Errorf("a successful call is marked failed: %v", s.Tags)
	}
}

func TestTracingUnparsableHeaderIsServedInANewTrace(t *testing.T) {
	rec := tracing.NewRecorder()
	info, out := testInfo(map[string]string{"uber-trace-id": "garbage"})
	resp, err := Tracing(rec)(ok)(WithInfo(context.Background(), info), nil)
	if err != nil || resp != "done" {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	s := rec.Spans()[0]
	if s.ParentID != "" || s.TraceID == "" || out[tracing.HeaderTraceID] != s.TraceID {
		t.Errorf("span %+v, header %q: want a new root trace", s, out[tracing.HeaderTraceID])
	}
}

func TestTracingTagsTheOutcome(t *testing.T) {
	cases := []struct {
		name      string
		transport string
		err       error
		tag       string
		value     any
		failed    bool
	}{
		{"grpc ok", GRPC, nil, "grpc.code", "OK", false},
		{"grpc not found", GRPC, errs.New(http.StatusNotFound, errs.ReasonNotFound, "no"), "grpc.code", "NotFound", false},
		{"grpc last admin", GRPC, errs.Of(errs.ReasonLastAdmin, "last"), "grpc.code", "FailedPrecondition", false},
		{"grpc unavailable", GRPC, errs.New(http.StatusServiceUnavailable, errs.ReasonDependencyUnavailable, "db"), "grpc.code", "Unavailable", true},
		{"http validation", HTTP, errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument, "bad"), "http.status_code", 400, false},
		{"http unknown error", HTTP, errors.New("boom"), "http.status_code", 500, true},
		{"http timeout", HTTP, context.DeadlineExceeded, "http.status_code", 504, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracing.NewRecorder()
			info, _ := testInfo(nil)
			info.Transport = tc.transport
			_, err := Tracing(rec)(func(context.Context, any) (any, error) { return nil, tc.err })(WithInfo(context.Background(), info), nil)
			if err != tc.err {
				t.Fatalf("err %v, want the handler's %v unchanged", err, tc.err)
			}
			tags := rec.Spans()[0].Tags
			if tags[tc.tag] != tc.value || tags["transport"] != tc.transport {
				t.Errorf("tags %v, want %s=%v", tags, tc.tag, tc.value)
			}
			if (tags["error"] == true) != tc.failed {
				t.Errorf("error tag %v, want %v", tags["error"], tc.failed)
			}
			if tc.err != nil && tags["reason"] == nil {
				t.Errorf("no reason tag: %v", tags)
			}
		})
	}
}

func TestTracingFinishesTheSpanOfAPanic(t *testing.T) {
	rec := tracing.NewRecorder()
	info, _ := testInfo(nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach Recover")
			}
		}()
		_, _ = Tracing(rec)(func(context.Context, any) (any, error) { panic("boom") })(WithInfo(context.Background(), info), nil)
	}()
	if spans := rec.Spans(); len(spans) != 1 || spans[0].Tags["error"] != true {
		t.Errorf("spans %v, want one failed span", spans)
	}
}

func TestTracingOff(t *testing.T) {
	info, out := testInfo(map[string]string{"uber-trace-id": callerTrace + ":" + callerSpan + ":0:1"})
	if _, err := Tracing(tracing.Noop())(ok)(WithInfo(context.Background(), info), nil); err != nil {
		t.Fatal(err)
	}
	if info.TraceID() != "" || out[tracing.HeaderTraceID] != "" {
		t.Errorf("trace id %q / header %q with tracing off", info.TraceID(), out[tracing.HeaderTraceID])
	}
}
