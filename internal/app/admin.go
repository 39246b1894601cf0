package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// adminServer serves pprof (admin.pprof, loopback only) and /metrics
// (admin.metrics, and always in pro) on the admin listener, which, like the
// public ones, survives upgrades.
type adminServer struct{ srv *http.Server }

func newAdminServer(pprofOn, metricsOn bool, metrics http.Handler) *adminServer {
	mux := http.NewServeMux()
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if metricsOn {
		mux.Handle("/metrics", metrics)
	}
	return &adminServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
}

func (a *adminServer) Serve(ln net.Listener) error {
	if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *adminServer) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }
