package identity

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Reasons a token version is raised.
const (
	RevokedDisabled   = "disabled"
	RevokedRole       = "role"
	RevokedDepartment = "department"
	RevokedPassword   = "password"
	RevokedLogout     = "logout"
	// RevokedRefreshReuse: a spent refresh token of the user was presented
	// again, so a pair refreshed from it may be in other hands.
	RevokedRefreshReuse = "refresh_reuse"
	RevokedAppSecret    = "secret"
	RevokedAppDisable   = "app_disabled"
	RevokedAppScopes    = "scopes"
	RevokedAppDelete    = "app_deleted"
)

// TokenVersionRepo stores the token version of each user and app.
type TokenVersionRepo interface {
	// Bump raises the version by one and returns the new row.
	Bump(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at time.Time) (*model.TokenVersion, error)
	// BumpWithGrace raises the version by one, keeping the tokens of the
	// version it had valid until until.
	BumpWithGrace(ctx context.Context, kind string, tenantID, subjectID int64, reason string, at, until time.Time) (*model.TokenVersion, error)
	// BumpMany raises the versions of subjectIDs by one each, all under
	// one revision taken once, and returns the rows raised.
	BumpMany(ctx context.Context, kind string, tenantID int64, subjectIDs []int64, reason string, at time.Time) ([]model.TokenVersion, error)
	// Current is the version (zero when never raised).
	Current(ctx context.Context, kind string, subjectID int64) (*model.TokenVersion, error)
	// Revision is the newest revision committed: a raise not committed
	// yet takes a higher one. Each raise takes the next revision, in
	// commit order.
	Revision(ctx context.Context) (int64, error)
	// RaisedAfter lists at most limit versions whose last raise comes
	// after the row afterID of revision (a revision above it, or the same
	// and a row id above afterID), by revision and row id: the raises of
	// BumpMany share a revision. afterID math.MaxInt64 skips the whole
	// revision.
	RaisedAfter(ctx context.Context, revision, afterID int64, limit int) ([]model.TokenVersion, error)
	// ChangedSince lists the versions raised at or after since, by the
	// clock that stamped them (Now's; an instance's own for a release
	// before migration 0025), and those whose grace ends at or after
	// since.
	ChangedSince(ctx context.Context, since time.Time) ([]model.TokenVersion, error)
	// Now is the store's clock: one clock for the whole fleet, which
	// stamps every raise and dates the first poll's read by time.
	Now(ctx context.Context) (time.Time, error)
}

// Revocations refuses tokens signed before their user's or app's token
// version was raised. Every instance keeps the versions raised within the
// longest token lifetime in memory and reads the ones raised since its last
// read once per poll interval, so a check costs a map lookup and a change
// made on any instance is refused everywhere within about one interval.
//
// Polls read by revision, not by time: each raise takes the next number of
// one sequence whose row its transaction holds until it commits, so raises
// become visible in the order of their revisions, and a poll that resumes
// after the highest revision it read misses none, however late a raise
// committed and whatever the clock of the instance that made it. A raise
// of many subjects at once (RevokeMany) takes one number for all of them,
// and holds the sequence for one statement, not one per subject.
//
// Only an instance's first poll reads by time: the raises within the
// longest token lifetime, which may still refuse a token. Raises are
// stamped with the store's clock (TokenVersionRepo.Now), and that read
// reaches back by the same clock, so an instance whose clock runs behind
// or ahead neither hides its raises from an instance started later nor
// makes one read too little.
type Revocations struct {
	repo     TokenVersionRepo
	now      func() time.Time
	keep     time.Duration // the longest token lifetime: older raises matter to no token
	interval time.Duration
	log      zerolog.Logger
	// afterCommit defers the in-memory effect of a raise made in a
	// transaction until it commits.
	afterCommit func(ctx context.Context, fn func())

	mu       sync.RWMutex
	versions map[versionKey]versionEntry
	// revision is the highest revision a poll read, and revisionID the
	// last row of it read (math.MaxInt64: all of them).
	revision, revisionID int64
	polled               time.Time // when the last successful poll began; zero before the first
	pruned               time.Time
	// fresh is when the last read of the store that answered began, by
	// the process's own (monotonic) clock, and staleAfter how long Check
	// trusts it: polling (Start) whose reads have not been answered for
	// longer may have missed a revocation made on another instance, so
	// every token is refused as the store being unavailable, never taken
	// as unrevoked. A poll with much to read (a large department moved)
	// keeps it fresh with each batch it reads, and keeps each batch it
	// read when it is cut short. Zero without Start: a process that does
	// not poll has no other instance.
	fresh      time.Time
	staleAfter time.Duration
	// oldFrom is when the last read of the raises of older releases by
	// time that was answered began (readOld); oldFailing, whether the
	// last one was not.
	oldFrom    time.Time
	oldFailing bool

	stop chan struct{}
	done chan struct{}
}

type versionKey struct {
	kind string
	id   int64
}

type versionEntry struct {
	version int64
	reason  string
	// seen is when this instance read the raise, by its own clock: the
	// raise matters to no token once the longest token lifetime has passed
	// since.
	seen time.Time
	// Tokens at graceVersion or above stay valid until graceUntil (zero:
	// no grace).
	graceVersion int64
	graceUntil   time.Time
}

// pollOverlap is how far before the longest token lifetime the first poll
// reads by time, and how far before the previous poll the read of raises
// of older releases looks (Poll): a raise committed up to this much late,
// or stamped by a clock up to this much behind (an older release stamps
// with its instance's own), is still read.
const pollOverlap = 10 * time.Second

// pollBatch bounds the rows of one read by revision; a poll reads batches
// until one is short.
const pollBatch = 1000

// compatLag bounds how far back the read of raises by older releases
// (Poll) reaches after polls failed: polls cut short again and again would
// otherwise read an ever longer window.
const compatLag = 30 * time.Second

// RevocationOptions tune Revocations.
type RevocationOptions struct {
	// Keep is the longest token lifetime (access, app or refresh).
	Keep time.Duration
	// Interval between polls; 1 s when zero.
	Interval time.Duration
	// StaleAfter is how long after the last successful poll tokens are
	// still taken (once Start polls): the bound within which a revocation
	// made on another instance is refused. DefaultStaleAfter when zero,
	// and never under three intervals.
	StaleAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	Log zerolog.Logger
	// AfterCommit runs fn once the transaction ctx carries commits, at
	// once outside one (dao.Transactor.AfterCommit). A raise made in a
	// transaction then refuses tokens here only once it commits: one
	// rolled back revokes nothing, here or elsewhere. Nil: at once.
	AfterCommit func(ctx context.Context, fn func())
}

// DefaultStaleAfter is the fleet's revocation bound (PRODUCT §6): a
// revocation made on any instance is refused on every other within it.
const DefaultStaleAfter = 5 * time.Second

// NewRevocations reads versions from repo.
func NewRevocations(repo TokenVersionRepo, o RevocationOptions) *Revocations {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	return &Revocations{
		repo: repo, now: storeClock(o.Now), keep: o.Keep, interval: o.Interval, log: o.Log,
		afterCommit: o.AfterCommit, versions: map[versionKey]versionEntry{},
		staleAfter: max(o.StaleAfter, 3*o.Interval),
	}
}

// Check refuses claims signed at a version lower than the one known for
// their user or app, and every claim while polling has not succeeded for
// longer than the revocation bound (503 DEPENDENCY_UNAVAILABLE): a
// revocation made on another instance meanwhile is not known here.
func (r *Revocations) Check(c *Claims) error {
	if r == nil {
		return nil
	}
	k := claimsKey(c)
	r.mu.RLock()
	e, ok := r.versions[k]
	polling, fresh := r.stop != nil, r.fresh
	r.mu.RUnlock()
	if polling && time.Since(fresh) > r.staleAfter {
		return errTokenVersionsStale
	}
	return r.judge(c, e, ok)
}

// Known is Check by what this instance has read, however long ago: the
// revocation of the token it knows of, or nil. An instance that cannot
// read the others' revocations still knows those it read before.
func (r *Revocations) Known(c *Claims) error {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	e, ok := r.versions[claimsKey(c)]
	r.mu.RUnlock()
	return r.judge(c, e, ok)
}

// judge is the revocation of c by its subject's entry e (ok: there is one).
func (r *Revocations) judge(c *Claims, e versionEntry, ok bool) error {
	if !ok || c.Version >= e.version {
		return nil
	}
	if c.Version >= e.graceVersion && r.now().Before(e.graceUntil) {
		return nil
	}
	return revokedError(e.reason)
}

// errTokenVersionsStale refuses a token while this instance cannot read
// the revocations of the others.
var errTokenVersionsStale = errs.Unavailable("database")

func claimsKey(c *Claims) versionKey {
	if c.Kind == TokenApp {
		return versionKey{model.TokenVersionApp, c.AppID}
	}
	return versionKey{model.TokenVersionUser, c.Scope().UserID}
}

func revokedError(reason string) error {
	msg := "this token was revoked; sign in again"
	switch reason {
	case RevokedDisabled:
		msg = "this token was revoked: the account was disabled"
	case RevokedRole:
		msg = "this token was revoked: the account's role changed; sign in again"
	case RevokedDepartment:
		msg = "this token was revoked: the account's department changed; sign in again"
	case RevokedPassword:
		msg = "this token was revoked: the password was changed; sign in again"
	case RevokedLogout:
		msg = "this token was revoked: the account signed out; sign in again"
	case RevokedRefreshReuse:
		msg = "this token was revoked: a refresh token of the account was used twice, so it may have leaked; refresh the token or sign in again"
	case RevokedAppSecret:
		msg = "this app token was revoked: the app's secret changed; get a new app token"
	case RevokedAppDisable:
		msg = "this app token was revoked: the app was disabled"
	case RevokedAppScopes:
		msg = "this app token was revoked: the app's scopes changed; get a new app token"
	case RevokedAppDelete:
		msg = "this app token was revoked: the app was deleted"
	}
	return errs.Of(errs.ReasonTokenRevoked, "%s", msg)
}

// Current is the token version new tokens of a user or an app carry, read
// from the store.
func (r *Revocations) Current(ctx context.Context, kind string, id int64) (int64, error) {
	if r == nil {
		return 0, nil
	}
	v, err := r.repo.Current(ctx, kind, id)
	if err != nil {
		return 0, err
	}
	r.apply([]model.TokenVersion{*v})
	return v.Version, nil
}

// Revoke raises the token version of a user or an app: every token they
// hold stops working here at once and on the other instances at their next
// poll. In a transaction, the raise is part of it: it takes effect when
// the transaction commits, and not at all when it rolls back.
func (r *Revocations) Revoke(ctx context.Context, kind string, tenantID, id int64, reason string) error {
	if r == nil {
		return nil
	}
	at, err := r.repo.Now(ctx)
	if err != nil {
		return err
	}
	v, err := r.repo.Bump(ctx, kind, tenantID, id, reason, at)
	if err != nil {
		return err
	}
	r.applyCommitted(ctx, *v)
	return nil
}

// RevokeMany raises the token versions of ids (of kind, in tenantID) as
// Revoke raises each, under one revision: the sequence that orders every
// raise of the fleet is held for one statement, however many they are,
// rather than for one raise per subject.
func (r *Revocations) RevokeMany(ctx context.Context, kind string, tenantID int64, ids []int64, reason string) error {
	if r == nil || len(ids) == 0 {
		return nil
	}
	at, err := r.repo.Now(ctx)
	if err != nil {
		return err
	}
	rows, err := r.repo.BumpMany(ctx, kind, tenantID, ids, reason, at)
	if err != nil {
		return err
	}
	r.applyCommitted(ctx, rows...)
	return nil
}

// RevokeAfter raises the token version of an app like Revoke, but the
// tokens of the version it had stay valid until until, everywhere: a
// rotated secret's grace. Tokens of older versions end at once.
func (r *Revocations) RevokeAfter(ctx context.Context, kind string, tenantID, id int64, reason string, until time.Time) error {
	if r == nil {
		return nil
	}
	at, err := r.repo.Now(ctx)
	if err != nil {
		return err
	}
	v, err := r.repo.BumpWithGrace(ctx, kind, tenantID, id, reason, at, until)
	if err != nil {
		return err
	}
	r.applyCommitted(ctx, *v)
	return nil
}

// applyCommitted applies a raise written with ctx once it is committed.
// The other instances read it by its revision, however late it commits.
func (r *Revocations) applyCommitted(ctx context.Context, v ...model.TokenVersion) {
	if r.afterCommit == nil {
		r.apply(v)
		return
	}
	r.afterCommit(ctx, func() { r.apply(v) })
}

func (r *Revocations) apply(rows []model.TokenVersion) {
	if len(rows) == 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range rows {
		if row.Version == 0 {
			continue
		}
		k := versionKey{row.Kind, row.SubjectID}
		if e, ok := r.versions[k]; !ok || row.Version > e.version {
			e := versionEntry{version: row.Version, reason: row.Reason, seen: now}
			if row.GraceUntil != nil {
				e.graceVersion, e.graceUntil = row.GraceVersion, *row.GraceUntil
			}
			r.versions[k] = e
		}
	}
}

// Poll reads the versions raised since the last poll: those of a revision
// above the highest it read. The first poll reads the revision committed,
// then the versions raised within the longest token lifetime and those
// still in a grace, by time, the store's, which stamped them: later raises
// have a higher revision, and the next poll reads them.
func (r *Revocations) Poll(ctx context.Context) error {
	now := r.now()
	r.mu.RLock()
	revision, revisionID, polled := r.revision, r.revisionID, r.polled
	r.mu.RUnlock()
	if polled.IsZero() {
		began := time.Now()
		revision, err := r.repo.Revision(ctx)
		if err != nil {
			return err
		}
		// Fresh only once the raises of the longest token lifetime are
		// read too: before, the instance knows of no revocation. They
		// are dated by the store's clock, as they were stamped: this
		// instance's own, or that of the one that raised them, may be
		// off by more than the token lifetime is long.
		storeNow, err := r.repo.Now(ctx)
		if err != nil {
			return err
		}
		rows, err := r.repo.ChangedSince(ctx, storeNow.Add(-r.keep-pollOverlap))
		if err != nil {
			return err
		}
		r.apply(rows)
		r.read(revision, math.MaxInt64, began)
	} else {
		if err := r.raisedAfter(ctx, revision, revisionID); err != nil {
			return err
		}
		// A release before migration 0025, still running during a rolling
		// upgrade, raises versions without a revision (or leaves the one
		// the row had), so they are read by time too, as that release
		// reads them; the raises of this release count once either way.
		// This read can go once no release before 0025 may run beside
		// this one. It takes at most an interval: a window that holds a
		// raise of many subjects (all read by revision already) may take
		// longer, and is read again, up to compatLag back, by the next.
		r.readOld(ctx, now)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polled = now
	// Raises read longer ago than every token's lifetime concern no token
	// any more.
	if now.Sub(r.pruned) >= time.Minute {
		r.pruned = now
		for k, e := range r.versions {
			if now.Sub(e.seen) > r.keep+pollOverlap && now.Sub(e.graceUntil) > r.keep+pollOverlap {
				delete(r.versions, k)
			}
		}
	}
	return nil
}

// raisedAfter reads every version raised after the row afterID of
// revision, in batches, each applied and its end kept as it is read: a
// poll cut short goes on from there next time. A batch may end within the
// rows of one revision (a raise of many subjects): the next goes on from
// the row after.
func (r *Revocations) raisedAfter(ctx context.Context, revision, afterID int64) error {
	for {
		began := time.Now()
		batch, err := r.repo.RaisedAfter(ctx, revision, afterID, pollBatch)
		if err != nil {
			return err
		}
		r.apply(batch)
		if len(batch) > 0 {
			last := batch[len(batch)-1]
			revision, afterID = last.Revision, last.ID
		}
		r.read(revision, afterID, began)
		if len(batch) < pollBatch {
			return nil
		}
	}
}

// read keeps where the reading by revision stands, at the row afterID of
// revision, and that the store answered a read begun at began.
func (r *Revocations) read(revision, afterID int64, began time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if revision > r.revision || (revision == r.revision && afterID > r.revisionID) {
		r.revision, r.revisionID = revision, afterID
	}
	r.fresh = later(r.fresh, began)
}

// readOld reads the raises of older releases by time (Poll), from where
// the last such read that was answered began, within an interval.
func (r *Revocations) readOld(ctx context.Context, now time.Time) {
	r.mu.RLock()
	from := r.oldFrom
	r.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, r.interval)
	defer cancel()
	began := time.Now()
	old, err := r.repo.ChangedSince(ctx, later(from, now.Add(-compatLag)).Add(-pollOverlap))
	if err != nil {
		if !r.oldFailing {
			r.log.Warn().Err(err).Msg("reading token versions by time (raises of releases before migration 0025) took too long; read again from there")
		}
		r.oldFailing = true
		return
	}
	r.oldFailing = false
	r.apply(old)
	r.answered(began)
	r.mu.Lock()
	r.oldFrom = now
	r.mu.Unlock()
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// answered keeps that the store answered a read begun at began.
func (r *Revocations) answered(began time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fresh = later(r.fresh, began)
}

// firstPollWithin bounds the first poll once Start's has failed.
const firstPollWithin = 30 * time.Second

// Start reads the recent versions, then polls every interval until Stop.
func (r *Revocations) Start(ctx context.Context) {
	first, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := r.Poll(first); err != nil {
		r.log.Warn().Err(err).Msg("reading token versions; retrying every poll")
	}
	cancel()
	r.mu.Lock()
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	r.mu.Unlock()
	// Stop ends a poll in flight too (the first may take firstPollWithin).
	ctx, cancelPolls := context.WithCancel(ctx)
	go func() {
		<-r.stop
		cancelPolls()
	}()
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.interval)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
			// The first read (Start's failed) reads the raises within the
			// longest token lifetime by time: a large department moved
			// meanwhile makes it long.
			within := r.interval * 4
			r.mu.RLock()
			if r.polled.IsZero() {
				within = firstPollWithin
			}
			r.mu.RUnlock()
			pctx, cancel := context.WithTimeout(ctx, within)
			err := r.Poll(pctx)
			cancel()
			switch {
			case err != nil && !failing:
				failing = true
				r.log.Warn().Err(err).Msg("polling token versions; revocations made on other instances are not seen until it answers")
			case err == nil && failing:
				failing = false
				r.log.Info().Msg("polling token versions again")
			}
		}
	}()
}

// Stop ends the polling.
func (r *Revocations) Stop() {
	if r == nil || r.stop == nil {
		return
	}
	close(r.stop)
	<-r.done
}
