// Package breaker holds the circuit breakers: one per dependency (mysql,
// elasticsearch, any outbound HTTP host) and one per inbound operation,
// created lazily by name from a Registry.
//
// Only real failures count (see Classify). Calls are bracketed by Allow and
// Ticket.Done, never run by the breaker on a goroutine of its own: deadlines
// travel on the context, so no call is ever abandoned while still running.
// An open breaker answers at once with errs.Unavailable(name): 503
// DEPENDENCY_UNAVAILABLE over HTTP, Unavailable over gRPC.
package breaker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
)

// Dependency breaker names.
const (
	MySQL         = "mysql"
	Elasticsearch = "elasticsearch"
)

// State is a breaker's position; its value is what the mgv_breaker_state
// gauge shows.
type State int32

// States.
const (
	Closed   State = 0 // calls go through
	HalfOpen State = 1 // the cooldown is over and a probe call is in flight
	Open     State = 2 // calls are refused at once; after the cooldown the next one probes
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return "unknown"
}

// Settings tune a breaker.
type Settings struct {
	// FailureRate trips the breaker once MinSamples calls in Window have
	// this share of failures or more.
	FailureRate float64
	MinSamples  int64
	// ConsecutiveFailures trips it on that many failures in a row; 0 off.
	ConsecutiveFailures int64
	Window              time.Duration
	// Cooldown is how long it stays open before letting a probe through.
	Cooldown time.Duration
}

// Breaker guards one dependency or operation. A nil or disabled Breaker
// lets everything through.
type Breaker struct {
	name     string
	eng      engine // nil when breakers are disabled
	cooldown time.Duration
	refusal  *errs.Error
	changed  func(name string, from, to State)

	// probe is when the half-open probe in flight started (Unix ns), 0
	// when there is none.
	probe atomic.Int64
	state atomic.Int32
	// mu orders transitions, so log lines and metrics follow the changes.
	mu sync.Mutex
}

func newBreaker(name string, s Settings, enabled bool, changed func(string, State, State)) *Breaker {
	b := &Breaker{name: name, cooldown: s.Cooldown, refusal: errs.Unavailable(name), changed: changed}
	if enabled {
		b.eng = newEngine(s)
	}
	return b
}

// Name is the dependency or operation the breaker guards.
func (b *Breaker) Name() string { return b.name }

// State is the breaker's position now.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	return State(b.state.Load())
}

// Ticket is one call let through by Allow; report its end exactly once
// with Done or Record.
type Ticket struct {
	b *Breaker
	// probe is the probe stamp when this call is the half-open probe.
	probe int64
}

// Allow lets a call through, or refuses it at once with
// errs.Unavailable(name) while the breaker is open. After the cooldown one
// call at a time goes through as the probe; its outcome closes the breaker
// or opens it for another cooldown.
func (b *Breaker) Allow() (Ticket, error) {
	if b == nil || b.eng == nil {
		return Ticket{b: b}, nil
	}
	if !b.eng.tripped() {
		b.settle()
		return Ticket{b: b}, nil
	}
	if !b.eng.cooled() {
		return Ticket{}, b.refusal
	}
	stamp := time.Now().UnixNano()
	cur := b.probe.Load()
	// A probe that has not reported within a cooldown is presumed lost
	// (its caller never called Done) and replaced, so the breaker cannot
	// stay half-open for ever.
	if cur != 0 && stamp-cur < int64(b.cooldown) || !b.probe.CompareAndSwap(cur, stamp) {
		return Ticket{}, b.refusal
	}
	b.sync()
	return Ticket{b: b, probe: stamp}, nil
}

// Done reports the call's end, classified by Classify.
func (t Ticket) Done(ctx context.Context, err error) { t.Record(Classify(ctx, err)) }

// Record reports the call's end as already classified.
func (t Ticket) Record(o Outcome) {
	b := t.b
	if b == nil || b.eng == nil {
		return
	}
	if t.probe != 0 {
		b.endProbe(t.probe, o)
		return
	}
	if b.eng.tripped() {
		// Opened while this call ran: only the probe decides now.
		return
	}
	switch o {
	case Success:
		b.eng.success()
	case Failure:
		b.eng.fail()
	}
	b.settle()
}

func (b *Breaker) endProbe(stamp int64, o Outcome) {
	switch o {
	case Success:
		b.eng.reset()
	case Failure:
		// Fail restarts the cooldown from now.
		b.eng.fail()
	}
	// An ignored probe (canceled, say) only frees the place: the next call
	// probes.
	b.probe.CompareAndSwap(stamp, 0)
	b.sync()
}

// Do runs fn when the breaker allows it and records how it ended. A panic
// in fn counts as a failure and goes on up.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	t, err := b.Allow()
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			t.Record(Failure)
		}
	}()
	err = fn(ctx)
	finished = true
	t.Done(ctx, err)
	return err
}

// settle syncs the state when it disagrees with the engine: cheap enough
// for every call, as it only reads two atomics when nothing changed.
func (b *Breaker) settle() {
	if b.eng.tripped() != (State(b.state.Load()) != Closed) {
		b.sync()
	}
}

// sync derives the state from the engine and the probe, never from what a
// caller believes, so racing transitions cannot leave it stale.
func (b *Breaker) sync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	to := Open
	switch {
	case !b.eng.tripped():
		to = Closed
	case b.probe.Load() != 0:
		to = HalfOpen
	}
	from := State(b.state.Load())
	if from == to {
		return
	}
	b.state.Store(int32(to))
	if b.changed != nil {
		b.changed(b.name, from, to)
	}
}
