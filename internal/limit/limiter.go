// Package limit paces work with go.uber.org/ratelimit: inbound calls per
// key (tenant, app or client IP) behind a bounded queue that refuses at once
// when full, and outbound bulk work (indexing, reindex) through a Pacer.
package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"strings"
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
	// ScopeRefused keys a client address's calls that auth refused, at
	// the anonymous rate, apart from its anonymous calls (sign-ins, app
	// tokens), which a client's refusals must not starve.
	ScopeRefused Scope = "refused"
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
	// share is how many instances the tier is divided among (see
	// SetFleet); 0 or 1 is the whole tier.
	share int
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
	// perShard caps each shard's keys, so ratelimit.max_keys caps them all.
	perShard int

	start     time.Time
	seed      maphash.Seed
	shards    [shards]shard
	keys      atomic.Int64
	fleet     fleet
	nextSweep atomic.Int64 // limiter clock, nanoseconds
	sweeping  atomic.Bool

	// heavy bounds each tenant's heavy calls running at once (Enter).
	heavy *gate

	rejections   *prometheus.CounterVec
	waiting      prometheus.Gauge
	evictions    prometheus.Counter
	heavyRunning prometheus.Gauge
}

type shard struct {
	mu     sync.Mutex
	queues map[queueKey]*queue
}

// queueKey includes the resolved tier and fleet share, so a tenant that
// changes tier, or whose share changes with the fleet, gets a fresh queue
// at the new rate; the old one is evicted when idle.
type queueKey struct {
	scope    Scope
	id, tier string
	share    int
}

// New builds the limiter of cfg and registers its metrics on reg (nil: no
// metrics). With cfg.Enabled false it admits everything.
func New(cfg config.RateLimit, reg prometheus.Registerer) (*Limiter, error) {
	l := &Limiter{off: !cfg.Enabled, start: time.Now(), seed: maphash.MakeSeed(), idleEvict: cfg.IdleEvict.Duration, heavy: newGate(cfg)}
	l.PerInstance()
	if err := l.register(reg); err != nil {
		return nil, err
	}
	if l.off {
		return l, nil
	}
	l.tiers = make(map[string]rate, len(cfg.Tiers))
	for name, t := range cfg.Tiers {
		if t.RPS <= 0 || t.Burst <= 0 || t.HeavyCalls < 0 {
			return nil, fmt.Errorf("ratelimit.tiers.%s: rps and burst must be greater than 0, heavy_calls 0 (the default) or more", name)
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
	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = config.DefaultMaxKeys
	}
	l.perShard = max(1, (maxKeys+shards-1)/shards)
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
		if len(s.queues) >= l.perShard && !l.evictOne(s) {
			s.mu.Unlock()
			l.rejections.WithLabelValues(string(k.Scope)).Inc()
			return &Rejected{Scope: k.Scope, RetryAfter: time.Second}
		}
		q = r.queue(l.waiting)
		// The key's strings are copied, so a key never holds on to the
		// memory of a larger string (a header, a token) it was cut from.
		qk.id, qk.tier = strings.Clone(qk.id), strings.Clone(qk.tier)
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
	if k.Scope == ScopeIP || k.Scope == ScopeRefused {
		return queueKey{scope: k.Scope, id: ipID(k.ID)}, l.anon
	}
	qk, r := queueKey{scope: k.Scope, id: boundedID(k.ID)}, l.defaultTier
	if t, ok := l.tiers[k.Tier]; ok {
		qk.tier, r = k.Tier, t
	}
	qk.share = l.fleet.share()
	return qk, r.shared(qk.share)
}

// MaxIDBytes bounds a tenant or app key's ID; a longer one is replaced by
// its digest (see boundedID).
const MaxIDBytes = 64

// NoIP is the one key shared by every anonymous caller whose address is no
// IP (a unix socket peer, or a caller that passed something else).
const NoIP = "no-ip"

// ipID is the canonical form of an anonymous caller's address (at most 39
// bytes), or NoIP. Whatever the caller passes, it never becomes a key
// longer than an address. An ID already canonical costs no allocation.
func ipID(id string) string {
	if len(id) > 64 {
		return NoIP
	}
	a, err := netip.ParseAddr(id)
	if err != nil {
		return NoIP
	}
	a = a.Unmap().WithZone("")
	var buf [64]byte
	if string(a.AppendTo(buf[:0])) == id {
		return id
	}
	return a.String()
}

// boundedID keeps tenant and app IDs (ULIDs, UUIDs) as they are; an ID
// longer than MaxIDBytes, which no issued token carries, is keyed by its
// SHA-256 instead, so distinct IDs stay distinct and no key exceeds 71 bytes.
func boundedID(id string) string {
	if len(id) <= MaxIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// queue paces r: rps calls per second, or per share seconds for a share of
// a fleet. Slack lets a key that paused send a tenth of a second's worth of
// calls at once instead of strictly one per interval; under sustained load
// no slack builds up, so the admitted rate stays the configured one.
func (r rate) queue(waiting gauge) *queue {
	n := max(1, r.share)
	return newQueue(r.rps, time.Duration(n)*time.Second, r.burst, r.rps/10/n, waiting)
}

// Keys is the number of keys held now.
func (l *Limiter) Keys() int { return int(l.keys.Load()) }
