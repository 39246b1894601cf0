// Package registry announces the service to Consul (hashicorp/consul/api)
// once it is ready, and withdraws it when it stops.
//
// Registration never blocks serving: it runs in the background, retrying
// with backoff while the agent is unreachable, and afterwards re-registers
// if the agent forgets the service (an agent restart, or a reap after a
// long critical spell). The id is stable across upgrades, so an upgraded
// child's registration replaces its parent's; the parent, leaving on an
// upgrade, does not deregister. Only a real stop does. A child whose id
// differs (app.instance_id or consul.service_name changed with the
// upgrade) removes the parent's registration of its address and ports.
package registry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"
)

// timing paces the background loop; tests shorten it.
type timing struct {
	firstRetry, maxRetry time.Duration
	resync               time.Duration // how often the registration is verified
	call                 time.Duration // bound of one agent call
}

var defaultTiming = timing{firstRetry: 500 * time.Millisecond, maxRetry: 30 * time.Second, resync: 30 * time.Second, call: 5 * time.Second}

// Registrar keeps one service registered with the local Consul agent.
type Registrar struct {
	agent *api.Agent
	reg   *api.AgentServiceRegistration
	log   zerolog.Logger
	t     timing

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start begins registering in the background and returns at once.
func Start(o Options, log zerolog.Logger) (*Registrar, error) {
	return start(o, log, defaultTiming)
}

func start(o Options, log zerolog.Logger, t timing) (*Registrar, error) {
	cfg := api.DefaultConfig() // also reads CONSUL_HTTP_TOKEN and friends
	cfg.Address = o.Consul.Addr
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul.addr: %w", err)
	}
	reg := registration(o)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registrar{
		agent:  client.Agent(),
		reg:    reg,
		log:    log.With().Str("component", "consul").Str("service_id", reg.ID).Str("consul", o.Consul.Addr).Logger(),
		t:      t,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go r.run(ctx)
	return r, nil
}

// ID is the registered service id.
func (r *Registrar) ID() string { return r.reg.ID }

// run registers, retrying with backoff, then verifies every resync interval
// that the agent still knows the service.
func (r *Registrar) run(ctx context.Context) {
	defer close(r.done)
	retry, failures, registered := r.t.firstRetry, 0, false
	for {
		err := r.ensure(ctx, registered)
		if ctx.Err() != nil {
			return
		}
		wait := r.t.resync
		if err != nil {
			failures++
			wait, retry = retry, min(retry*2, r.t.maxRetry)
			r.log.Warn().Err(err).Int("attempt", failures).Dur("retry_in_ms", wait).
				Msg("consul: registration failed; serving goes on, retrying in the background")
		} else {
			registered, retry, failures = true, r.t.firstRetry, 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(wait)):
		}
	}
}

// ensure registers the service: always the first time, since an upgraded
// child must refresh what its parent registered under the same id; later
// only when the agent no longer has it.
func (r *Registrar) ensure(ctx context.Context, registered bool) error {
	ctx, cancel := context.WithTimeout(ctx, r.t.call)
	defer cancel()
	if registered {
		_, _, err := r.agent.Service(r.reg.ID, (&api.QueryOptions{}).WithContext(ctx))
		if err == nil || !notFound(err) {
			return err
		}
		r.log.Warn().Msg("consul: the agent lost the registration; registering again")
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.agent.ServiceRegisterOpts(r.reg, opts); err != nil {
		return err
	}
	r.log.Info().Str("service", r.reg.Name).Int("http_port", r.reg.Port).Str("grpc_port", r.reg.Meta["grpc_port"]).
		Msg("consul: registered")
	return r.dropSupplanted(ctx)
}

// dropSupplanted deregisters the agent's other registrations of this
// process's address and ports: an mgvcore before an upgrade that changed
// app.instance_id or consul.service_name left its own, which stays passing
// (its checks reach this process) and would count as one more instance of
// the fleet, so every instance would admit less than its share. Only
// registrations of this host (Meta host) that name the same HTTP address,
// port and gRPC port, which no other live process can serve, are removed.
func (r *Registrar) dropSupplanted(ctx context.Context) error {
	services, err := r.agent.ServicesWithFilterOpts("", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	for id, svc := range services {
		if id == r.reg.ID || svc.Address != r.reg.Address || svc.Port != r.reg.Port || svc.Meta["host"] != r.reg.Meta["host"] ||
			svc.Meta["grpc_port"] == "" || svc.Meta["grpc_port"] != r.reg.Meta["grpc_port"] {
			continue
		}
		if err := r.agent.ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx)); err != nil && !notFound(err) {
			// This process is registered all the same (an ACL token that
			// does not cover the old name, say): said, not retried.
			r.log.Warn().Err(err).Str("earlier", id).Msg("consul: could not remove an earlier registration of this address; remove it by hand")
			continue
		}
		r.log.Info().Str("removed", id).Str("removed_service", svc.Service).
			Msg("consul: removed an earlier registration of this address (its id or name changed)")
	}
	return nil
}

// Stop ends the background loop. With deregister (a real stop, not an
// upgrade) it also removes the service, so callers stop being sent here
// before the drain; ctx bounds that call.
func (r *Registrar) Stop(ctx context.Context, deregister bool) error {
	r.stopOnce.Do(func() { r.cancel() })
	<-r.done
	if !deregister {
		r.log.Info().Msg("consul: leaving the registration to the upgraded process")
		return nil
	}
	err := r.agent.ServiceDeregisterOpts(r.reg.ID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil && !notFound(err) {
		return fmt.Errorf("consul: deregistering %s: %w", r.reg.ID, err)
	}
	r.log.Info().Msg("consul: deregistered")
	return nil
}

func notFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// jitter spreads retries of many instances over ±20%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
