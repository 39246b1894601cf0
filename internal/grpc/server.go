// Package grpc is the TLS gRPC transport for open-platform partners.
package grpc

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/health"
)

// Server is the gRPC API.
type Server struct {
	srv *grpc.Server
}

// Options are the server's dependencies.
type Options struct {
	Config config.GRPC
	TLS    *tls.Config
	Health *health.Health
	// ServerOptions add interceptors and the like.
	ServerOptions []grpc.ServerOption
}

// streamWorkers is how many calls run on reused goroutines at once.
const streamWorkers = 64

// New builds the gRPC server with TLS, health and (where configured) reflection.
func New(o Options) *Server {
	opts := append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(o.TLS)),
		grpc.MaxRecvMsgSize(o.Config.MaxRecvMsgBytes),
		// grpc-go's default, 16 MiB, is read and decoded before the tap
		// handle or any interceptor sees the call.
		grpc.MaxHeaderListSize(uint32(o.Config.MaxHeaderListBytes)),
		// grpc-go sets no cap: one connection opened 50,000 calls that
		// sent nothing, 50,000 goroutines and 775 MB.
		grpc.MaxConcurrentStreams(uint32(o.Config.MaxConcurrentStreams)),
		// A client may ping at most every keepalive_min_time, also without
		// calls; faster pings close its connection.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             o.Config.KeepaliveMinTime.Duration,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: o.Config.MaxConnectionIdle.Duration,
			Time:              o.Config.KeepaliveTime.Duration,
			Timeout:           o.Config.KeepaliveTimeout.Duration,
		}),
		// TLS and the HTTP/2 preface must finish within it.
		grpc.ConnectionTimeout(o.Config.HandshakeTimeout.Duration),
		// Calls run on long-lived workers rather than a new goroutine
		// each: the chain's stack outgrows a new goroutine's, and growing
		// it (runtime.morestack, copying the stack) cost a tenth of the
		// process's CPU per call under load. Calls beyond the busy
		// workers still get goroutines of their own.
		grpc.NumStreamWorkers(streamWorkers),
	}, o.ServerOptions...)
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, o.Health.GRPC())
	if o.Config.Reflection {
		reflection.Register(srv)
	}
	return &Server{srv: srv}
}

// Registrar lets services register themselves.
func (s *Server) Registrar() grpc.ServiceRegistrar { return s.srv }

// Serve accepts on ln until stopped.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Shutdown stops gracefully: no new streams, in-flight RPCs finish. When ctx
// ends first, the remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.srv.Stop()
		<-done
		return ctx.Err()
	}
}
