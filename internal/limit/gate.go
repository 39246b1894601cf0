package limit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/megaview/mgvcore/internal/config"
)

// ScopeHeavy labels the refusals of the heavy-call gate (see Enter).
const ScopeHeavy Scope = "heavy"

// gate bounds how many heavy calls (lists, searches, statistics: calls
// whose cost grows with a tenant's data and the filters it picks) each
// tenant runs at once on this instance. The rate limit counts calls, not
// their cost: a tenant well within its rate could otherwise keep every
// connection of the database pool, and every search thread, busy with
// year-long statistics, and slow or refuse every other tenant of the
// instance. Past its bound a tenant's calls wait in line, as many as may
// run; one more is refused at once.
type gate struct {
	tiers map[string]int
	def   int

	mu    sync.Mutex
	slots map[gateKey]*gateSlot
}

// gateKey includes the tier, so a tenant that changes tier gets a slot of
// the new size; the old one goes once its calls end.
type gateKey struct{ tenant, tier string }

// gateSlot is one tenant's places: a call holds one while it runs. refs
// counts the calls running and waiting; the slot is dropped at zero, so
// the gate holds only tenants with calls in flight.
type gateSlot struct {
	places chan struct{}
	refs   int
}

func newGate(cfg config.RateLimit) *gate {
	g := &gate{tiers: make(map[string]int, len(cfg.Tiers)), slots: make(map[gateKey]*gateSlot)}
	for name, t := range cfg.Tiers {
		g.tiers[name] = t.HeavyCallsOrDefault()
	}
	g.def = g.tiers[cfg.DefaultTier]
	if g.def == 0 {
		g.def = config.DefaultHeavyCalls
	}
	return g
}

// size is how many heavy calls a tenant of tier runs at once.
func (g *gate) size(tier string) (string, int) {
	if n, ok := g.tiers[tier]; ok {
		return tier, n
	}
	return "", g.def
}

// Enter admits one heavy call of k's tenant (k.ID, at k.Tier): at once
// while fewer than its tier's heavy_calls run, after a wait while no more
// than that many wait, else never — the call is answered at once with a
// *Rejected of ScopeHeavy. A call whose deadline passes while it waits is
// rejected too (its cause context.DeadlineExceeded); one whose caller
// leaves gets ctx's error. Call the release it returns, once, when the call
// ends. With the limiter off every call enters.
func (l *Limiter) Enter(ctx context.Context, k Key) (release func(), err error) {
	if l.off {
		return func() {}, nil
	}
	g := l.heavy
	tier, n := g.size(k.Tier)
	gk := gateKey{tenant: boundedID(k.ID), tier: tier}
	g.mu.Lock()
	s := g.slots[gk]
	if s == nil {
		s = &gateSlot{places: make(chan struct{}, n)}
		g.slots[gk] = s
	}
	if s.refs >= 2*n {
		g.mu.Unlock()
		l.rejections.WithLabelValues(string(ScopeHeavy)).Inc()
		return nil, &Rejected{Scope: ScopeHeavy, RetryAfter: time.Second}
	}
	s.refs++
	g.mu.Unlock()

	release = func() {
		<-s.places
		l.heavyRunning.Dec()
		g.leave(gk, s)
	}
	select {
	case s.places <- struct{}{}:
		l.heavyRunning.Inc()
		return release, nil
	default:
	}
	l.waiting.Inc()
	defer l.waiting.Dec()
	select {
	case s.places <- struct{}{}:
		l.heavyRunning.Inc()
		return release, nil
	case <-ctx.Done():
		g.leave(gk, s)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			l.rejections.WithLabelValues(string(ScopeHeavy)).Inc()
			return nil, &Rejected{Scope: ScopeHeavy, RetryAfter: time.Second, cause: ctx.Err()}
		}
		return nil, ctx.Err()
	}
}

// leave drops one call from s, and s from the gate once no call of its
// tenant is running or waiting.
func (g *gate) leave(k gateKey, s *gateSlot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s.refs--
	if s.refs == 0 && g.slots[k] == s {
		delete(g.slots, k)
	}
}

// heavySlots is how many tenants have heavy calls in flight, for tests.
func (l *Limiter) heavySlots() int {
	l.heavy.mu.Lock()
	defer l.heavy.mu.Unlock()
	return len(l.heavy.slots)
}
