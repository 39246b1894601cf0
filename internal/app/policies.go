package app

import (
	"fmt"
	"maps"
	"time"

	"github.com/rs/zerolog"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/metrics"
	"github.com/megaview/mgvcore/internal/policy"
)

// policies holds the shared policy instances: both transports use the same
// limiter, breakers and tracer, so an operation has one key on both.
type policies struct {
	log     zerolog.Logger
	metrics *metrics.Metrics
	// perOperation timeouts override the transport default.
	timeouts map[string]time.Duration
	// limiter is divided among the fleet's instances (see watchFleet).
	limiter *limit.Limiter
	// Slots filled as the pieces are configured; nil ones are skipped.
	tracing   policy.Middleware
	audit     policy.Middleware
	auth      policy.Middleware
	rateLimit policy.Middleware
	// need refuses a caller without the scope or role of the operation
	// before its handler reads the request (operationNeeds).
	need policy.Middleware
	// heavy bounds each tenant's heavy calls running at once
	// (heavyOperations).
	heavy   policy.Middleware
	breaker policy.Middleware
}

func newPolicies(cfg *config.Config, log zerolog.Logger, m *metrics.Metrics, brk *breaker.Registry) (*policies, error) {
	timeouts := make(map[string]time.Duration, len(cfg.Timeouts))
	for op, d := range cfg.Timeouts {
		if _, ok := auditRules[op]; !ok {
			// Every operation of both transports has its audit rule
			// (TestEveryOperationIsInTheAuditTable): a key that names none is
			// a typo, which would leave the operation at the default.
			return nil, fmt.Errorf("timeouts: %q is no operation of this service (operations are named as in the OpenAPI document's x-mgv-operation, or as gRPC full methods such as %q)",
				op, openv1.ConversationService_PutTranscript_FullMethodName)
		}
		timeouts[op] = d.Duration
	}
	// A PutTranscript stream is bounded as a whole by grpc.stream_timeout,
	// not by the request timeout of unary calls.
	if put := openv1.ConversationService_PutTranscript_FullMethodName; timeouts[put] == 0 {
		timeouts[put] = cfg.GRPC.StreamTimeout.Duration
	}
	// An event stream is a live tail with no deadline of its own (a
	// timeouts entry may give it one): the stream caps bound it, and the
	// drain ends it.
	if tail := openv1.EventService_StreamEvents_FullMethodName; !hasKey(timeouts, tail) {
		timeouts[tail] = 0
	}
	// So are health's Watch (the drain ends it: health.WatchInterceptor)
	// and reflection (dev and test), for as long as their client keeps
	// them.
	for _, stream := range []string{healthpb.Health_Watch_FullMethodName,
		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName, reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName} {
		timeouts[stream] = 0
	}
	lim, err := limit.New(cfg.RateLimit, m.Registry)
	if err != nil {
		return nil, err
	}
	return &policies{
		log:       log,
		metrics:   m,
		timeouts:  timeouts,
		limiter:   lim,
		rateLimit: policy.RateLimit(lim),
		need:      policy.Need(operationNeeds),
		heavy:     policy.Heavy(lim, heavyOperations),
		breaker:   policy.Breaker(brk),
	}, nil
}

// chain is the documented order of internal/policy, with the transport's
// default timeout and body limit.
func (p *policies) chain(timeout time.Duration, maxBody int64) policy.Middleware {
	return p.chainWith(timeout, maxBody, p.timeouts)
}

// httpChain is the HTTP transport's chain. A transcript download reads the
// transcript while it writes it, so it has the time its write has
// (http.download_write_timeout) unless [timeouts] names it; its gRPC
// counterpart answers a bounded page and keeps the request timeout.
func (p *policies) httpChain(cfg *config.Config) policy.Middleware {
	timeouts := p.timeouts
	if get := openv1.ConversationService_GetTranscript_FullMethodName; timeouts[get] == 0 && cfg.HTTP.DownloadWriteTimeout.Duration > 0 {
		timeouts = maps.Clone(p.timeouts)
		timeouts[get] = cfg.HTTP.DownloadWriteTimeout.Duration
	}
	return p.chainWith(cfg.HTTP.RequestTimeout.Duration, cfg.HTTP.MaxBodyBytes, timeouts)
}

func (p *policies) chainWith(timeout time.Duration, maxBody int64, timeouts map[string]time.Duration) policy.Middleware {
	return policy.Chain(
		policy.RequestID(),
		policy.Recover(p.log),
		policy.AccessLog(p.log, p.metrics),
		p.tracing,
		policy.Timeout(timeout, timeouts),
		policy.SizeLimit(maxBody),
		p.audit,
		p.auth,
		p.rateLimit,
		p.need,
		p.heavy,
		p.breaker,
	)
}

func hasKey(m map[string]time.Duration, k string) bool {
	_, ok := m[k]
	return ok
}
