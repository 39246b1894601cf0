package identity

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/model"
)

// RefreshTokenRepo stores refresh tokens by their hash.
type RefreshTokenRepo interface {
	Create(ctx context.Context, t *model.RefreshToken) error
	// ByHash finds a token, spent and revoked ones included.
	ByHash(ctx context.Context, hash string) (*model.RefreshToken, error)
	// Rotate marks the token with oldHash used, unless it already is (or is
	// revoked), and stores next, atomically. It reports false when the
	// token was not usable any more: another refresh won.
	Rotate(ctx context.Context, oldHash string, usedAt time.Time, next *model.RefreshToken) (bool, error)
	// RevokeFamily revokes every token of a login.
	RevokeFamily(ctx context.Context, familyID string, at time.Time) error
	// RevokeUser revokes every token of a user.
	RevokeUser(ctx context.Context, tenantID, userID int64, at time.Time) error
	// RevokeUsers revokes every token of the users userIDs, set by set.
	RevokeUsers(ctx context.Context, tenantID int64, userIDs []int64, at time.Time) error
}

// AppRepo stores open-platform apps.
type AppRepo interface {
	ByKey(ctx context.Context, appKey string) (*model.App, error)
	ByName(ctx context.Context, tenantID int64, name string) (*model.App, error)
	Create(ctx context.Context, a *model.App) error
	// UpdateSecret replaces an app's secret hash; an old secret's grace ends.
	UpdateSecret(ctx context.Context, tenantID, id int64, secretHash string) error
	// ByID finds an app of a tenant.
	ByID(ctx context.Context, tenantID, id int64) (*model.App, error)
	// List returns up to limit of a tenant's apps with ids above afterID,
	// by id, and how many apps the tenant has in all.
	List(ctx context.Context, tenantID, afterID int64, limit int) ([]model.App, int64, error)
	// CountLocked counts a tenant's apps and, inside a transaction, keeps
	// any other from adding or counting the tenant's apps until it ends.
	CountLocked(ctx context.Context, tenantID int64) (int64, error)
	// Update writes the name, scopes and status of a that differ from
	// before, the app as read, and, when a has no old secret and before
	// had one, ends that grace; never its secret.
	Update(ctx context.Context, before, a *model.App) error
	// SetSecret writes an app's secret and old secret only, and only
	// while its secret is still the one before was read with (CONFLICT
	// otherwise).
	SetSecret(ctx context.Context, before, a *model.App) error
	Delete(ctx context.Context, tenantID, id int64) error
}

// Auth signs users and apps in: passwords and app secrets become short-lived
// tokens, refresh tokens are single use.
type Auth struct {
	users       UserRepo
	tenants     TenantRepo
	departments DepartmentRepo
	refresh     RefreshTokenRepo
	apps        AppRepo
	tokens      *Tokens
	hasher      Hasher
	refreshTTL  time.Duration
	now         func() time.Time
	// dummyHash is compared against when the account is unknown, so a
	// wrong account takes as long as a wrong password.
	dummyHash string
	// throttle is nil when sign-ins are not throttled.
	throttle    *throttle
	clientAddr  func(ctx context.Context) string
	revocations *Revocations
}

// AuthDeps are what Auth needs.
type AuthDeps struct {
	Users       UserRepo
	Tenants     TenantRepo
	Departments DepartmentRepo
	Refresh     RefreshTokenRepo
	Apps        AppRepo
	Tokens      *Tokens
	Hasher      Hasher
	RefreshTTL  time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Throttle stores sign-in attempts; nil turns throttling off.
	Throttle ThrottleRepo
	// ThrottlePolicy is the sign-in budget; DefaultThrottle when zero.
	ThrottlePolicy ThrottlePolicy
	// ThrottleKey is the secret the throttle's buckets are hashed under
	// (config's SigninThrottleKey), the same on every instance; required
	// with Throttle.
	ThrottleKey string
	// ClientAddr names the client of a call for its sign-in budget: its
	// address as the transports put it in the context, an IPv6 one as its
	// /64 network (clientip.Key); "" when unknown (only the account is
	// counted).
	ClientAddr func(ctx context.Context) string
	// Sleep delays failed sign-ins; a context-aware time.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Revocations keeps token versions; nil signs every token at version 0
	// and revokes refresh tokens only.
	Revocations *Revocations
}

// NewAuth builds the use cases.
func NewAuth(d AuthDeps) (*Auth, error) {
	dummy, err := d.Hasher.Hash(randomToken(18))
	if err != nil {
		return nil, err
	}
	now := storeClock(d.Now)
	a := &Auth{
		users: d.Users, tenants: d.Tenants, departments: d.Departments, refresh: d.Refresh, apps: d.Apps,
		tokens: d.Tokens, hasher: d.Hasher, refreshTTL: d.RefreshTTL, now: now, dummyHash: dummy,
		clientAddr: d.ClientAddr, revocations: d.Revocations,
	}
	if a.clientAddr == nil {
		a.clientAddr = func(context.Context) string { return "" }
	}
	if d.Throttle != nil {
		p := d.ThrottlePolicy
		if p == (ThrottlePolicy{}) {
			p = DefaultThrottle
		}
		if p.Window <= 0 || p.PerAccount <= 0 || p.PerAddress <= 0 || p.KnownFor < 0 {
			return nil, fmt.Errorf("sign-in throttle: window, per-account and per-address budgets must be positive")
		}
		if p.PerAccountTotal < p.PerAccount {
			return nil, fmt.Errorf("sign-in throttle: an account's total budget (%d) is below its budget from one client (%d)", p.PerAccountTotal, p.PerAccount)
		}
		if d.ThrottleKey == "" {
			return nil, fmt.Errorf("sign-in throttle: no key to hash its buckets with")
		}
		sleep := d.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		a.throttle = &throttle{repo: d.Throttle, policy: p, key: newThrottleKey(d.ThrottleKey), now: now, sleep: sleep}
	}
	return a, nil
}

// LoginRequest signs a user in with an email or a phone number.
type LoginRequest struct {
	Account  string
	Password string
}

// RefreshRequest exchanges a refresh token for a new pair.
type RefreshRequest struct {
	RefreshToken string
}

// TokenPair is the answer to a login or a refresh.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64
}

// AppTokenRequest signs an app in.
type AppTokenRequest struct {
	AppKey    string
	AppSecret string
}

// AppToken is the answer to CreateAppToken.
type AppToken struct {
	AccessToken string
	ExpiresIn   int64
}

var (
	errBadLogin     = errs.Unauthenticated("the account or the password is wrong")
	errBadAppSecret = errs.Unauthenticated("the app key or the app secret is wrong")
	errUserDisabled = errs.Of(errs.ReasonUserDisabled, "this account is disabled; ask your administrator")
	errAppDisabled  = errs.Of(errs.ReasonAppDisabled, "this app is disabled; an admin of the tenant can enable it")
	errRefreshSpent = errs.Unauthenticated("the refresh token was already used; every session of this login is now signed out, sign in again")
	errRefreshBad   = errs.Unauthenticated("the refresh token is not valid; sign in again")
)

// Login checks the password of the account and starts a new token family.
func (a *Auth) Login(ctx context.Context, req LoginRequest) (*TokenPair, error) {
	account := strings.TrimSpace(req.Account)
	switch {
	case account == "":
		return nil, errs.InvalidArgument("account", "is required (an email or a phone number)")
	case utf8.RuneCountInString(account) > 255:
		return nil, errs.InvalidArgument("account", "must be at most 255 characters")
	case req.Password == "":
		return nil, errs.InvalidArgument("password", "is required")
	case len(req.Password) > 1024:
		return nil, errs.InvalidArgument("password", "must be at most 1024 bytes")
	}
	u, err := a.findAccount(ctx, account)
	if err != nil && !errs.IsNotFound(err) {
		return nil, err
	}
	// A user's budgets, and the clients known to them, are the user's
	// whichever identifier was typed; an account nobody has is counted
	// the same way under what was typed, so that both cost the same.
	owner := "nobody\x00" + accountKey(account)
	if u != nil {
		owner = userKey(u)
		// The trail names the account's user, success or not, throttled
		// too: the account was looked up above for every attempt, known
		// or not, so naming it costs no query, and noting it only marks
		// the call (its record is queued either way), so a throttled
		// answer takes as long and says the same for a known account as
		// for an unknown one. Never what was typed.
		audit.Actor(ctx, u.TenantID, audit.ActorUser, u.ID)
		audit.Target(ctx, "user", strconv.FormatInt(u.ID, 10))
	}
	ad, err := a.admitAs(ctx, kindAccount, signInKey(account), owner)
	if err != nil {
		return nil, err
	}
	if err := ad.share(ctx, owner, false); err != nil {
		return nil, err
	}
	if u == nil {
		// An unknown account costs a comparison too, and is counted and
		// delayed as a known one: no answer tells them apart.
		a.hasher.Matches(a.dummyHash, req.Password)
		return nil, ad.failed(ctx, errBadLogin)
	}
	hash := u.PasswordHash
	if hash == "" {
		// Users mirrored from a partner have no password until one is set.
		hash = a.dummyHash
	}
	if !a.hasher.Matches(hash, req.Password) || u.PasswordHash == "" || ad.OverUser() {
		return nil, ad.failed(ctx, errBadLogin)
	}
	if u.Status != model.UserActive {
		return nil, ad.failed(ctx, errUserDisabled)
	}
	if err := ad.succeeded(ctx); err != nil {
		return nil, err
	}
	return a.issuePair(ctx, u, randomHex(16))
}

// admit counts a sign-in attempt against the caller's address and the
// account; without a throttle every attempt is admitted.
func (a *Auth) admit(ctx context.Context, kind, key string) (*admission, error) {
	return a.admitAs(ctx, kind, key, key)
}

// admitAs is admit with the clients known to owner exempt from the
// account's total (for a user, userKey: whichever identifier they signed
// in with from there).
func (a *Auth) admitAs(ctx context.Context, kind, key, owner string) (*admission, error) {
	if a.throttle == nil {
		return nil, nil
	}
	return a.throttle.admit(ctx, kind, key, owner, a.clientAddr(ctx))
}

// accountKey is the one form of a typed account that no user has, as the
// throttle counts it: the normalised email, or the number in E.164 form,
// so every spelling of it shares one budget. A number libphonenumber does
// not take as valid is counted that way too: a user who has it (stored
// before E.164 normalisation) is found by all its spellings, which share
// the user's budget, and an unknown one must not answer otherwise.
func accountKey(account string) string {
	if strings.Contains(account, "@") {
		return normalizeEmail(account)
	}
	if e164, ok := anyE164(account); ok {
		return e164
	}
	return strings.ToLower(typedPhone(account))
}

// signInKey is the throttle's key of a sign-in as account: accountKey of
// what was typed, whether or not a user has it, so every spelling of one
// email or number shares one budget and no refusal depends on whether the
// account exists. A user with both an email and a phone has a budget for
// each: keyed by the user, an email's spent budget refused the phone too,
// and only for an account that exists, which told an email and a phone of
// one account apart from two unknown ones.
func signInKey(account string) string {
	return "typed\x00" + accountKey(account)
}

// passwordKey is the throttle's key of guesses at a signed-in user's
// password: the budget of their email, or of their phone when they have
// none, as a sign-in with it would spend; a user with neither (mirrored
// from a partner) has one of their own.
func passwordKey(u *model.User) string {
	switch {
	case u.Email != nil && *u.Email != "":
		return signInKey(*u.Email)
	case u.Phone != nil && *u.Phone != "":
		return signInKey(*u.Phone)
	}
	return userKey(u)
}

// userKey is the throttle's key of a user, whichever identifier they
// sign in with (admission.share).
func userKey(u *model.User) string {
	return "user\x00" + strconv.FormatInt(u.TenantID, 10) + "\x00" + strconv.FormatInt(u.ID, 10)
}

// findAccount looks an account up by email when it has an @, else by phone:
// its E.164 form, or a form a user created before E.164 normalisation
// has stored.
func (a *Auth) findAccount(ctx context.Context, account string) (*model.User, error) {
	if strings.Contains(account, "@") {
		return a.users.ByEmail(ctx, normalizeEmail(account))
	}
	forms, ok := phoneLookup(account)
	if !ok {
		return nil, nil
	}
	users, err := a.users.ByPhones(ctx, forms)
	if err != nil {
		return nil, err
	}
	// The E.164 form wins over a stored older form of the same number.
	for _, form := range forms {
		for i := range users {
			if users[i].Phone != nil && *users[i].Phone == form {
				return &users[i], nil
			}
		}
	}
	return nil, nil
}

// Refresh spends a refresh token and returns a new pair of the same family.
// A token presented a second time means it leaked (or a client replayed
// it): the whole family is revoked.
func (a *Auth) Refresh(ctx context.Context, req RefreshRequest) (*TokenPair, error) {
	raw := strings.TrimSpace(req.RefreshToken)
	switch {
	case raw == "":
		return nil, errs.InvalidArgument("refresh_token", "is required")
	case len(raw) > 256:
		return nil, errRefreshBad
	}
	hash := tokenHash(raw)
	rt, err := a.refresh.ByHash(ctx, hash)
	switch {
	case errs.IsNotFound(err):
		return nil, errRefreshBad
	case err != nil:
		return nil, err
	}
	// A token we issued names its user, whatever becomes of it: a spent
	// one presented again (a theft, which revokes the user's sessions), a
	// revoked or an expired one are charged to that user in their
	// tenant's trail, where its admins see them, like a refresh that
	// works. Only the trail learns it; the answer is the same.
	audit.Actor(ctx, rt.TenantID, audit.ActorUser, rt.UserID)
	audit.Target(ctx, "user", strconv.FormatInt(rt.UserID, 10))
	now := a.now()
	switch {
	case rt.RevokedAt != nil:
		return nil, errRefreshBad
	case rt.UsedAt != nil:
		return nil, a.reused(ctx, rt, now)
	case !now.Before(rt.ExpiresAt):
		return nil, errs.Unauthenticated("the refresh token has expired; sign in again")
	}
	u, err := a.users.ByID(ctx, rt.TenantID, rt.UserID)
	switch {
	case errs.IsNotFound(err):
		return nil, a.revokeFamily(ctx, rt.FamilyID, now, errRefreshBad)
	case err != nil:
		return nil, err
	case u.Status != model.UserActive:
		return nil, a.revokeFamily(ctx, rt.FamilyID, now, errUserDisabled)
	}
	// The version is read before the token is spent: a concurrent
	// presentation of it finds it spent only afterwards, so the raise its
	// reuse makes is past the version signed here, and the pair this
	// refresh wins is revoked with the user's other access tokens. Read
	// after the spend, it could already be the raised one.
	version, err := a.revocations.Current(ctx, model.TokenVersionUser, u.ID)
	if err != nil {
		return nil, err
	}
	next, nextRaw := a.newRefreshToken(u, rt.FamilyID, now)
	won, err := a.refresh.Rotate(ctx, hash, now, next)
	if err != nil {
		return nil, err
	}
	if !won {
		// A concurrent refresh spent it first: to this caller it is a reuse.
		return nil, a.reused(ctx, rt, now)
	}
	return a.pairAt(ctx, u, version, nextRaw)
}

// reused answers a refresh token presented after it was spent. Whoever
// spent it first got a pair from it, perhaps a thief who copied the
// token: revoking the family ends its refresh tokens, but not the access
// token that pair holds, which would work for the rest of its life. So
// every access token of the user is revoked too, on every instance. The
// user's other sessions (other families) refresh and go on; this one
// signs in again.
func (a *Auth) reused(ctx context.Context, rt *model.RefreshToken, now time.Time) error {
	if err := a.refresh.RevokeFamily(ctx, rt.FamilyID, now); err != nil {
		return err
	}
	if err := a.revocations.Revoke(ctx, model.TokenVersionUser, rt.TenantID, rt.UserID, RevokedRefreshReuse); err != nil {
		return err
	}
	return errRefreshSpent
}

func (a *Auth) revokeFamily(ctx context.Context, familyID string, now time.Time, answer error) error {
	if err := a.refresh.RevokeFamily(ctx, familyID, now); err != nil {
		return err
	}
	return answer
}

func (a *Auth) newRefreshToken(u *model.User, familyID string, now time.Time) (*model.RefreshToken, string) {
	raw := randomToken(32)
	return &model.RefreshToken{
		TenantID: u.TenantID, UserID: u.ID, FamilyID: familyID, TokenHash: tokenHash(raw),
		ExpiresAt: now.Add(a.refreshTTL), CreatedAt: now,
	}, raw
}

// issuePair stores the first refresh token of a family and signs the pair.
func (a *Auth) issuePair(ctx context.Context, u *model.User, familyID string) (*TokenPair, error) {
	rt, raw := a.newRefreshToken(u, familyID, a.now())
	if err := a.refresh.Create(ctx, rt); err != nil {
		return nil, err
	}
	return a.pairWith(ctx, u, raw)
}

// pairWith signs an access token carrying the user's current role and
// department, so a refresh picks up changes an admin made.
//
// The token version is read before the user is read again: a change of
// role, department or status raises the version only after it is
// stored, so a change this read of the user misses raises it past the
// version signed here and the token is refused. u was read before a
// bcrypt round or a refresh; signed from it at the version read now, a
// user demoted or disabled meanwhile kept their old powers for the
// token's whole life.
func (a *Auth) pairWith(ctx context.Context, u *model.User, refreshToken string) (*TokenPair, error) {
	version, err := a.revocations.Current(ctx, model.TokenVersionUser, u.ID)
	if err != nil {
		return nil, err
	}
	return a.pairAt(ctx, u, version, refreshToken)
}

// pairAt signs the pair at version, read before u is read again here.
func (a *Auth) pairAt(ctx context.Context, u *model.User, version int64, refreshToken string) (*TokenPair, error) {
	u, err := a.users.ByID(ctx, u.TenantID, u.ID)
	switch {
	case errs.IsNotFound(err):
		return nil, errRefreshBad
	case err != nil:
		return nil, err
	case u.Status != model.UserActive:
		return nil, errUserDisabled
	}
	tenant, err := a.tenants.ByID(ctx, u.TenantID)
	if err != nil {
		return nil, err
	}
	path := ""
	if u.DepartmentID != nil {
		d, err := a.departments.ByID(ctx, u.TenantID, *u.DepartmentID)
		switch {
		case err == nil:
			path = d.Path
		case !errs.IsNotFound(err):
			return nil, err
		}
	}
	access, err := a.tokens.IssueAccess(u, path, tenant.RateTier, version)
	if err != nil {
		return nil, err
	}
	return &TokenPair{AccessToken: access, RefreshToken: refreshToken, ExpiresIn: int64(a.tokens.AccessTTL() / time.Second)}, nil
}

// CreateAppToken checks an app's key and secret and signs an app token.
func (a *Auth) CreateAppToken(ctx context.Context, req AppTokenRequest) (*AppToken, error) {
	switch {
	case req.AppKey == "":
		return nil, errs.InvalidArgument("app_key", "is required")
	case utf8.RuneCountInString(req.AppKey) > 128:
		return nil, errs.InvalidArgument("app_key", "must be at most 128 characters")
	case req.AppSecret == "":
		return nil, errs.InvalidArgument("app_secret", "is required")
	case utf8.RuneCountInString(req.AppSecret) > 256:
		return nil, errs.InvalidArgument("app_secret", "must be at most 256 characters")
	}
	app, err := a.apps.ByKey(ctx, req.AppKey)
	if err != nil && !errs.IsNotFound(err) {
		return nil, err
	}
	// A found app's attempts count under its key as stored, whatever
	// was typed.
	key := req.AppKey
	if app != nil {
		key = app.AppKey
		// The trail names the app, throttled attempts too; as at sign-in
		// (Login), the app was looked up for every attempt already, and
		// noting it changes neither the answer nor its time.
		audit.Actor(ctx, app.TenantID, audit.ActorApp, app.ID)
		audit.Target(ctx, "app", strconv.FormatInt(app.ID, 10))
	}
	ad, err := a.admit(ctx, kindApp, key)
	if err != nil {
		return nil, err
	}
	if app == nil {
		a.hasher.Matches(a.dummyHash, req.AppSecret)
		return nil, ad.failed(ctx, errBadAppSecret)
	}
	current := a.hasher.Matches(app.SecretHash, req.AppSecret)
	old := !current && app.OldSecretHash != "" && app.OldSecretUntil != nil && a.now().Before(*app.OldSecretUntil) &&
		a.hasher.Matches(app.OldSecretHash, req.AppSecret)
	if !current && !old {
		return nil, ad.failed(ctx, errBadAppSecret)
	}
	if err := ad.succeeded(ctx); err != nil {
		return nil, err
	}
	matched := app.SecretHash
	if old {
		matched = app.OldSecretHash
	}
	// The token is signed from the app as read after its version, like a
	// user's pair: a disable, a cut of its scopes, a rotation or a delete
	// raises the version only once stored, so a change this read misses
	// raises it past the version signed here. app was read before a
	// bcrypt round; signed from it at the version read now, an app
	// disabled, re-scoped, rotated or deleted meanwhile got a valid token
	// of what it was.
	version, err := a.revocations.Current(ctx, model.TokenVersionApp, app.ID)
	if err != nil {
		return nil, err
	}
	app, err = a.apps.ByID(ctx, app.TenantID, app.ID)
	switch {
	case errs.IsNotFound(err):
		return nil, errBadAppSecret
	case err != nil:
		return nil, err
	}
	// The secret that matched must still open the app.
	switch {
	case app.SecretHash == matched:
		old = false
	case app.OldSecretHash == matched && app.OldSecretUntil != nil && a.now().Before(*app.OldSecretUntil):
		old = true
	default:
		return nil, errBadAppSecret
	}
	// Only who holds a secret learns that the app is disabled.
	if app.Status == model.AppDisabled {
		return nil, errAppDisabled
	}
	if old {
		// The old secret's tokens are of the version the rotation left in
		// its grace, and end with it.
		version = max(version-1, 0)
	}
	// A rate tier is the tenant's, as a user's token carries it: the
	// app's own was stored as standard whatever its tenant's.
	if a.tenants != nil {
		tenant, err := a.tenants.ByID(ctx, app.TenantID)
		if err != nil {
			return nil, err
		}
		app.RateTier = tenant.RateTier
	}
	tok, err := a.tokens.IssueApp(app, version)
	if err != nil {
		return nil, err
	}
	return &AppToken{AccessToken: tok, ExpiresIn: int64(a.tokens.AppTTL() / time.Second)}, nil
}

// Logout signs the caller out of every session: all their refresh tokens
// are revoked and their access tokens are refused on every instance.
func (a *Auth) Logout(ctx context.Context) error {
	s, err := access.Require(ctx, access.User)
	if err != nil {
		return err
	}
	return a.signOut(ctx, s.TenantID, s.UserID, RevokedLogout)
}

// signOut revokes every token of a user.
func (a *Auth) signOut(ctx context.Context, tenantID, userID int64, reason string) error {
	if err := a.refresh.RevokeUser(ctx, tenantID, userID, a.now()); err != nil {
		return err
	}
	return a.revocations.Revoke(ctx, model.TokenVersionUser, tenantID, userID, reason)
}

// ChangePasswordRequest is the caller's current password and the new one.
type ChangePasswordRequest struct {
	CurrentPassword string
	NewPassword     string
}

// ChangePassword sets the caller's password once the current one is
// given. Every session is signed out, this one included, and this one
// gets a new token pair: the other sessions must sign in again.
func (a *Auth) ChangePassword(ctx context.Context, req ChangePasswordRequest) (*TokenPair, error) {
	s, err := access.Require(ctx, access.User)
	if err != nil {
		return nil, err
	}
	switch {
	case req.CurrentPassword == "":
		return nil, errs.InvalidArgument("current_password", "is required")
	case len(req.CurrentPassword) > 1024:
		return nil, errs.InvalidArgument("current_password", "must be at most 1024 bytes")
	}
	if err := validatePassword("new_password", req.NewPassword); err != nil {
		return nil, err
	}
	u, err := a.users.ByID(ctx, s.TenantID, s.UserID)
	if err != nil {
		return nil, err
	}
	// Guessing the current password here counts as guessing it at sign-in.
	key, owner := passwordKey(u), userKey(u)
	ad, err := a.admitAs(ctx, kindAccount, key, owner)
	if err != nil {
		return nil, err
	}
	if key != owner {
		// (A user with neither email nor phone is counted as the user
		// already.)
		if err := ad.share(ctx, owner, true); err != nil {
			return nil, err
		}
	}
	if u.PasswordHash == "" || !a.hasher.Matches(u.PasswordHash, req.CurrentPassword) {
		return nil, ad.failed(ctx, errs.InvalidArgument("current_password", "is not the account's password"))
	}
	if err := ad.succeeded(ctx); err != nil {
		return nil, err
	}
	hash, err := a.hasher.Hash(req.NewPassword)
	if err != nil {
		return nil, err
	}
	// Only the password is written: the user was read before two bcrypt
	// rounds, and an admin may have disabled, demoted or moved them, or an
	// erasure anonymised them, meanwhile; writing the whole row back would
	// undo that. The new pair is signed from the user as read afterwards.
	u.PasswordHash = hash
	u.UpdatedAt = a.now()
	active, err := a.users.SetPassword(ctx, u.TenantID, u.ID, hash, u.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, errUserDisabled
	}
	if err := a.signOut(ctx, u.TenantID, u.ID, RevokedPassword); err != nil {
		return nil, err
	}
	return a.issuePair(ctx, u, randomHex(16))
}
