// Command peers runs the servers the benchmarks measure beside mgvcore
// (QUALITY P1s and P2s): kratos and go-zero, each with the chain it offers
// for what mgvcore's chain does, answering the same trivial HTTP route
// (GET /api/v1/ping, the body of internal/e2e/bare) and the same gRPC
// method (mgv.open.v1.SystemService/Ping over TLS).
//
//	peers -framework kratos|gozero -http ADDR -grpc ADDR -ssl DIR -log FILE \
//	      -collector URL -sample RATIO -admin ADDR
//
// Both trace with OpenTelemetry to the Jaeger collector (Thrift over HTTP,
// the endpoint mgvcore's pro configuration reports to), sampling RATIO of
// the calls that arrive without a sampled parent. It prints
// "http=ADDR grpc=ADDR" once both listen.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/jaeger"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// pingBody is the body bare and mgvcore answer GET /api/v1/ping with.
func pingBody() map[string]any {
	return map[string]any{
		"code": 0, "msg": "ok", "data": map[string]string{"pong": "mgvcore"},
		"request_id": "1f924352e5d41ac5d2333c4b120fc1a5",
	}
}

// ping answers SystemService.Ping as mgvcore does.
type ping struct {
	openv1.UnimplementedSystemServiceServer
}

func (ping) Ping(context.Context, *openv1.PingRequest) (*openv1.PingResponse, error) {
	return &openv1.PingResponse{Pong: "pong"}, nil
}

type options struct {
	framework, httpAddr, grpcAddr, adminAddr, sslDir, logFile, collector string
	sample                                                               float64
}

func main() {
	var o options
	flag.StringVar(&o.framework, "framework", "", "kratos or gozero")
	flag.StringVar(&o.httpAddr, "http", "127.0.0.1:0", "HTTP listen address")
	flag.StringVar(&o.grpcAddr, "grpc", "127.0.0.1:0", "gRPC (TLS) listen address")
	flag.StringVar(&o.adminAddr, "admin", "127.0.0.1:0", "go-zero's dev server (metrics) address")
	flag.StringVar(&o.sslDir, "ssl", "ssl", "directory with server.crt and server.key")
	flag.StringVar(&o.logFile, "log", "peers.log", "access log file")
	flag.StringVar(&o.collector, "collector", "", "Jaeger collector URL (…/api/traces)")
	flag.Float64Var(&o.sample, "sample", 0.01, "share of new traces sampled")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.collector == "" {
		return fmt.Errorf("-collector is required")
	}
	tp, err := tracerProvider(o)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}()
	crt, err := tls.LoadX509KeyPair(filepath.Join(o.sslDir, "server.crt"), filepath.Join(o.sslDir, "server.key"))
	if err != nil {
		return err
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{crt}, MinVersion: tls.VersionTLS12}
	logf, err := os.OpenFile(o.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch o.framework {
	case "kratos":
		return runKratos(ctx, o, tlsCfg, logf)
	case "gozero":
		return runGoZero(ctx, o, tlsCfg)
	}
	return fmt.Errorf("-framework: want kratos or gozero, got %q", o.framework)
}

// tracerProvider is the global OpenTelemetry provider both frameworks'
// tracing middleware use: batched export to the Jaeger collector.
func tracerProvider(o options) (*sdktrace.TracerProvider, error) {
	exp, err := jaeger.New(jaeger.WithCollectorEndpoint(jaeger.WithEndpoint(o.collector)))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.sample))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "peers-"+o.framework))),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp, nil
}

func ready(httpAddr, grpcAddr string) {
	fmt.Printf("http=%s grpc=%s\n", httpAddr, grpcAddr)
}
