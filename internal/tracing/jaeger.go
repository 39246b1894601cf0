package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	"github.com/rs/zerolog"
	"github.com/uber/jaeger-client-go"
	"github.com/uber/jaeger-client-go/transport"
	"github.com/uber/jaeger-client-go/utils"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/config"
)

// maxTagValueLength keeps whole SQL statements readable in db.statement;
// Jaeger's default of 256 cuts most of them.
const maxTagValueLength = 2048

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
	reporter := jaeger.NewRemoteReporter(sender,
		jaeger.ReporterOptions.BufferFlushInterval(cfg.FlushInterval.Duration),
		jaeger.ReporterOptions.Logger(jlog))
	ot, closer := jaeger.NewTracer(cfg.ServiceName, sampler, reporter,
		// 128-bit ids match W3C trace context, so they survive a later move
		// to OpenTelemetry.
		jaeger.TracerOptions.Gen128Bit(true),
		jaeger.TracerOptions.MaxTagValueLength(maxTagValueLength),
		jaeger.TracerOptions.Logger(jlog),
		jaeger.TracerOptions.Tag("env", env),
		jaeger.TracerOptions.Tag("version", global.Version()))
	return &jaegerTracer{ot: ot, closer: closer}, nil
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
		log.Info().Str("collector_url", cfg.CollectorURL).Str("sampler", cfg.Sampler).Float64("param", cfg.SamplerParam).Msg("tracing to the Jaeger collector")
		return transport.NewHTTPTransport(cfg.CollectorURL, transport.HTTPTimeout(cfg.FlushTimeout.Duration)), nil
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
}

func (t *jaegerTracer) StartServer(ctx context.Context, operation string, header func(string) string) (context.Context, Span) {
	opts := []opentracing.StartSpanOption{ext.SpanKindRPCServer}
	var extractErr error
	if header != nil {
		var parent opentracing.SpanContext
		parent, extractErr = t.ot.Extract(opentracing.HTTPHeaders, headerReader(header))
		if extractErr == nil {
			opts = append(opts, opentracing.ChildOf(parent))
		}
	}
	sp := t.ot.StartSpan(operation, opts...)
	if extractErr != nil && !errors.Is(extractErr, opentracing.ErrSpanContextNotFound) {
		// The call is served in a new trace; the tag lets Jaeger find
		// callers whose propagation is broken.
		sp.SetTag("trace.parent_invalid", true)
	}
	return with(ctx, sp)
}

func (t *jaegerTracer) StartChild(ctx context.Context, operation string) (context.Context, Span) {
	return t.startUnder(ctx, operation)
}

func (t *jaegerTracer) StartClient(ctx context.Context, operation string) (context.Context, Span) {
	return t.startUnder(ctx, operation, ext.SpanKindRPCClient)
}

func (t *jaegerTracer) startUnder(ctx context.Context, operation string, opts ...opentracing.StartSpanOption) (context.Context, Span) {
	parent, ok := ctx.Value(spanKey{}).(*jaegerSpan)
	if !ok {
		return ctx, noopSpan{}
	}
	return with(ctx, t.ot.StartSpan(operation, append(opts, opentracing.ChildOf(parent.ot.Context()))...))
}

func (t *jaegerTracer) Inject(ctx context.Context, set func(key, value string)) {
	if sp, ok := ctx.Value(spanKey{}).(*jaegerSpan); ok {
		_ = t.ot.Inject(sp.ot.Context(), opentracing.HTTPHeaders, headerWriter(set))
	}
}

func (t *jaegerTracer) Close(ctx context.Context) error {
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

func with(ctx context.Context, sp opentracing.Span) (context.Context, Span) {
	s := &jaegerSpan{ot: sp, recording: true}
	if sc, ok := sp.Context().(jaeger.SpanContext); ok {
		s.id = sc.TraceID().String()
		s.recording = sc.IsSampled()
	}
	return context.WithValue(ctx, spanKey{}, s), s
}

type jaegerSpan struct {
	ot        opentracing.Span
	id        string
	recording bool
}

func (s *jaegerSpan) Recording() bool          { return s.recording }
func (s *jaegerSpan) traceID() string          { return s.id }
func (s *jaegerSpan) SetTag(key string, v any) { s.ot.SetTag(key, v) }
func (s *jaegerSpan) SetError(err error)       { ext.LogError(s.ot, err) }
func (s *jaegerSpan) Finish()                  { s.ot.Finish() }

// headerReader offers Jaeger only the uber-trace-id: baggage and
// jaeger-debug-id are not accepted from callers, so a client cannot force
// debug sampling or smuggle baggage into our spans.
type headerReader func(string) string

func (h headerReader) ForeachKey(fn func(key, value string) error) error {
	if v := h(jaeger.TraceContextHeaderName); v != "" {
		return fn(jaeger.TraceContextHeaderName, v)
	}
	return nil
}

type headerWriter func(key, value string)

func (h headerWriter) Set(key, value string) { h(key, value) }
