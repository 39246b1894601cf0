package app

import (
	"context"
	"strconv"
	"time"

	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/policy"
)

// authenticator adapts token verification to the auth policy: the scope and
// the credential go into the context for logic and dao, the caller into the
// call's Info for logs and rate limits.
type authenticator struct {
	tokens      *identity.Tokens
	revocations *identity.Revocations
	defaultTier string
}

func (a authenticator) Authenticate(ctx context.Context, token string) (context.Context, policy.Caller, error) {
	claims, err := a.tokens.Verify(token)
	if err != nil {
		return ctx, policy.Caller{}, err
	}
	scope := claims.Scope()
	caller := policy.Caller{TenantID: strconv.FormatInt(scope.TenantID, 10), Role: scope.Role, Tier: claims.Tier}
	if caller.Tier == "" {
		caller.Tier = a.defaultTier
	}
	if scope.UserID != 0 {
		caller.UserID = strconv.FormatInt(scope.UserID, 10)
	}
	if scope.AppID != 0 {
		caller.AppID = strconv.FormatInt(scope.AppID, 10)
	}
	if err := a.revocations.Check(claims); err != nil {
		// The token is genuine and unexpired: who sent it is known, and
		// the audit trail charges the refused call to them.
		return ctx, caller, err
	}
	ctx = access.WithCredential(ctx, credential{claims: claims, tokens: a.tokens, revocations: a.revocations})
	return model.WithScope(ctx, scope), caller, nil
}

// credential checks a verified token again, for calls that outlive their
// start: its expiry and the in-memory token versions, no query.
type credential struct {
	claims      *identity.Claims
	tokens      *identity.Tokens
	revocations *identity.Revocations
}

func (c credential) Check() error {
	if err := c.tokens.Unexpired(c.claims); err != nil {
		return err
	}
	return c.Revoked()
}

func (c credential) Revoked() error { return c.revocations.Check(c.claims) }

func (c credential) Known() error { return c.revocations.Known(c.claims) }

func (c credential) Expires() time.Time { return c.claims.ExpiresAt.Time }
