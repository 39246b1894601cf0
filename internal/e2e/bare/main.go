// Command bare is the baseline of the benchmarks: a bare Echo server and a
// bare grpc-go TLS server doing the same trivial work as mgvcore's ping and
// health routes, without any policy.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/cert"
)

// ping answers SystemService.Ping like mgvcore, without any interceptor.
type ping struct {
	openv1.UnimplementedSystemServiceServer
}

func (ping) Ping(context.Context, *openv1.PingRequest) (*openv1.PingResponse, error) {
	return &openv1.PingResponse{Pong: "pong"}, nil
}

func main() {
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address")
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "gRPC listen address")
	sslDir := flag.String("ssl", "ssl", "directory with server.crt, server.key and ca.crt")
	flag.Parse()
	if err := run(*httpAddr, *grpcAddr, *sslDir); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(httpAddr, grpcAddr, sslDir string) error {
	tlsCfg, err := cert.ServerTLS(sslDir, "none")
	if err != nil {
		return err
	}
	gln, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	openv1.RegisterSystemServiceServer(srv, ping{})
	go func() { _ = srv.Serve(gln) }()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/v1/ping", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{
			"code": 0, "msg": "ok", "data": map[string]string{"pong": "mgvcore"},
			"request_id": "1f924352e5d41ac5d2333c4b120fc1a5",
		})
	})
	hln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	e.Listener = hln
	fmt.Printf("http=%s grpc=%s\n", hln.Addr(), gln.Addr())
	return e.Start("")
}
