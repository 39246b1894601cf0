package limit

import "time"

// maybeSweep starts an eviction pass at most every idle_evict/2. The pass
// runs in a short-lived goroutine started by traffic, so a Limiter holds no
// goroutine of its own and needs no Close; keys idle while no traffic comes
// at all are dropped by the first call after.
func (l *Limiter) maybeSweep(now time.Duration) {
	if int64(now) < l.nextSweep.Load() || !l.sweeping.CompareAndSwap(false, true) {
		return
	}
	l.nextSweep.Store(int64(now + l.idleEvict/2))
	go func() {
		defer l.sweeping.Store(false)
		l.sweep(now)
	}()
}

// sweep drops the queues nobody used since idle_evict before now and that
// hold no waiter. One shard is locked at a time, so callers of other shards
// are not held up.
func (l *Limiter) sweep(now time.Duration) {
	cutoff := now - l.idleEvict
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		evicted := 0
		for k, q := range s.queues {
			q.mu.Lock()
			idle := q.idle(cutoff)
			q.mu.Unlock()
			if idle {
				delete(s.queues, k)
				evicted++
			}
		}
		if evicted > len(s.queues) {
			// A Go map never shrinks: copying the survivors lets the memory
			// of a burst of keys (a scan from many IPs) be collected.
			survivors := make(map[queueKey]*queue, len(s.queues))
			for k, q := range s.queues {
				survivors[k] = q
			}
			s.queues = survivors
		}
		s.mu.Unlock()
		l.keys.Add(int64(-evicted))
	}
}

// capSample is how many keys of a full shard are looked at to find one to
// evict for a newcomer.
const capSample = 8

// evictOne makes room in a shard that holds its share of
// ratelimit.max_keys: of a few keys sampled (Go's map iteration starts at a
// random place), the least recently used one that nobody waits on is
// dropped; that key starts afresh if it comes back. It reports false when
// every key sampled has callers waiting, and the newcomer is refused then.
// Called with s.mu held.
func (l *Limiter) evictOne(s *shard) bool {
	var victim queueKey
	var oldest time.Duration
	found, seen := false, 0
	for k, q := range s.queues {
		q.mu.Lock()
		busy, used := q.waiters.Len() > 0 || q.pacing, q.lastUsed
		q.mu.Unlock()
		if !busy && (!found || used < oldest) {
			victim, oldest, found = k, used, true
		}
		if seen++; seen == capSample {
			break
		}
	}
	if !found {
		return false
	}
	delete(s.queues, victim)
	l.keys.Add(-1)
	l.evictions.Inc()
	return true
}
