package tracing

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"

	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	"github.com/rs/zerolog"
	"github.com/uber/jaeger-client-go"
	"github.com/uber/jaeger-client-go/utils"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/config"
)

// HeaderTraceContext is the incoming header (gRPC metadata key) that
// carries a caller's trace context, which StartServer reads.
const HeaderTraceContext = jaeger.TraceContextHeaderName

// maxTagValueLength keeps whole SQL statements readable in db.statement;
// Jaeger's default of 256 cuts most of them.
const maxTagValueLength = 2048

// With every call sampled, spans arrive far faster than one flush per
// second: the reporter queue holds a few seconds of them (Jaeger's default
// of 100 drops spans as soon as one flush is slow), and the collector gets
// them in batches of up to 1000 rather than 100, so a POST carries ten
// times the spans for about the same cost.
const (
	reporterQueueSize   = 20000
	collectorBatchSpans = 1000
)

// New returns the tracer cfg describes, or Noop when tracing is off. env
// tags every span's process, beside the service name and version.
func New(cfg config.Tracing, env string, log zerolog.Logger) (Tracer, error) {
	if !cfg.Enabled {
		return Noop(), nil
	}
	log = log.With().Str("component", "tracing").Logger()
	sampler, err := newSampler(cfg)
	if err != nil {
		return nil, err
	}
	sender, err := newSender(cfg, log)
	if err != nil {
		sampler.Close()
		return nil, err
	}
	jlog := newJaegerLog(log)
	// The sampler's tags (sampler.type, sampler.param) go on every sampled
	// root, as Jaeger would put them.
	_, samplerTags := sampler.IsSampled(jaeger.TraceID{}, "")
	reporter := newBatchReporter(sender, cfg.FlushInterval.Duration, reporterQueueSize, log)
	ot, closer := jaeger.NewTracer(cfg.ServiceName, sampledRoot{tags: samplerTags}, reporter,
		// 128-bit ids match W3C trace context, so they survive a later move
		// to OpenTelemetry.
		jaeger.TracerOptions.Gen128Bit(true),
		jaeger.TracerOptions.MaxTagValueLength(maxTagValueLength),
		// Finished spans go back to a pool once reported, with their tag
		// slices: a sampled call then allocates neither. jaegerSpan never
		// touches a span after Finish.
		jaeger.TracerOptions.PoolSpans(true),
		jaeger.TracerOptions.Logger(jlog),
		jaeger.TracerOptions.Tag("env", env),
		jaeger.TracerOptions.Tag("version", global.Version()))
	return &jaegerTracer{ot: ot, closer: closer, roots: sampler, callers: newCallerBudget(cfg.CallerSampledRPS, cfg.CallerSampledPerClientRPS)}, nil
}

// sampledRoot is the sampler Jaeger itself is given: the tracer asks it
// for a new trace only once roots has sampled one, so it says yes, with
// the real sampler's tags.
type sampledRoot struct{ tags []jaeger.Tag }

func (s sampledRoot) IsSampled(jaeger.TraceID, string) (bool, []jaeger.Tag) { return true, s.tags }
func (sampledRoot) Close()                                                  {}
func (sampledRoot) Equal(other jaeger.Sampler) bool {
	_, ok := other.(sampledRoot)
	return ok
}

func newSampler(cfg config.Tracing) (jaeger.Sampler, error) {
	switch cfg.Sampler {
	case "const":
		return jaeger.NewConstSampler(cfg.SamplerParam != 0), nil
	case "probabilistic":
		s, err := jaeger.NewProbabilisticSampler(cfg.SamplerParam)
		if err != nil {
			return nil, fmt.Errorf("tracing.sampler_param: %w", err)
		}
		return s, nil
	case "ratelimiting":
		return jaeger.NewRateLimitingSampler(cfg.SamplerParam), nil
	}
	return nil, fmt.Errorf("tracing.sampler: unknown sampler %q", cfg.Sampler)
}

// newSender prefers the collector (pro: no agent beside the service) over
// the local agent.
func newSender(cfg config.Tracing, log zerolog.Logger) (jaeger.Transport, error) {
	if cfg.CollectorURL != "" {
		log.Info().Str("collector_url", config.RedactURL(cfg.CollectorURL)).Str("sampler", cfg.Sampler).Float64("param", cfg.SamplerParam).Msg("tracing to the Jaeger collector")
		// The configuration requires a positive flush_timeout.
		return newCollectorSender(cfg.CollectorURL, cfg.FlushTimeout.Duration, collectorBatchSpans, maxTagValueLength), nil
	}
	sender, err := jaeger.NewUDPTransportWithParams(jaeger.UDPTransportParams{
		AgentClientUDPParams: utils.AgentClientUDPParams{HostPort: cfg.AgentAddr, Logger: newJaegerLog(log)},
	})
	if err != nil {
		return nil, fmt.Errorf("tracing.agent_addr: %w", err)
	}
	log.Info().Str("agent_addr", cfg.AgentAddr).Str("sampler", cfg.Sampler).Float64("param", cfg.SamplerParam).Msg("tracing to the Jaeger agent")
	return sender, nil
}

type jaegerTracer struct {
	ot     opentracing.Tracer
	closer io.Closer
	// roots decides whether a new trace is sampled before Jaeger is asked
	// for a span. With pro's 1 % most calls are not, and for them Jaeger
	// would still build a span, a context and its ids, lock its random
	// source, and do the same again for every database query under it,
	// all to report nothing. An unsampled new trace is an unsampledSpan
	// instead: ids for the log, X-Trace-Id and outgoing calls, and no
	// child spans. nil (the Recorder) leaves every decision to Jaeger.
	roots jaeger.Sampler
	// callers bounds the traces that callers have sampled here: a
	// caller's sampled flag is honoured while callers has credit, and past
	// it roots decides, as for a new trace. Without it, a client that sets
	// the flag on every request would have every call traced and reported,
	// and could flood the collector and push other spans out of the
	// reporter's queue. Each client address has its share of it, so one
	// client cannot use it all up. nil honours every flag.
	callers *callerBudget
}

func (t *jaegerTracer) StartServer(ctx context.Context, operation string, h Headers) (context.Context, Span) {
	// Most calls carry no trace context: they skip the propagator, whose
	// Extract allocates even to say there is none.
	var parent opentracing.SpanContext
	var parentInvalid bool
	if h != nil {
		if v := h.Header(HeaderTraceContext); v != "" {
			var err error
			parent, err = t.ot.Extract(opentracing.HTTPHeaders, headerReader(v))
			parentInvalid = err != nil && !errors.Is(err, opentracing.ErrSpanContextNotFound)
		}
	}
	if t.roots != nil {
		if s := t.unsampled(parent, operation, h); s != nil {
			return context.WithValue(ctx, spanKey{}, s), s
		}
	}
	var sp opentracing.Span
	if parent != nil {
		sp = t.ot.StartSpan(operation, opentracing.ChildOf(parent))
	} else {
		sp = t.ot.StartSpan(operation)
	}
	s := newSpan(sp)
	if s.recording {
		// span.kind is set on the started span rather than passed as a
		// start option, which would build a tag map for every call,
		// sampled or not.
		ext.SpanKindRPCServer.Set(sp)
		if parentInvalid {
			// The call is served in a new trace; the tag lets Jaeger find
			// callers whose propagation is broken.
			sp.SetTag("trace.parent_invalid", true)
		}
	}
	return context.WithValue(ctx, spanKey{}, s), s
}

// unsampled tells whether a call under parent (nil: a new trace) goes
// unsampled, and returns its span if so: a new trace that roots does not
// sample, a caller's trace that the caller did not sample, or one the
// caller sampled beyond the callers budget that roots does not sample
// either. The caller's trace id is kept, so the logs of both sides still
// correlate.
func (t *jaegerTracer) unsampled(parent opentracing.SpanContext, operation string, h Headers) *unsampledSpan {
	p, ok := parent.(jaeger.SpanContext)
	switch {
	case parent == nil:
		id := jaeger.TraceID{High: rand.Uint64(), Low: rand.Uint64()}
		for id.Low == 0 {
			id.Low = rand.Uint64()
		}
		if sampled, _ := t.roots.IsSampled(id, operation); sampled {
			return nil
		}
		return &unsampledSpan{trace: id, span: jaeger.SpanID(id.Low), id: traceIDString(id)}
	case !ok:
		return nil
	case !p.IsSampled():
		return newUnsampledSpan(p.TraceID())
	case t.callers == nil || t.callers.Allow(clientOf(h)):
		return nil
	}
	// Past the budget. The caller chose the trace id, and the
	// probabilistic sampler decides by the id's bits: it is asked about a
	// random id instead.
	if sampled, _ := t.roots.IsSampled(jaeger.TraceID{Low: rand.Uint64()}, operation); sampled {
		return nil
	}
	return newUnsampledSpan(p.TraceID())
}

// clientOf is the caller's address, when the transport tells it.
func clientOf(h Headers) string {
	if c, ok := h.(ClientAddress); ok {
		return c.ClientAddress()
	}
	return ""
}

func (t *jaegerTracer) StartChild(ctx context.Context, operation string) (context.Context, Span) {
	return t.startUnder(ctx, operation, false)
}

func (t *jaegerTracer) StartClient(ctx context.Context, operation string) (context.Context, Span) {
	return t.startUnder(ctx, operation, true)
}

func (t *jaegerTracer) startUnder(ctx context.Context, operation string, client bool) (context.Context, Span) {
	parent, ok := ctx.Value(spanKey{}).(*jaegerSpan)
	if !ok {
		return ctx, noopSpan{}
	}
	sp := t.ot.StartSpan(operation, opentracing.ChildOf(parent.sc))
	if client {
		ext.SpanKindRPCClient.Set(sp)
	}
	s := newSpan(sp)
	return context.WithValue(ctx, spanKey{}, s), s
}

func (t *jaegerTracer) Inject(ctx context.Context, set func(key, value string)) {
	switch sp := ctx.Value(spanKey{}).(type) {
	case *jaegerSpan:
		_ = t.ot.Inject(sp.sc, opentracing.HTTPHeaders, headerWriter(set))
	case *unsampledSpan:
		// The callee continues the trace, unsampled, as Jaeger's own
		// unsampled span would have told it.
		sc := jaeger.NewSpanContext(sp.trace, sp.span, 0, false, nil)
		_ = t.ot.Inject(sc, opentracing.HTTPHeaders, headerWriter(set))
	}
}

func (t *jaegerTracer) Close(ctx context.Context) error {
	if t.roots != nil {
		t.roots.Close()
	}
	// The reporter's Close waits for the last flush without a deadline of
	// its own; the HTTP sender's timeout bounds it, but a full queue could
	// still hold it, so ctx decides how long this process waits.
	done := make(chan error, 1)
	go func() { done <- t.closer.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("flushing spans: %w", ctx.Err())
	}
}

func newSpan(sp opentracing.Span) *jaegerSpan {
	s := &jaegerSpan{ot: sp}
	// The concrete span hands out its context without boxing it; the
	// tracer is Jaeger's, so every span is one.
	if js, ok := sp.(*jaeger.Span); ok {
		s.sc = js.SpanContext()
	} else if sc, ok := sp.Context().(jaeger.SpanContext); ok {
		s.sc = sc
	}
	s.id = traceIDString(s.sc.TraceID())
	s.recording = s.sc.IsSampled()
	return s
}

// traceIDString spells a trace id as jaeger.TraceID.String does (32 hex
// digits for 128-bit ids, 16 for 64-bit ones) in one allocation instead of
// fmt's two.
func traceIDString(id jaeger.TraceID) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], id.High)
	binary.BigEndian.PutUint64(b[8:], id.Low)
	if id.High == 0 {
		return hex.EncodeToString(b[8:])
	}
	return hex.EncodeToString(b[:])
}

type jaegerSpan struct {
	ot opentracing.Span
	// sc is the span's context, kept for children and Inject, which may
	// outlive the span itself.
	sc        jaeger.SpanContext
	id        string
	recording bool
	// finished guards the pooled span: once finished it may already
	// belong to another call, so later SetTag, SetError and Finish calls
	// are dropped.
	finished atomic.Bool
}

func (s *jaegerSpan) Recording() bool { return s.recording }
func (s *jaegerSpan) traceID() string { return s.id }

func (s *jaegerSpan) SetTag(key string, v any) {
	if !s.finished.Load() {
		s.ot.SetTag(key, v)
	}
}

func (s *jaegerSpan) SetError(err error) {
	if !s.finished.Load() {
		ext.LogError(s.ot, err)
	}
}

func (s *jaegerSpan) Finish() {
	if !s.finished.Swap(true) {
		s.ot.Finish()
	}
}

// headerReader offers Jaeger only the uber-trace-id value: baggage and
// jaeger-debug-id are not accepted from callers, so a client cannot force
// debug sampling or smuggle baggage into our spans.
type headerReader string

func (h headerReader) ForeachKey(fn func(key, value string) error) error {
	return fn(jaeger.TraceContextHeaderName, string(h))
}

type headerWriter func(key, value string)

func (h headerWriter) Set(key, value string) { h(key, value) }

// unsampledSpan is a new trace that was not sampled. It records nothing;
// its ids reach the access log, X-Trace-Id and the calls it makes, so
// their logs still correlate. Calls under it start no child spans.
type unsampledSpan struct {
	noopSpan // records nothing
	trace    jaeger.TraceID
	span     jaeger.SpanID
	id       string
}

// newUnsampledSpan is a span of its own in a caller's trace.
func newUnsampledSpan(trace jaeger.TraceID) *unsampledSpan {
	span := jaeger.SpanID(rand.Uint64())
	for span == 0 {
		span = jaeger.SpanID(rand.Uint64())
	}
	return &unsampledSpan{trace: trace, span: span, id: traceIDString(trace)}
}

func (s *unsampledSpan) traceID() string { return s.id }
