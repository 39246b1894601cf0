package accesstest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// Token is a caller's credential (access.Credential) that a test revokes
// or lets expire.
type Token struct {
	expires time.Time
	revoked atomic.Bool
	stale   atomic.Bool
}

// NewToken is a token that expires at expires.
func NewToken(expires time.Time) *Token { return &Token{expires: expires} }

// Revoke makes the token refused, as a raised token version does.
func (c *Token) Revoke() { c.revoked.Store(true) }

// Stale makes the instance unable to read the fleet's revocations, as when
// the database is out of reach: Revoked and Check refuse the token 503.
func (c *Token) Stale(stale bool) { c.stale.Store(stale) }

// Revoked is TOKEN_REVOKED once Revoke was called, else 503 while Stale.
func (c *Token) Revoked() error {
	if err := c.Known(); err != nil {
		return err
	}
	if c.stale.Load() {
		return errs.Unavailable("database")
	}
	return nil
}

// Known is TOKEN_REVOKED once Revoke was called, stale or not.
func (c *Token) Known() error {
	if c.revoked.Load() {
		return errs.Of(errs.ReasonTokenRevoked, "this app token was revoked: the app was disabled")
	}
	return nil
}

// Check is UNAUTHENTICATED once the token has expired, else Revoked.
func (c *Token) Check() error {
	if !time.Now().Before(c.expires) {
		return errs.Unauthenticated("the token has expired")
	}
	return c.Revoked()
}

// Expires is when the token expires.
func (c *Token) Expires() time.Time { return c.expires }

// With is ctx calling with the token.
func (c *Token) With(ctx context.Context) context.Context { return access.WithCredential(ctx, c) }
