package limit

import (
	"container/list"
	"context"
	"sync"
	"time"

	"go.uber.org/ratelimit"
)

// queue admits the callers of one key at the pace of a ratelimit.Limiter.
//
// Take blocks and cannot be cancelled, so callers never call it themselves:
// they wait in a FIFO, and one pacer goroutine, alive only while the FIFO is
// not empty, takes each slot and hands it to whoever is first at that moment.
// A caller that gives up leaves the FIFO and so is never handed a slot; a
// slot handed to a caller that gave up at the same instant is passed on to
// the next one, or kept as a spare for the next arrival. Every slot Take
// issues is used exactly once. A caller that finds nobody waiting and the
// last slot a whole interval old takes its slot itself: Take returns at once
// then, so calls under their limit cost no goroutine.
type queue struct {
	rl       ratelimit.Limiter
	interval time.Duration
	// capacity bounds the FIFO; 0 means unbounded (the outbound Pacer).
	capacity int
	waiting  gauge

	mu      sync.Mutex
	waiters list.List // of *waiter
	pacing  bool
	// spare counts slots taken from rl with nobody left to use them. It is
	// only ever non-zero while the FIFO is empty.
	spare int
	// lastPermit is what the last Take returned: never earlier than the
	// slot it issued.
	lastPermit time.Time
	// lastUsed is the limiter clock of the last arrival, for eviction.
	lastUsed time.Duration
}

type waiter struct {
	ready    chan struct{}
	admitted bool // set, with ready closed, under queue.mu
}

// gauge is the part of a Prometheus gauge the queue moves.
type gauge interface {
	Inc()
	Dec()
}

type noGauge struct{}

func (noGauge) Inc() {}
func (noGauge) Dec() {}

// newQueue paces to rps calls per per (a second, or a fleet's share of
// one: 200 per 2 s is 100 a second) with up to slack slots accumulated
// while idle.
func newQueue(rps int, per time.Duration, capacity, slack int, waiting gauge) *queue {
	opt := ratelimit.WithoutSlack
	if slack > 0 {
		opt = ratelimit.WithSlack(slack)
	}
	if waiting == nil {
		waiting = noGauge{}
	}
	return &queue{
		rl:       ratelimit.New(rps, opt, ratelimit.Per(per)),
		interval: per / time.Duration(rps),
		capacity: capacity,
		waiting:  waiting,
	}
}

// wait admits one caller. It must be called with q.mu held and releases it.
// A full FIFO answers at once with a *Rejected error; a caller whose ctx
// ends while it waits gets ctx's error (a *Rejected one wrapping it for a
// deadline on a bounded FIFO, since the limit is what held it up).
func (q *queue) wait(ctx context.Context, now time.Duration) error {
	q.lastUsed = now
	if q.spare > 0 {
		q.spare--
		q.mu.Unlock()
		return nil
	}
	if !q.pacing && time.Since(q.lastPermit) >= q.interval {
		// No pacer means nobody waits; with the last slot a whole interval
		// old, Take cannot sleep.
		q.lastPermit = q.rl.Take()
		q.mu.Unlock()
		return nil
	}
	if q.capacity > 0 && q.waiters.Len() >= q.capacity {
		retry := q.drainTime()
		q.mu.Unlock()
		return &Rejected{RetryAfter: retry}
	}
	w := &waiter{ready: make(chan struct{})}
	e := q.waiters.PushBack(w)
	q.waiting.Inc()
	if !q.pacing {
		q.pacing = true
		go q.pace()
	}
	q.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if w.admitted {
		q.handOff()
	} else {
		q.waiters.Remove(e)
		q.waiting.Dec()
	}
	if ctx.Err() == context.DeadlineExceeded && q.capacity > 0 {
		return &Rejected{RetryAfter: q.drainTime(), cause: ctx.Err()}
	}
	return ctx.Err()
}

// drainTime estimates when a newcomer would be admitted: after everyone
// waiting now. Called with q.mu held.
func (q *queue) drainTime() time.Duration {
	return time.Duration(q.waiters.Len()+1) * q.interval
}

// pace runs while there are waiters, one Take per admission.
func (q *queue) pace() {
	for {
		permit := q.rl.Take()
		q.mu.Lock()
		q.lastPermit = permit
		q.handOff()
		done := q.waiters.Len() == 0
		if done {
			q.pacing = false
		}
		q.mu.Unlock()
		if done {
			return
		}
	}
}

// handOff gives one slot to the first waiter, or keeps it as a spare when
// nobody waits. Called with q.mu held.
func (q *queue) handOff() {
	front := q.waiters.Front()
	if front == nil {
		q.spare++
		return
	}
	w := q.waiters.Remove(front).(*waiter)
	q.waiting.Dec()
	w.admitted = true
	close(w.ready)
}

// idle reports whether the queue holds nothing worth keeping since before
// cutoff. Called with q.mu held.
func (q *queue) idle(cutoff time.Duration) bool {
	return q.waiters.Len() == 0 && !q.pacing && q.lastUsed < cutoff
}
