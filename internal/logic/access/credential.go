package access

import (
	"context"
	"time"
)

// Credential is the token a call was authenticated with. Auth checks it
// when a call starts; a call that outlives its start (an event stream, a
// transcript upload) asks it again, so that a token revoked or expired
// since ends the call with the refusal a new call would get.
type Credential interface {
	// Check is the refusal a new call carrying the token would get now:
	// UNAUTHENTICATED when it has expired, TOKEN_REVOKED when its user or
	// app was revoked since; nil while it is accepted. It reads memory
	// only, so it may be asked often.
	Check() error
	// Revoked is Check without the expiry: TOKEN_REVOKED when the token's
	// user or app was revoked since, nil otherwise.
	Revoked() error
	// Known is Revoked by what this instance has read of the fleet's
	// revocations, however long ago: never a refusal for not having read
	// them lately (the database out of reach), which Revoked and Check
	// answer.
	Known() error
	// Expires is when the token expires.
	Expires() time.Time
}

type credentialKey struct{}

// WithCredential attaches the call's credential to ctx (auth does this).
func WithCredential(ctx context.Context, c Credential) context.Context {
	return context.WithValue(ctx, credentialKey{}, c)
}

// CredentialFrom returns the call's credential; nil for anonymous calls
// and calls made by the service itself.
func CredentialFrom(ctx context.Context) Credential {
	c, _ := ctx.Value(credentialKey{}).(Credential)
	return c
}

// KnownRevoked is the revocation of the call's token that this instance
// knows of (Credential.Known); nil otherwise, and for calls without a
// token. A call waiting for its client asks this: the database out of
// reach for a while is no reason to end it and lose what it holds.
func KnownRevoked(ctx context.Context) error {
	if c := CredentialFrom(ctx); c != nil {
		return c.Known()
	}
	return nil
}

// Revoked is the refusal a new call would get now if the call's token was
// revoked since it began; nil otherwise, and for calls without a token.
// A bounded upload asks this rather than Check: a token that merely
// expired while it ran does not waste it.
func Revoked(ctx context.Context) error {
	if c := CredentialFrom(ctx); c != nil {
		return c.Revoked()
	}
	return nil
}
