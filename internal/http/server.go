// Package http is the Echo v4 transport for web and mobile clients.
package http

import (
	"context"
	"errors"
	"io"
	"net"
	nethttp "net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/health"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/http/render"
)

// Server is the HTTP JSON API.
type Server struct {
	echo    *echo.Echo
	started chan struct{}
}

// Options are the server's dependencies.
type Options struct {
	Config config.HTTP
	Log    zerolog.Logger
	// Banner receives Echo's banner and "http server started on" line.
	Banner io.Writer
	Health *health.Health
}

// New builds the Echo instance with its middleware and routes.
func New(o Options) *Server {
	e := echo.New()
	e.Logger.SetOutput(o.Banner)
	e.HTTPErrorHandler = render.ErrorHandler(o.Log)
	e.Server.ReadHeaderTimeout = o.Config.ReadHeaderTimeout.Duration
	e.Server.IdleTimeout = o.Config.IdleTimeout.Duration

	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())

	hc := controller.Health{H: o.Health}
	e.GET("/healthz", hc.Alive)
	e.GET("/readyz", hc.Ready)
	return &Server{echo: e, started: make(chan struct{})}
}

// Echo exposes the instance for route registration.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Started is closed once the server accepts connections.
func (s *Server) Started() <-chan struct{} { return s.started }

// Serve accepts on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.echo.Listener = &startedListener{Listener: ln, started: s.started}
	if err := s.echo.Start(""); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.echo.Shutdown(ctx) }
