package tracing

import (
	"reflect"

	"github.com/uber/jaeger-client-go"
)

// Recorder is a Tracer that samples everything and keeps the finished spans
// in memory, for tests of code that traces.
type Recorder struct {
	Tracer
	reporter *jaeger.InMemoryReporter
}

// RecordedSpan is one finished span, in backend-neutral terms.
type RecordedSpan struct {
	Operation string
	TraceID   string
	SpanID    string
	// ParentID is empty for the root of a trace.
	ParentID string
	Tags     map[string]any
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	reporter := jaeger.NewInMemoryReporter()
	ot, closer := jaeger.NewTracer("test", jaeger.NewConstSampler(true), reporter,
		jaeger.TracerOptions.Gen128Bit(true))
	return &Recorder{Tracer: &jaegerTracer{ot: ot, closer: closer}, reporter: reporter}
}

// Spans lists the finished spans in the order they finished.
func (r *Recorder) Spans() []RecordedSpan {
	var out []RecordedSpan
	for _, s := range r.reporter.GetSpans() {
		js, ok := s.(*jaeger.Span)
		if !ok {
			continue
		}
		sc := js.SpanContext()
		rs := RecordedSpan{
			Operation: js.OperationName(),
			TraceID:   sc.TraceID().String(),
			SpanID:    sc.SpanID().String(),
			Tags:      map[string]any{},
		}
		for k, v := range js.Tags() {
			// Jaeger types some values (span.kind); tests compare plain ones.
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
				v = rv.String()
			}
			rs.Tags[k] = v
		}
		if p := sc.ParentID(); p != 0 {
			rs.ParentID = p.String()
		}
		out = append(out, rs)
	}
	return out
}
