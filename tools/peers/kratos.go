package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/go-kratos/aegis/circuitbreaker"
	"github.com/go-kratos/aegis/circuitbreaker/sre"
	"github.com/go-kratos/kratos/v2/errors"
	"github.com/go-kratos/kratos/v2/log"
	"github.com/go-kratos/kratos/v2/middleware"
	"github.com/go-kratos/kratos/v2/middleware/logging"
	"github.com/go-kratos/kratos/v2/middleware/metrics"
	"github.com/go-kratos/kratos/v2/middleware/ratelimit"
	"github.com/go-kratos/kratos/v2/middleware/recovery"
	"github.com/go-kratos/kratos/v2/middleware/tracing"
	"github.com/go-kratos/kratos/v2/transport"
	kgrpc "github.com/go-kratos/kratos/v2/transport/grpc"
	khttp "github.com/go-kratos/kratos/v2/transport/http"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// runKratos serves with kratos's server middleware: recovery, OpenTelemetry
// tracing, logging, metrics (OpenTelemetry to a Prometheus registry), the
// BBR limiter, and an SRE breaker per operation (kratos ships its breaker
// middleware for clients only; this one is that middleware's server twin,
// on the same aegis breaker).
func runKratos(ctx context.Context, o options, tlsCfg *tls.Config, logw io.Writer) error {
	exp, err := prometheus.New()
	if err != nil {
		return err
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)).Meter("peers-kratos")
	requests, err := metrics.DefaultRequestsCounter(meter, metrics.DefaultServerRequestsCounterName)
	if err != nil {
		return err
	}
	seconds, err := metrics.DefaultSecondsHistogram(meter, metrics.DefaultServerSecondsHistogramName)
	if err != nil {
		return err
	}
	chain := []middleware.Middleware{
		recovery.Recovery(),
		tracing.Server(),
		logging.Server(log.NewStdLogger(logw)),
		metrics.Server(metrics.WithRequests(requests), metrics.WithSeconds(seconds)),
		ratelimit.Server(),
		serverBreaker(),
	}

	hln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return err
	}
	gln, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		return err
	}
	hs := khttp.NewServer(khttp.Listener(hln), khttp.Middleware(chain...))
	hs.Route("/").GET("/api/v1/ping", func(c khttp.Context) error {
		h := c.Middleware(func(context.Context, any) (any, error) { return pingBody(), nil })
		out, err := h(c, nil)
		if err != nil {
			return err
		}
		return c.Result(http.StatusOK, out)
	})
	gs := kgrpc.NewServer(kgrpc.Listener(gln), kgrpc.TLSConfig(tlsCfg), kgrpc.Middleware(chain...))
	openv1.RegisterSystemServiceServer(gs, ping{})

	errc := make(chan error, 2)
	go func() { errc <- hs.Start(ctx) }()
	go func() { errc <- gs.Start(ctx) }()
	ready(hln.Addr().String(), gln.Addr().String())
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	_ = hs.Stop(context.Background())
	_ = gs.Stop(context.Background())
	return err
}

// serverBreaker guards each operation with its own aegis SRE breaker, as
// kratos's circuitbreaker.Client does per operation, marking server-side
// failures (5xx) only.
func serverBreaker() middleware.Middleware {
	var breakers sync.Map
	return func(next middleware.Handler) middleware.Handler {
		return func(ctx context.Context, req any) (any, error) {
			op := ""
			if tr, ok := transport.FromServerContext(ctx); ok {
				op = tr.Operation()
			}
			b, ok := breakers.Load(op)
			if !ok {
				b, _ = breakers.LoadOrStore(op, sre.NewBreaker())
			}
			cb := b.(circuitbreaker.CircuitBreaker)
			if err := cb.Allow(); err != nil {
				cb.MarkFailed()
				return nil, errors.ServiceUnavailable("CIRCUITBREAKER", "request failed due to circuit breaker triggered")
			}
			reply, err := next(ctx, req)
			if err != nil && (errors.IsInternalServer(err) || errors.IsServiceUnavailable(err) || errors.IsGatewayTimeout(err)) {
				cb.MarkFailed()
			} else {
				cb.MarkSuccess()
			}
			return reply, err
		}
	}
}
