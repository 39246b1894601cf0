package breaker

import (
	"github.com/cenk/backoff"
	circuit "github.com/rubyist/circuitbreaker"
)

// engine is the counting and tripping underneath a Breaker. This file is
// the only one that knows rubyist/circuitbreaker (unmaintained): replacing
// it means rewriting newEngine and nothing else.
type engine interface {
	// tripped reports the circuit open, cooled down or not.
	tripped() bool
	// cooled reports a tripped circuit whose cooldown has passed.
	cooled() bool
	success()
	fail()
	reset()
}

// newEngine trips on consecutive failures (when > 0) or on the failure
// rate over window once it holds minSamples calls, and stays open for
// cooldown after the last failure.
func newEngine(s Settings) engine {
	return rubyist{circuit.NewBreakerWithOptions(&circuit.Options{
		// A constant backoff is the configured cooldown; the library's
		// default grows it exponentially.
		BackOff:    backoff.NewConstantBackOff(s.Cooldown),
		ShouldTrip: tripFunc(s),
		WindowTime: s.Window,
	})}
}

func tripFunc(s Settings) circuit.TripFunc {
	return func(cb *circuit.Breaker) bool {
		if s.ConsecutiveFailures > 0 && cb.ConsecFailures() >= s.ConsecutiveFailures {
			return true
		}
		samples := cb.Failures() + cb.Successes()
		return samples >= s.MinSamples && cb.ErrorRate() >= s.FailureRate
	}
}

// rubyist adapts *circuit.Breaker. Its Call and CallContext are never
// used: on timeout they abandon the goroutine still running the call.
type rubyist struct{ cb *circuit.Breaker }

func (r rubyist) tripped() bool { return r.cb.Tripped() }

// cooled relies on Ready answering true for every call once the constant
// cooldown has passed; Breaker lets only one of them through as the probe.
func (r rubyist) cooled() bool { return r.cb.Tripped() && r.cb.Ready() }
func (r rubyist) success()     { r.cb.Success() }
func (r rubyist) fail()        { r.cb.Fail() }
func (r rubyist) reset()       { r.cb.Reset() }
