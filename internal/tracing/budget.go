package tracing

import (
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/megaview/mgvcore/internal/clientip"
)

// ClientAddress is what StartServer's headers may also tell: the address
// of the caller (the trusted one, after http.trusted_proxies), so that the
// traces callers sample are shared out per client.
type ClientAddress interface {
	ClientAddress() string
}

// callerBudget bounds the traces that callers have sampled here: in all
// (total), and per client address (perClient), so that one client flagging
// every request cannot use up what the others are allowed.
type callerBudget struct {
	total *rate.Limiter
	// perClient is nil when clients share the total freely.
	perClient *clientBuckets
}

// newCallerBudget allows rps caller-sampled traces per second in all, in
// bursts of up to a second's worth (at least one), and perClientRPS to any
// one client address; 0 allows none in all, and no per-client bound.
func newCallerBudget(rps, perClientRPS float64) *callerBudget {
	b := &callerBudget{total: rate.NewLimiter(0, 0)}
	if rps > 0 {
		b.total = rate.NewLimiter(rate.Limit(rps), max(int(math.Ceil(rps)), 1))
	}
	if perClientRPS > 0 {
		b.perClient = newClientBuckets(perClientRPS, clientBucketCount)
	}
	return b
}

// Allow takes one trace from the client's share, then from the total. A
// client past its share does not draw on the total.
func (b *callerBudget) Allow(client string) bool {
	if b.perClient != nil && !b.perClient.allow(client, time.Now()) {
		return false
	}
	return b.total.Allow()
}

// clientBucketCount is how many token buckets the client addresses are
// hashed into: a fixed 32 KiB whatever the number of clients. Two clients
// that share a bucket share its allowance, which only ever bounds them
// more.
const clientBucketCount = 4096

// clientBuckets is a fixed array of lock-free token buckets, each kept as
// its theoretical arrival time (GCRA): a call is allowed while that time is
// no more than burst intervals ahead of now, and moves it one interval on.
type clientBuckets struct {
	seed     maphash.Seed
	interval int64 // nanoseconds per allowed trace
	slack    int64 // burst-1 intervals: how far ahead the arrival time may run
	epoch    time.Time
	tat      []atomic.Int64 // nanoseconds since epoch
}

func newClientBuckets(rps float64, n int) *clientBuckets {
	interval := int64(float64(time.Second) / rps)
	burst := max(int64(math.Ceil(rps)), 1)
	return &clientBuckets{
		seed:     maphash.MakeSeed(),
		interval: max(interval, 1),
		slack:    (burst - 1) * max(interval, 1),
		epoch:    time.Now(),
		tat:      make([]atomic.Int64, n),
	}
}

// index is the bucket of a client address.
func (c *clientBuckets) index(client string) uint64 {
	return maphash.String(c.seed, clientip.Key(client)) % uint64(len(c.tat))
}

func (c *clientBuckets) allow(client string, now time.Time) bool {
	b := &c.tat[c.index(client)]
	t := int64(now.Sub(c.epoch))
	for {
		tat := b.Load()
		next := max(tat, t)
		if next-t > c.slack {
			return false
		}
		if b.CompareAndSwap(tat, next+c.interval) {
			return true
		}
	}
}
