package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/config"
)

// Sharer divides limits among the instances of a fleet (the rate limiter).
type Sharer interface {
	// SetFleet says n instances are healthy.
	SetFleet(n int)
	// PerInstance says the fleet is unknown.
	PerInstance()
}

// Lister counts the healthy instances of the service.
type Lister interface {
	// Healthy answers once the list has changed since index after (0: at
	// once), or when a wait of its own ends: the instances passing every
	// check, and the index to pass next.
	Healthy(ctx context.Context, after uint64) (n int, index uint64, err error)
}

// consulLister asks the Consul catalog's health endpoint with blocking
// queries, so a change is seen as soon as the servers know it without
// polling.
type consulLister struct {
	health  *api.Health
	service string
	wait    time.Duration
}

// NewConsulLister lists the passing instances of consul.service_name at
// consul.addr.
func NewConsulLister(c config.Consul) (Lister, error) {
	cfg := api.DefaultConfig()
	cfg.Address = c.Addr
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul.addr: %w", err)
	}
	return consulLister{health: client.Health(), service: c.ServiceName, wait: defaultFleetTiming.wait}, nil
}

func (c consulLister) Healthy(ctx context.Context, after uint64) (int, uint64, error) {
	q := (&api.QueryOptions{WaitIndex: after, WaitTime: c.wait}).WithContext(ctx)
	entries, meta, err := c.health.Service(c.service, "", true, q)
	if err != nil {
		return 0, 0, err
	}
	return len(entries), meta.LastIndex, nil
}

// fleetTiming paces the watch; tests shorten it.
type fleetTiming struct {
	// wait is how long one blocking query may wait for a change; the call
	// is given that plus the server's jitter (wait/16) plus call.
	wait, call time.Duration
	// firstRetry doubles up to maxRetry while Consul does not answer.
	firstRetry, maxRetry time.Duration
	// gap is the least time between two queries, should the index run
	// backwards or answers come back at once.
	gap time.Duration
	// hold is how long the last number Consul gave is kept while it does
	// not answer, before each instance takes every tier whole.
	hold time.Duration
}

// fleetHold keeps the fleet's last known size through a short failure of
// Consul: a leader election or an agent restart fails every instance's
// query at the same moment, and taking every tier whole then would have
// the fleet admit N times each tenant's rate at once. A fleet changes
// little in a minute; past it, the number is too old to divide by.
const fleetHold = time.Minute

var defaultFleetTiming = fleetTiming{wait: time.Minute, call: 5 * time.Second, firstRetry: 500 * time.Millisecond, maxRetry: 30 * time.Second, gap: 50 * time.Millisecond, hold: fleetHold}

// FleetWatch keeps a Sharer told how many healthy instances there are.
type FleetWatch struct {
	lister Lister
	sharer Sharer
	log    zerolog.Logger
	t      fleetTiming
	cancel context.CancelFunc
	done   chan struct{}
}

// WatchFleet starts telling s the number of healthy instances l lists, in
// the background, as it changes; never fewer than 1. While l fails, s
// keeps the last number for up to a minute (fleetHold), then is told the
// fleet is unknown; without a number yet, at once. The failure, the
// fallback and the recovery are logged once each, not every retry.
func WatchFleet(l Lister, s Sharer, log zerolog.Logger) *FleetWatch {
	return watchFleet(l, s, log, defaultFleetTiming)
}

func watchFleet(l Lister, s Sharer, log zerolog.Logger, t fleetTiming) *FleetWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &FleetWatch{lister: l, sharer: s, log: log.With().Str("component", "consul").Logger(), t: t, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

// Stop ends the watch; the Sharer keeps the last number it was told.
func (w *FleetWatch) Stop() {
	w.cancel()
	<-w.done
}

func (w *FleetWatch) run(ctx context.Context) {
	defer close(w.done)
	var index uint64
	var failedAt time.Time // when the queries began to fail; zero while they answer
	last, unknown, retry := 0, false, w.t.firstRetry
	for {
		began := time.Now()
		n, next, err := w.ask(ctx, index)
		if ctx.Err() != nil {
			return
		}
		pause := w.t.gap - time.Since(began)
		switch {
		case err != nil:
			if failedAt.IsZero() {
				// The number held is as old as this query: one that hung
				// until its bound does not add a hold of its own.
				failedAt = began
				if last > 0 {
					w.log.Warn().Err(err).Int("instances", last).Dur("hold_ms", w.t.hold).
						Msg("consul: cannot list the healthy instances; tenant rates stay divided by the last number it gave for now")
				}
			}
			held := time.Until(failedAt.Add(w.t.hold))
			if !unknown && (last == 0 || held <= 0) {
				w.sharer.PerInstance()
				w.log.Warn().Err(err).Msg("consul: cannot list the healthy instances; each instance admits every tenant's whole rate until it answers")
				unknown = true
			}
			index = 0
			pause, retry = jitter(retry), min(2*retry, w.t.maxRetry)
			if !unknown {
				// Fall back when the hold ends, not at the next retry.
				pause = min(pause, held)
			}
		default:
			retry = w.t.firstRetry
			if next < index {
				// The index went backwards (a server restored from a
				// snapshot): start over, as Consul's documentation says.
				next = 0
			}
			index = next
			n = max(1, n)
			if n != last || unknown {
				w.sharer.SetFleet(n)
				w.log.Info().Int("instances", n).Msg("consul: tenant rates are divided among the healthy instances")
			} else if !failedAt.IsZero() {
				w.log.Info().Int("instances", n).Msg("consul: listing the healthy instances again")
			}
			last, unknown, failedAt = n, false, time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(0, pause)):
		}
	}
}

// ask bounds one blocking query by its wait, the server's jitter and the
// call bound.
func (w *FleetWatch) ask(ctx context.Context, index uint64) (int, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, w.t.wait+w.t.wait/16+w.t.call)
	defer cancel()
	return w.lister.Healthy(ctx, index)
}
