package identity

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Token kinds.
const (
	TokenAccess = "access" // a user of the web or mobile app
	TokenApp    = "app"    // an open-platform app
)

// Claims of an access or app token. The scope travels in the token so a
// request needs no lookup; tokens are short-lived (15 min, 2 h for apps).
type Claims struct {
	Kind           string   `json:"typ"`
	TenantID       int64    `json:"tid"`
	Role           string   `json:"role"`
	DepartmentPath string   `json:"dep,omitempty"`
	AppID          int64    `json:"app,omitempty"`
	AppScopes      []string `json:"scp,omitempty"`
	Tier           string   `json:"tier,omitempty"`
	// Version is the user's or the app's token version when it was
	// signed; a token below the current version is refused.
	Version int64 `json:"ver,omitempty"`
	jwt.RegisteredClaims
}

// Scope is what the claims allow.
func (c *Claims) Scope() model.Scope {
	s := model.Scope{TenantID: c.TenantID, Role: c.Role, DepartmentPath: c.DepartmentPath, AppID: c.AppID, AppScopes: c.AppScopes}
	if c.Kind == TokenAccess {
		s.UserID, _ = strconv.ParseInt(c.Subject, 10, 64)
	}
	return s
}

// Tokens signs and verifies HS256 tokens.
type Tokens struct {
	secret    []byte
	accessTTL time.Duration
	appTTL    time.Duration
	now       func() time.Time

	// verified holds the claims of tokens that passed Verify, by the
	// token itself, until they expire: a client sends one token with every
	// request of its lifetime, and its checks (HMAC, decoding) need not
	// run again. At most maxVerified; when full it starts over.
	mu       sync.Mutex
	verified map[string]*Claims
}

// maxVerified bounds the verified tokens kept (a few hundred bytes each).
const maxVerified = 4096

// NewTokens signs with secret.
func NewTokens(secret string, accessTTL, appTTL time.Duration) *Tokens {
	return &Tokens{secret: []byte(secret), accessTTL: accessTTL, appTTL: appTTL, now: time.Now, verified: map[string]*Claims{}}
}

// AccessTTL is the lifetime of user access tokens.
func (t *Tokens) AccessTTL() time.Duration { return t.accessTTL }

// AppTTL is the lifetime of app tokens.
func (t *Tokens) AppTTL() time.Duration { return t.appTTL }

// IssueAccess signs a user access token at the user's token version.
func (t *Tokens) IssueAccess(u *model.User, departmentPath, tier string, version int64) (string, error) {
	return t.sign(Claims{
		Kind: TokenAccess, TenantID: u.TenantID, Role: u.Role, DepartmentPath: departmentPath, Tier: tier, Version: version,
		RegisteredClaims: t.registered(strconv.FormatInt(u.ID, 10), t.accessTTL),
	})
}

// IssueApp signs an app token at the app's token version.
func (t *Tokens) IssueApp(a *model.App, version int64) (string, error) {
	return t.sign(Claims{
		Kind: TokenApp, TenantID: a.TenantID, Role: model.RoleApp, AppID: a.ID, AppScopes: strings.Fields(a.Scopes), Tier: a.RateTier, Version: version,
		RegisteredClaims: t.registered("app:"+strconv.FormatInt(a.ID, 10), t.appTTL),
	})
}

// clockSkew is how far the clocks of a fleet's instances may stand apart:
// a token is valid from that long before it was signed, so an instance
// whose clock runs behind the signer's takes a token just issued instead
// of refusing it as not valid yet. Expiry is not widened.
const clockSkew = time.Minute

func (t *Tokens) registered(subject string, ttl time.Duration) jwt.RegisteredClaims {
	now := t.now()
	return jwt.RegisteredClaims{
		Issuer:    "mgvcore",
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-clockSkew)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
}

func (t *Tokens) sign(c Claims) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("signing a token: %w", err)
	}
	return s, nil
}

// Verify checks signature, algorithm (HS256 only: "alg: none" and others are
// refused), expiry and issuer, and returns the claims.
// The claims returned are shared by the requests carrying the token and
// must not be changed.
func (t *Tokens) Verify(token string) (*Claims, error) {
	t.mu.Lock()
	kept, ok := t.verified[token]
	if ok && !t.now().Before(kept.ExpiresAt.Time) {
		delete(t.verified, token)
		ok = false
	}
	t.mu.Unlock()
	if ok {
		return kept, nil
	}
	c, err := t.verify(token)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[token] = c
	t.mu.Unlock()
	return c, nil
}

// Unexpired refuses claims whose token has expired, as Verify refuses the
// token itself: a call that outlives its start asks again.
func (t *Tokens) Unexpired(c *Claims) error {
	if c.ExpiresAt == nil || !t.now().Before(c.ExpiresAt.Time) {
		return errExpired()
	}
	return nil
}

func errExpired() error { return errs.Unauthenticated("the token has expired") }

// verify checks a token in full.
func (t *Tokens) verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer("mgvcore"),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errExpired()
	default:
		return nil, errs.Unauthenticated("the token is not valid")
	}
	if c.TenantID == 0 || (c.Kind != TokenAccess && c.Kind != TokenApp) {
		return nil, errs.Unauthenticated("the token is not valid")
	}
	return &c, nil
}
