package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
)

// ThrottleRepo counts sign-in attempts per bucket in a window, shared by
// every instance.
type ThrottleRepo interface {
	// Hit counts one attempt, starting a new window at now when the current
	// one began at or before expired; it returns the window's attempts and
	// when it began.
	Hit(ctx context.Context, bucket, kind string, now, expired time.Time) (attempts int, windowStart time.Time, err error)
	// Refund takes one attempt back.
	Refund(ctx context.Context, bucket string) error
	// Reset forgets the bucket.
	Reset(ctx context.Context, bucket string) error
	// Trim deletes up to limit buckets whose window began before before.
	Trim(ctx context.Context, before time.Time, limit int) (int64, error)
}

// ThrottlePolicy is the sign-in budget. Each attempt is counted, before
// the password is checked, against the client address and then the
// account (for an app: its app key); an attempt over either budget is
// answered RATE_LIMITED without a password check. A success resets the
// account and takes its attempt back from the address, so only failures
// spend budgets; an attempt the account refuses does not spend the
// address's either. Failed answers slow down as an account or address
// nears its budget.
type ThrottlePolicy struct {
	Window time.Duration
	// PerAccount is the attempts of one account (or app key) per window.
	PerAccount int
	// PerAddress is the attempts from one client address per window,
	// whatever the accounts.
	PerAddress int
	// SlowBase is the delay of the second failure in a row; each further
	// one doubles it, up to SlowMax.
	SlowBase, SlowMax time.Duration
}

// DefaultThrottle is 5 failures per account and 100 per client address in
// 15 minutes, failed answers delayed from 250 ms to 2 s.
var DefaultThrottle = ThrottlePolicy{
	Window: 15 * time.Minute, PerAccount: 5, PerAddress: 100,
	SlowBase: 250 * time.Millisecond, SlowMax: 2 * time.Second,
}

// Throttle kinds: what a bucket counts.
const (
	kindAccount = "account"
	kindApp     = "app"
	kindAddress = "address"
)

// trimEvery paces the deletion of past windows per instance; each trim
// deletes at most trimBatches batches of trimBatch rows.
const (
	trimEvery   = time.Minute
	trimBatch   = 1000
	trimBatches = 10
)

// throttle applies a ThrottlePolicy to sign-ins.
type throttle struct {
	repo     ThrottleRepo
	policy   ThrottlePolicy
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	lastTrim atomic.Int64 // unix nanoseconds
}

// admission is one attempt let through, to be settled by its outcome.
type admission struct {
	t                *throttle
	account, address string // buckets; address empty when unknown
	level            int    // how close the attempt is to a budget, in account attempts
}

// bucket hashes a kind and a key: every key has one bounded size and no
// account is stored in clear.
func bucket(kind, key string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// admit counts the attempt against the address and the account, and
// refuses it when either is over its budget.
func (t *throttle) admit(ctx context.Context, kind, key, address string) (*admission, error) {
	now := t.now()
	expired := now.Add(-t.policy.Window)
	t.trim(ctx, now)
	ad := &admission{t: t, account: bucket(kind, key)}
	if address != "" {
		ad.address = bucket(kindAddress, address)
		n, since, err := t.repo.Hit(ctx, ad.address, kindAddress, now, expired)
		if err != nil {
			return nil, err
		}
		if n > t.policy.PerAddress {
			return nil, t.refusal(since, now)
		}
		ad.level = int(math.Ceil(float64(n) * float64(t.policy.PerAccount) / float64(t.policy.PerAddress)))
	}
	n, since, err := t.repo.Hit(ctx, ad.account, kind, now, expired)
	if err != nil {
		return nil, err
	}
	if n > t.policy.PerAccount {
		if ad.address != "" {
			// The account refused it: the address spent nothing.
			if err := t.repo.Refund(ctx, ad.address); err != nil {
				return nil, err
			}
		}
		return nil, t.refusal(since, now)
	}
	ad.level = max(ad.level, n)
	return ad, nil
}

// refusal is the answer over a budget, with the seconds until its window ends.
func (t *throttle) refusal(since, now time.Time) error {
	// The store keeps milliseconds and instances' clocks differ a little:
	// the wait is at most the window.
	wait := min(since.Add(t.policy.Window).Sub(now), t.policy.Window)
	secs := strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
	return errs.Of(errs.ReasonRateLimited, "too many sign-in attempts; retry after %s s", secs).
		With("retry_after_seconds", secs)
}

// succeeded resets the account and takes the attempt back from the address.
func (ad *admission) succeeded(ctx context.Context) error {
	if ad == nil {
		return nil
	}
	if err := ad.t.repo.Reset(ctx, ad.account); err != nil {
		return err
	}
	if ad.address != "" {
		return ad.t.repo.Refund(ctx, ad.address)
	}
	return nil
}

// failed delays the failed answer answer as the attempts near a budget, and
// returns it.
func (ad *admission) failed(ctx context.Context, answer error) error {
	if ad == nil {
		return answer
	}
	p := ad.t.policy
	if ad.level < 2 || p.SlowBase <= 0 {
		return answer
	}
	d := p.SlowBase << min(ad.level-2, 16)
	if d > p.SlowMax || d <= 0 {
		d = p.SlowMax
	}
	if err := ad.t.sleep(ctx, d); err != nil {
		return errs.From(err)
	}
	return answer
}

// trim deletes past windows, at most once per trimEvery in this instance.
// It is best effort: a failure is retried at the next trim.
func (t *throttle) trim(ctx context.Context, now time.Time) {
	last := t.lastTrim.Load()
	if now.UnixNano()-last < int64(trimEvery) || !t.lastTrim.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	before := now.Add(-t.policy.Window)
	for range trimBatches {
		n, err := t.repo.Trim(ctx, before, trimBatch)
		if err != nil || n < trimBatch {
			return
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
