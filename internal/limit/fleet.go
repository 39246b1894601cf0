package limit

import "sync/atomic"

// fleet is how many instances share each tenant and app tier. Until it is
// told, and whenever the fleet is unknown, an instance takes the whole tier.
type fleet struct {
	n       atomic.Int64
	unknown atomic.Bool
}

func (f *fleet) share() int { return max(1, int(f.n.Load())) }

// SetFleet divides each tenant and app tier among n instances (fewer than
// 1 counts as 1): every instance admits rps/n and queues burst/n (at least
// 1), so the fleet as a whole admits the tier, and a call waits no longer
// than it would on one instance. Anonymous (client IP) limits stay per
// instance. A key's calls already waiting finish at the pace they queued
// for; new calls queue at the new share.
func (l *Limiter) SetFleet(n int) {
	l.fleet.n.Store(int64(max(1, n)))
	l.fleet.unknown.Store(false)
}

// PerInstance gives this instance each tier whole, for when the fleet
// cannot be known (no registry, or it does not answer): a tenant then gets
// its tier on every instance.
func (l *Limiter) PerInstance() {
	l.fleet.n.Store(1)
	l.fleet.unknown.Store(true)
}

// Share is the number of instances each tier is divided among now, and
// whether that number is known rather than assumed.
func (l *Limiter) Share() (n int, known bool) {
	return l.fleet.share(), !l.fleet.unknown.Load()
}

// shared is r divided among n instances: the same calls over n seconds
// instead of one.
func (r rate) shared(n int) rate {
	if n <= 1 {
		return r
	}
	r.share = n
	r.burst = max(1, (r.burst+n-1)/n)
	return r
}
