// Package http is the Echo v4 transport for web and mobile clients.
package http

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	nethttp "net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/api"
	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/clientip"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/health"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/http/middleware"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/policy"
)

// Server is the HTTP JSON API.
type Server struct {
	echo    *echo.Echo
	ops     middleware.Operations
	started chan struct{}
	// closing is set once Shutdown begins: every answer from then on
	// closes its connection. conns counts the open connections.
	closing atomic.Bool
	conns   atomic.Int64
}

// Options are the server's dependencies.
type Options struct {
	Config config.HTTP
	Log    zerolog.Logger
	// Banner receives Echo's banner and "http server started on" line.
	Banner io.Writer
	Health *health.Health
	// Chain is the policy chain every request passes through.
	Chain policy.Middleware
	// Metrics serves /metrics.
	Metrics nethttp.Handler
	// ClientIP decides each request's client address (Echo's RealIP); nil
	// trusts no proxy, so the address is the TCP peer's.
	ClientIP *clientip.Resolver
}

// New builds the Echo instance with the policy chain and the operational
// routes; API routes are added with Handle.
func New(o Options) *Server {
	e := echo.New()
	e.Logger.SetOutput(o.Banner)
	e.HTTPErrorHandler = render.ErrorHandler(o.Log)
	e.JSONSerializer = render.Serializer{}
	e.Server.ReadHeaderTimeout = o.Config.ReadHeaderTimeout.Duration
	// net/http's default, 1 MiB, let 400 connections that each sent a
	// large header block slowly hold 400 MiB.
	e.Server.MaxHeaderBytes = o.Config.MaxHeaderBytes
	e.Server.IdleTimeout = o.Config.IdleTimeout.Duration
	// Every use of c.RealIP() (the policy chain, controllers) gets the one
	// address: forwarded headers only from http.trusted_proxies.
	e.IPExtractor = o.ClientIP.FromRequest

	s := &Server{echo: e, ops: middleware.Operations{}, started: make(chan struct{})}
	e.Server.ConnState = s.track
	e.Use(middleware.Policy(o.Chain, s.ops, middleware.Bounds{
		MaxBody:      o.Config.MaxBodyBytes,
		Read:         o.Config.ReadTimeout.Duration,
		Write:        o.Config.WriteTimeout.Duration,
		LongWrite:    o.Config.DownloadWriteTimeout.Duration,
		LongWriteOps: downloads,
		Closing:      &s.closing,
	}))

	hc := controller.Health{H: o.Health}
	e.GET("/healthz", hc.Alive)
	e.GET("/readyz", controller.OnlyQuery(hc.Ready, SystemQuery["GET /readyz"]))
	if o.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(o.Metrics))
	}
	e.GET(OpenAPIPath, controller.OpenAPI(api.OpenAPIJSON))
	registerDocs(e, api.Docs())
	s.Handle(nethttp.MethodGet, "/api/v1/ping", OperationPing, controller.Ping)
	return s
}

// SystemQuery is the query parameters the routes outside the API take,
// by method and path; any other is refused (controller.OnlyQuery).
var SystemQuery = map[string][]string{"GET /readyz": {"require"}}

// downloads are the operations whose responses may be large enough to need
// http.download_write_timeout.
var downloads = map[string]bool{
	openv1.ConversationService_GetTranscript_FullMethodName: true,
}

// OpenAPIPath serves the OpenAPI 3 document of the HTTP API (api/openapi.yaml)
// as JSON, without a token.
const OpenAPIPath = "/openapi.json"

// DocsPath serves the interactive API reference (Swagger UI on OpenAPIPath),
// without a token; its assets are served under DocsPath + "/".
const DocsPath = "/docs"

// registerDocs adds DocsPath (and DocsPath + "/") for index.html and one
// route for each other embedded file, so no wildcard route is needed.
func registerDocs(e *echo.Echo, files fs.FS) {
	index := controller.DocsFile(files, "index.html")
	e.GET(DocsPath, index)
	e.GET(DocsPath+"/", index)
	entries, _ := fs.ReadDir(files, ".")
	for _, f := range entries {
		if f.IsDir() || f.Name() == "index.html" {
			continue
		}
		e.GET(DocsPath+"/"+f.Name(), controller.DocsFile(files, f.Name()))
	}
}

// OperationPing is the trivial operation shared with the gRPC SystemService.
const OperationPing = "/mgv.open.v1.SystemService/Ping"

// Handle registers a route under its operation name, taking the query
// parameters named by query and no other (controller.OnlyQuery).
func (s *Server) Handle(method, path, operation string, h echo.HandlerFunc, query ...string) {
	s.echo.Add(method, path, controller.OnlyQuery(h, query))
	s.ops.Add(method, path, operation)
}

// Echo exposes the instance, e.g. to list routes.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Started is closed once the server accepts connections.
func (s *Server) Started() <-chan struct{} { return s.started }

// Serve accepts on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.echo.Listener = &startedListener{Listener: ln, started: s.started}
	// Shutdown closes the listener first: Serve then ends with the
	// listener's error, which is no failure.
	if err := s.echo.Start(""); err != nil && !errors.Is(err, nethttp.ErrServerClosed) && !s.closing.Load() {
		return err
	}
	return nil
}

// closeGrace bounds how long Shutdown lets kept-alive connections close
// after an answer before it closes those left idle.
const closeGrace = 2 * time.Second

// Shutdown stops the server, letting in-flight requests finish until ctx
// ends. A kept-alive connection that the server closes while idle may meet
// a request already on its way, which the client then sees fail (a POST is
// not sent again): so first, for up to closeGrace (or half the time ctx
// leaves), every answer closes its connection (Connection: close), and a
// client's next request on a kept-alive connection is served and then
// made on a new one, by the process that goes on serving after an
// upgrade. Only the connections still open after that are closed idle. The
// listener is closed first: after an upgrade every new connection goes to
// the new process (their socket is shared), and the grace ends as soon as
// the connections already open have closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	if s.echo.Listener != nil {
		_ = s.echo.Listener.Close()
	}
	grace := closeGrace
	if d, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(d)/2)
	}
	end := time.NewTimer(grace)
	defer end.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.conns.Load() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-end.C:
			break wait
		case <-tick.C:
		}
	}
	return s.echo.Shutdown(ctx)
}

// track counts the open connections (net/http's ConnState hook).
func (s *Server) track(_ net.Conn, st nethttp.ConnState) {
	switch st {
	case nethttp.StateNew:
		s.conns.Add(1)
	case nethttp.StateClosed, nethttp.StateHijacked:
		s.conns.Add(-1)
	}
}
