package webhook

import (
	"math/rand/v2"
	"time"
)

// Retry is the retry schedule of a failing subscription: exponential from
// Base, capped at Max, with jitter, for Window after the first failure;
// then the subscription is disabled.
type Retry struct {
	Base, Max, Window time.Duration
}

// DefaultRetry spreads about 30 attempts over 24 hours.
var DefaultRetry = Retry{Base: 10 * time.Second, Max: time.Hour, Window: 24 * time.Hour}

// Delay is the wait before attempt n+1 after n consecutive failures (n ≥ 1):
// Base·2^(n-1) capped at Max, of which a random half is dropped ("equal
// jitter"), so receivers coming back are not hit by every sender at once
// while the wait still grows.
func (r Retry) Delay(n int, rnd *rand.Rand) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rnd.Int64N(int64(half)+1))
}

// Asked is the wait before the next attempt when the receiver asked for
// wait (Retry-After on a 429 or 503): not less than Base, so a receiver
// never makes us retry faster than our own schedule, nor more than Max
// (below the events' retention), so it never pushes a delivery past the
// events it would send.
func (r Retry) Asked(wait time.Duration) time.Duration { return min(max(wait, r.Base), r.Max) }

// GiveUp reports whether a subscription failing since since must be
// disabled at now.
func (r Retry) GiveUp(since, now time.Time) bool { return now.Sub(since) >= r.Window }
