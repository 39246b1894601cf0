// Package limit paces work with go.uber.org/ratelimit: inbound calls per
// key (tenant, app or client IP) behind a bounded queue that refuses at once
// when full, and outbound bulk work (indexing, reindex) through a Pacer.
package limit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/megaview/mgvcore/internal/config"
)

// Scope says what a key stands for; it labels the rejection metric.
type Scope string

// Scopes of a Key.
const (
	ScopeTenant Scope = "tenant"
	ScopeApp    Scope = "app"
	ScopeIP     Scope = "ip"
)

// Key names whose budget a call spends.
type Key struct {
	Scope Scope
	ID    string
	// Tier names a [ratelimit.tiers] entry; empty or unknown means
	// ratelimit.default_tier. ScopeIP keys are anonymous and always use
	// anon_rps / anon_burst.
	Tier string
}

// Rejected is the answer for a call over its key's limit.
type Rejected struct {
	Scope Scope
	// RetryAfter estimates when the queue ahead will have drained.
	RetryAfter time.Duration
	cause      error
}

func (r *Rejected) Error() string {
	return fmt.Sprintf("rate limit of %s exceeded, retry after %s", r.Scope, r.RetryAfter)
}

// Unwrap is context.DeadlineExceeded when the call ran out of time while
// it waited, nil when it was refused at once.
func (r *Rejected) Unwrap() error { return r.cause }

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1,
// as the Retry-After header wants it.
func (r *Rejected) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(r.RetryAfter.Seconds())))
}

// rate is one tier: the pace and how many calls may wait for it.
type rate struct {
	rps, burst int
}

// shards spread the key map over several locks so keys do not contend.
const shards = 32

// Limiter admits inbound calls per key. Each key has its own pacer and
// bounded queue, so one key's excess never delays another key. Idle keys
// are evicted after ratelimit.idle_evict.
type Limiter struct {
	off         bool
	tiers       map[string]rate
	defaultTier rate
	anon        rate
	idleEvict   time.Duration

	start     time.Time
	seed      maphash.Seed
	shards    [shards]shard
	keys      atomic.Int64
	nextSweep atomic.Int64 // limiter clock, nanoseconds
	sweeping  atomic.Bool

	rejections *prometheus.CounterVec
	waiting    prometheus.Gauge
}

type shard struct {
	mu     sync.Mutex
	queues map[queueKey]*queue
}

// queueKey includes the resolved tier, so a tenant that changes tier gets
// a fresh queue at the new rate; the old one is evicted when idle.
type queueKey struct {
	scope    Scope
	id, tier string
}

// New builds the limiter of cfg and registers its metrics on reg (nil: no
// metrics). With cfg.Enabled false it admits everything.
func New(cfg config.RateLimit, reg prometheus.Registerer) (*Limiter, error) {
	l := &Limiter{off: !cfg.Enabled, start: time.Now(), seed: maphash.MakeSeed(), idleEvict: cfg.IdleEvict.Duration}
	if err := l.register(reg); err != nil {
		return nil, err
	}
	if l.off {
		return l, nil
	}
	l.tiers = make(map[string]rate, len(cfg.Tiers))
	for name, t := range cfg.Tiers {
		if t.RPS <= 0 || t.Burst <= 0 {
			return nil, fmt.Errorf("ratelimit.tiers.%s: rps and burst must be greater than 0", name)
		}
		l.tiers[name] = rate{rps: t.RPS, burst: t.Burst}
	}
	def, ok := l.tiers[cfg.DefaultTier]
	if !ok {
		return nil, fmt.Errorf("ratelimit.default_tier: names no tier (got %q)", cfg.DefaultTier)
	}
	l.defaultTier = def
	if cfg.AnonRPS <= 0 || cfg.AnonBurst <= 0 {
		return nil, fmt.Errorf("ratelimit.anon_rps and anon_burst must be greater than 0")
	}
	l.anon = rate{rps: cfg.AnonRPS, burst: cfg.AnonBurst}
	if l.idleEvict <= 0 {
		return nil, fmt.Errorf("ratelimit.idle_evict must be a positive duration")
	}
	for i := range l.shards {
		l.shards[i].queues = make(map[queueKey]*queue)
	}
	return l, nil
}

// Wait admits one call for k: at once when k's pace allows, after a wait
// while k's queue has room, else never — a full queue answers at once with
// a *Rejected error. It returns ctx's error when ctx ends first; the place
// the call held in the queue goes to the next caller.
func (l *Limiter) Wait(ctx context.Context, k Key) error {
	if l.off {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Since(l.start)
	l.maybeSweep(now)

	qk, r := l.resolve(k)
	s := &l.shards[maphash.String(l.seed, qk.id)%shards]
	s.mu.Lock()
	q := s.queues[qk]
	if q == nil {
		q = newQueue(r.rps, r.burst, slack(r.rps), l.waiting)
		s.queues[qk] = q
		l.keys.Add(1)
	}
	// Lock the queue before letting go of the shard, so a sweep cannot
	// evict it between the lookup and the arrival.
	q.mu.Lock()
	s.mu.Unlock()

	err := q.wait(ctx, now)
	if rej, ok := err.(*Rejected); ok {
		rej.Scope = k.Scope
		l.rejections.WithLabelValues(string(k.Scope)).Inc()
	}
	return err
}

func (l *Limiter) resolve(k Key) (queueKey, rate) {
	if k.Scope == ScopeIP {
		return queueKey{scope: k.Scope, id: k.ID}, l.anon
	}
	if r, ok := l.tiers[k.Tier]; ok {
		return queueKey{scope: k.Scope, id: k.ID, tier: k.Tier}, r
	}
	return queueKey{scope: k.Scope, id: k.ID}, l.defaultTier
}

// slack lets a key that paused send a tenth of a second's worth of calls
// at once instead of strictly one per interval; under sustained load no
// slack builds up, so the admitted rate stays the configured one.
func slack(rps int) int { return rps / 10 }

// Keys is the number of keys held now.
func (l *Limiter) Keys() int { return int(l.keys.Load()) }
