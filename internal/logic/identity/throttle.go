package identity

import (
	"context"
	"crypto/hmac"
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
	// Seen reports whether bucket's window began at or after since.
	Seen(ctx context.Context, bucket string, since time.Time) (bool, error)
	// Trim deletes up to limit buckets whose window began before before,
	// except those of kind keep, which go once theirs began before
	// keepBefore.
	Trim(ctx context.Context, before time.Time, keep string, keepBefore time.Time, limit int) (int64, error)
}

// ThrottlePolicy is the sign-in budget. Each attempt is counted, before
// the password is checked, against the client address, the account (for
// an app: its app key) from that client, and the account from every
// client together; an attempt over any of these budgets is answered
// RATE_LIMITED without a password check. A sign-in is also counted
// against its user's own budgets of the same sizes (admission.share):
// past those it cannot succeed, and is answered as a wrong password. A
// success resets the account's budget from its client and takes its
// attempt back from the others, so only failures spend budgets; an
// attempt a budget refuses spends none of the others.
// Failed answers slow down as an account or address nears its budget.
//
// The account's budget is per client so that nobody can lock an account
// out: a few wrong passwords sent from anywhere once used to refuse its
// owner too, for as long as someone kept sending them. Guesses spread
// over many clients meet the account's total budget; and a client that
// signed in to the account within KnownFor is exempt from that total, so
// its owner, where they signed in before, still gets in.
type ThrottlePolicy struct {
	Window time.Duration
	// PerAccount is the attempts of one account (or app key) from one
	// client per window.
	PerAccount int
	// PerAccountTotal is the attempts of one account from every client
	// not known to it, together, per window.
	PerAccountTotal int
	// KnownFor is how long a client that signed in to an account stays
	// exempt from the account's total budget.
	KnownFor time.Duration
	// PerAddress is the attempts from one client address per window,
	// whatever the accounts.
	PerAddress int
	// SlowBase is the delay of the second failure in a row; each further
	// one doubles it, up to SlowMax.
	SlowBase, SlowMax time.Duration
}

// DefaultThrottle is, in 15 minutes, 5 failures per account from one
// client, 50 per account from all clients it does not know, and 100 per
// client address; a client stays known to an account for 30 days after
// it signed in; failed answers are delayed from 250 ms to 2 s.
var DefaultThrottle = ThrottlePolicy{
	Window: 15 * time.Minute, PerAccount: 5, PerAccountTotal: 50, KnownFor: 30 * 24 * time.Hour, PerAddress: 100,
	SlowBase: 250 * time.Millisecond, SlowMax: 2 * time.Second,
}

// Throttle kinds: what a bucket counts.
const (
	kindAccount = "account"
	kindApp     = "app"
	kindAddress = "address"
	// kindKnown marks a client that signed in to an account.
	kindKnown = "known"
	// fromClient suffixes the kind of an account's budget from one client.
	fromClient = "@client"
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
	repo   ThrottleRepo
	policy ThrottlePolicy
	// key keys the buckets' hashes (newThrottleKey).
	key      []byte
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	lastTrim atomic.Int64 // unix nanoseconds
}

// admission is one attempt let through, to be settled by its outcome.
type admission struct {
	t *throttle
	// Buckets: the account from this client, the account from every
	// client (empty when this client is known to it), the client, and the
	// client's mark as known to the account (both empty when the client
	// is unknown).
	pair, total, address, known string
	level                       int // how close the attempt is to a budget, in account attempts
	// The user's own budgets (see share), from this client and from every
	// client, and whether the attempt is over one of them.
	userPair, userTotal string
	overUser            bool
}

// newThrottleKey derives the key of the buckets' hashes from secret
// (config's SigninThrottleKey) under its own label, as the audit seal's
// key is derived, so that no key serves two purposes as it is.
func newThrottleKey(secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("mgv-signin-throttle-key-v1"))
	return mac.Sum(nil)
}

// bucket hashes a kind and a key: every key has one bounded size and no
// account is stored in clear. The hash is an HMAC under the throttle's
// key: a plain hash of an email, a phone or an address could be computed
// by anyone who reads the table, and so tell whether an email (an erased
// person's, say) tried to sign in lately. Every instance derives the same
// key from the fleet's secret and so counts an account in one bucket.
// Rows hashed before the key, or under another secret, match no bucket
// any more: they are trimmed with their window (a client marked known
// before is still read by knownBeforeKeys while its mark lasts). An
// erasure leaves a person's rows: keyed, they tell nothing to whoever
// lacks the key, most are keyed by the client's address too, which it
// does not know, and they go with their window (a known client's mark,
// which holds the user's id rather than what was typed, after KnownFor).
func (t *throttle) bucket(kind, key string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(kind + "\x00" + key))
	return hex.EncodeToString(mac.Sum(nil))
}

// knownBeforeKeys reports whether the client at address was marked known
// to owner by a version that hashed the buckets with plain SHA-256, within
// KnownFor. Those marks match no keyed bucket, so without this a client
// known before the upgrade would, while an attack holds the account over
// its total budget, be refused until the window passed: the owner locked
// out by the upgrade. It is read only for an attempt that the account's
// total would refuse (one indexed read more for those, nothing for any
// other), and no mark is written this way: the next sign-in marks the
// client under the key. Remove it KnownFor (30 days) after every fleet has
// run the keyed buckets.
func (t *throttle) knownBeforeKeys(ctx context.Context, kind, owner, address string, now time.Time) (bool, error) {
	if address == "" || t.policy.KnownFor <= 0 {
		return false, nil
	}
	sum := sha256.Sum256([]byte(kindKnown + "\x00" + kind + "\x00" + owner + "\x00" + address))
	return t.repo.Seen(ctx, hex.EncodeToString(sum[:]), now.Add(-t.policy.KnownFor))
}

// admit counts the attempt against the address, the account (key) from
// this client and, unless the client is known to owner (the account's
// user, or key itself), the account from every client, and refuses it
// when any is over its budget.
func (t *throttle) admit(ctx context.Context, kind, key, owner, address string) (*admission, error) {
	now := t.now()
	expired := now.Add(-t.policy.Window)
	t.trim(ctx, now)
	ad := &admission{t: t, pair: t.bucket(kind+fromClient, key+"\x00"+address)}
	// refused takes the attempt back from the budgets that let it through.
	refused := func(since time.Time, counted ...string) (*admission, error) {
		if err := t.refund(ctx, counted...); err != nil {
			return nil, err
		}
		return nil, t.refusal(since, now)
	}
	if address != "" {
		ad.address = t.bucket(kindAddress, address)
		ad.known = t.bucket(kindKnown, kind+"\x00"+owner+"\x00"+address)
		n, since, err := t.repo.Hit(ctx, ad.address, kindAddress, now, expired)
		if err != nil {
			return nil, err
		}
		if n > t.policy.PerAddress {
			return nil, t.refusal(since, now)
		}
		ad.level = t.level(n, t.policy.PerAddress)
	}
	n, since, err := t.repo.Hit(ctx, ad.pair, kind+fromClient, now, expired)
	if err != nil {
		return nil, err
	}
	if n > t.policy.PerAccount {
		return refused(since, ad.address)
	}
	ad.level = max(ad.level, n)
	known := false
	if ad.known != "" && t.policy.KnownFor > 0 {
		if known, err = t.repo.Seen(ctx, ad.known, now.Add(-t.policy.KnownFor)); err != nil {
			return nil, err
		}
	}
	if !known && t.policy.PerAccountTotal > 0 {
		ad.total = t.bucket(kind, key)
		m, since, err := t.repo.Hit(ctx, ad.total, kind, now, expired)
		if err != nil {
			return nil, err
		}
		if m > t.policy.PerAccountTotal {
			if ok, err := t.knownBeforeKeys(ctx, kind, owner, address, now); err != nil || ok {
				if err == nil {
					err = t.refund(ctx, ad.total)
				}
				ad.total = ""
				return ad, err
			}
			return refused(since, ad.address, ad.pair)
		}
		ad.level = max(ad.level, t.level(m, t.policy.PerAccountTotal))
	}
	return ad, nil
}

// share counts the attempt, once admit has let it through, against the
// budgets of the user the account belongs to (userKey), shared by every
// identifier they sign in with, from this client and (unless the client
// is known) from every client. Admit's budgets are per identifier typed,
// so that no refusal depends on whether the account exists, or on which
// identifiers belong to one account; these bound the guesses at one
// user's password whichever way in they take. Over one of them, refuse
// says whether to answer RATE_LIMITED (a signed-in user changing their
// password, who learns nothing from it); otherwise the attempt goes on
// but cannot succeed (OverUser), answered as a wrong password is, so a
// sign-in tells an unknown account and a known one apart no more than
// before.
func (ad *admission) share(ctx context.Context, userKey string, refuse bool) error {
	if ad == nil {
		return nil
	}
	t := ad.t
	now := t.now()
	expired := now.Add(-t.policy.Window)
	if ad.address != "" {
		ad.userPair = t.bucket(kindAccount+fromClient, userKey+"\x00"+ad.address)
	} else {
		ad.userPair = t.bucket(kindAccount+fromClient, userKey)
	}
	n, since, err := t.repo.Hit(ctx, ad.userPair, kindAccount+fromClient, now, expired)
	if err != nil {
		return err
	}
	over, overSince := n > t.policy.PerAccount, since
	if ad.total != "" && t.policy.PerAccountTotal > 0 {
		ad.userTotal = t.bucket(kindAccount, userKey)
		m, since, err := t.repo.Hit(ctx, ad.userTotal, kindAccount, now, expired)
		if err != nil {
			return err
		}
		if m > t.policy.PerAccountTotal && !over {
			over, overSince = true, since
		}
	}
	if !over {
		return nil
	}
	if refuse {
		if err := t.refund(ctx, ad.address, ad.pair, ad.total, ad.userPair, ad.userTotal); err != nil {
			return err
		}
		return t.refusal(overSince, now)
	}
	ad.overUser = true
	return nil
}

// OverUser reports whether the attempt is over its user's budgets (share):
// it must fail whatever the password.
func (ad *admission) OverUser() bool { return ad != nil && ad.overUser }

// level is n attempts of a budget of size as many attempts of one
// account's budget from one client, rounded up.
func (t *throttle) level(n, size int) int {
	return int(math.Ceil(float64(n) * float64(t.policy.PerAccount) / float64(size)))
}

// refund takes one attempt back from each of buckets; empty ones are
// skipped.
func (t *throttle) refund(ctx context.Context, buckets ...string) error {
	for _, b := range buckets {
		if b == "" {
			continue
		}
		if err := t.repo.Refund(ctx, b); err != nil {
			return err
		}
	}
	return nil
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

// succeeded resets the account's budget, and its user's, from this
// client, takes the attempt back from the others, and marks the client
// known to the account. The account's total is not reset: guesses spread
// over other clients stay counted.
func (ad *admission) succeeded(ctx context.Context) error {
	if ad == nil {
		return nil
	}
	t := ad.t
	for _, b := range []string{ad.pair, ad.userPair} {
		if b == "" {
			continue
		}
		if err := t.repo.Reset(ctx, b); err != nil {
			return err
		}
	}
	if err := t.refund(ctx, ad.total, ad.userTotal, ad.address); err != nil {
		return err
	}
	if ad.known == "" {
		return nil
	}
	// A window that begins now: the client is known from now on.
	now := t.now()
	_, _, err := t.repo.Hit(ctx, ad.known, kindKnown, now, now)
	return err
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
		n, err := t.repo.Trim(ctx, before, kindKnown, now.Add(-t.policy.KnownFor), trimBatch)
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
