package app

import (
	"context"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/lifecycle"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/registry"
)

// deregisterTimeout bounds the deregistration on stop, which delays the drain.
const deregisterTimeout = 3 * time.Second

// startRegistry announces the ready process to Consul, in the background;
// nil when consul is off.
func startRegistry(cfg *config.Config, httpAddr, grpcAddr net.Addr, log zerolog.Logger) *registry.Registrar {
	if !cfg.Consul.Enabled {
		return nil
	}
	r, err := registry.Start(registry.Options{
		Consul: cfg.Consul,
		ID:     cfg.App.InstanceID,
		HTTP:   httpAddr,
		GRPC:   grpcAddr,
		// The gRPC port is checked by TCP. A grpc.health.v1 call carries no
		// token, so it is one of the untrusted reads (grpc.max_untrusted_reads),
		// which a few anonymous slow calls can hold: the check would then
		// fail and take the instance out of the rotation. The HTTP check
		// (/readyz?require=database) already tells that the process serves.
		GRPCCheckTLS: false,
		Meta:         map[string]string{"version": global.Version(), "env": cfg.App.Env},
	}, log)
	if err != nil {
		// Already serving: running unregistered beats stopping.
		log.Error().Err(err).Msg("consul: cannot register; serving without it")
		return nil
	}
	return r
}

// stopRegistry deregisters on a real stop, before the drain, so callers stop
// being sent here; on an upgrade the registration is the new process's.
func stopRegistry(r *registry.Registrar, reason lifecycle.Reason, log zerolog.Logger) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deregisterTimeout)
	defer cancel()
	if err := r.Stop(ctx, reason == lifecycle.Stopped); err != nil {
		log.Warn().Err(err).Msg("consul: the service stays registered until its checks fail")
	}
}

// watchFleet divides the tenant and app rates among the healthy instances
// Consul lists, so a tenant's tier holds across the fleet; nil when consul
// is off, and then each instance admits every tier whole.
func watchFleet(cfg *config.Config, lim *limit.Limiter, log zerolog.Logger) *registry.FleetWatch {
	if !cfg.Consul.Enabled {
		log.Info().Msg("consul off: rate limits are per instance, each admits every tenant's whole rate")
		return nil
	}
	l, err := registry.NewConsulLister(cfg.Consul)
	if err != nil {
		log.Error().Err(err).Msg("consul: cannot list the instances; rate limits are per instance")
		return nil
	}
	return registry.WatchFleet(l, lim, log)
}
