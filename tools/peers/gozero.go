package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"
	"github.com/zeromicro/go-zero/zrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// runGoZero serves with go-zero's default chains, as its configuration
// defaults turn them on: rest (trace, log, prometheus, maxconns, breaker,
// shedding, timeout, recover, metrics, maxbytes, gunzip) and zrpc (trace,
// recover, stat, prometheus, breaker, load shedding). Metrics are on as
// go-zero turns them on, through its dev server; logs go to files.
func runGoZero(ctx context.Context, o options, tlsCfg *tls.Config) error {
	hhost, hport, err := splitAddr(o.httpAddr)
	if err != nil {
		return fmt.Errorf("-http: %w", err)
	}
	ahost, aport, err := splitAddr(o.adminAddr)
	if err != nil {
		return fmt.Errorf("-admin: %w", err)
	}
	service := fmt.Sprintf(`
Name: peers-gozero
Mode: pro
Log:
  Mode: file
  Path: %q
  Stat: false
Telemetry:
  Name: peers-gozero
  # go-zero's own agent would install a tracer provider without an
  # exporter (it has none for Jaeger); the process's provider, exporting
  # to Jaeger, stays the global one that go-zero's trace middleware uses.
  Disabled: true
DevServer:
  Host: %q
  Port: %d
  EnablePprof: false
`, o.logFile+".d", ahost, aport)

	var rc rest.RestConf
	if err := conf.LoadFromYamlBytes(fmt.Appendf(nil, "%sHost: %q\nPort: %d\n", service, hhost, hport), &rc); err != nil {
		return err
	}
	rs, err := rest.NewServer(rc)
	if err != nil {
		return err
	}
	rs.AddRoute(rest.Route{Method: http.MethodGet, Path: "/api/v1/ping", Handler: func(w http.ResponseWriter, r *http.Request) {
		httpx.OkJsonCtx(r.Context(), w, pingBody())
	}})

	var zc zrpc.RpcServerConf
	if err := conf.LoadFromYamlBytes(fmt.Appendf(nil, "%sListenOn: %q\n", service, o.grpcAddr), &zc); err != nil {
		return err
	}
	zs, err := zrpc.NewServer(zc, func(s *grpc.Server) { openv1.RegisterSystemServiceServer(s, ping{}) })
	if err != nil {
		return err
	}
	zs.AddOptions(grpc.Creds(credentials.NewTLS(tlsCfg)))

	go rs.Start()
	go zs.Start()
	ready(o.httpAddr, o.grpcAddr)
	<-ctx.Done()
	rs.Stop()
	zs.Stop()
	return nil
}

func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	return host, p, err
}
