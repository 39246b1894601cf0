package app

import (
	"context"
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/netutil"
)

// adminServer serves pprof (admin.pprof, loopback only) and /metrics
// (admin.metrics, and always in pro) on the admin listener, which, like the
// public ones, survives upgrades.
type adminServer struct {
	srv      *http.Server
	maxConns int
}

// adminLimits bound what callers of the admin port may hold: in pro it
// listens on every interface (a scraper's address), where connections
// left idle, or opened and never used, could take the process's file
// descriptors and with them the public ports.
type adminLimits struct {
	// idle closes a kept-alive connection between requests; read bounds
	// reading a request, write writing an answer (a CPU profile takes the
	// seconds it was asked for, 30 by default).
	idle, read, write time.Duration
	// maxConns is the most connections served at once; more wait to be
	// accepted.
	maxConns int
}

var defaultAdminLimits = adminLimits{idle: 30 * time.Second, read: 10 * time.Second, write: 2 * time.Minute, maxConns: 64}

func newAdminServer(pprofOn, metricsOn bool, metrics http.Handler, lim adminLimits, log zerolog.Logger) *adminServer {
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
	return &adminServer{maxConns: lim.maxConns, srv: &http.Server{
		Handler: mux, ReadHeaderTimeout: min(5*time.Second, lim.read), ReadTimeout: lim.read, WriteTimeout: lim.write,
		IdleTimeout: lim.idle, MaxHeaderBytes: 64 << 10,
		// net/http's own errors (an accept that failed) as log lines like
		// the others, not plain text on stderr.
		ErrorLog: stdlog.New(log.With().Str("server", "admin").Logger(), "", 0),
	}}
}

func (a *adminServer) Serve(ln net.Listener) error {
	if err := a.srv.Serve(netutil.LimitListener(ln, a.maxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *adminServer) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }
