// Package audit is the governance trail (PRODUCT §8): one record per
// sign-in, write, transcript read, search, export and erasure, kept
// append-only and hash-chained per tenant so that an edited, deleted or
// reordered record is found by Verify.
//
// Use cases do not write records themselves: one table keyed by operation
// decides which calls are audited, and the audit policy (run by both
// transports) records them after the call. A use case that runs outside a request (a background
// job, an erasure) calls a Recorder directly; a use case inside a request
// that learns something only it knows (the id of what it created, the user
// a sign-in resolved) notes it on the call with Target or Actor.
package audit

import (
	"context"
	"sync"
	"time"

	"github.com/megaview/mgvcore/internal/model"
)

// Actor kinds.
const (
	ActorUser = "user"
	ActorApp  = "app"
	// ActorAnonymous is a caller without a valid token, e.g. a failed sign-in.
	ActorAnonymous = "anonymous"
	// ActorSystem is the service itself: retention, trims, jobs.
	ActorSystem = "system"
)

// ResultOK is the result of an operation that succeeded; any other result
// is the machine reason of the error it answered (errs.Reason…).
const ResultOK = "ok"

// Record is one audit entry. It names who did what to which target and how
// it ended; it never holds secrets, passwords, tokens, request bodies or the
// identifiers of a person being erased (name the erasure job instead).
type Record struct {
	// Time is when the operation ended; zero means now. It is kept to the
	// millisecond, in UTC.
	Time time.Time
	// TenantID is the tenant whose chain the record joins; 0 when the
	// caller's tenant is unknown (a sign-in with an unknown account).
	TenantID int64
	// ActorKind is ActorUser, ActorApp, ActorAnonymous or ActorSystem, and
	// ActorID the user's or app's id (0 otherwise).
	ActorKind string
	ActorID   int64
	// ClientAddr is the client address as internal/clientip decided it
	// (forwarded addresses only from trusted proxies); empty for jobs.
	ClientAddr string
	// Operation names what was done, e.g. "conversation.create".
	Operation string
	// TargetType and TargetID name what it was done to ("conversation",
	// "42"); both empty when there is no single target (a search).
	TargetType string
	TargetID   string
	// Result is ResultOK or the error's reason; empty means ResultOK.
	Result string
	// RequestID ties the record to the request's logs and trace.
	RequestID string
}

// Recorder takes audit records. Record returns at once, or after a brief
// wait when the writer is behind; it never fails the caller's operation.
// Records are written in batches shortly after (see Writer); a clean stop
// or an upgrade writes every record taken before the process exits.
//
// Fields left empty are filled from the call in ctx where one is audited
// (request id, client address) and Time with the current time.
type Recorder interface {
	Record(ctx context.Context, r Record)
}

// Caller returns the actor of a data scope: the app or the user behind it.
func Caller(s model.Scope) (tenantID int64, kind string, id int64) {
	if s.Role == model.RoleApp {
		return s.TenantID, ActorApp, s.AppID
	}
	if s.UserID != 0 {
		return s.TenantID, ActorUser, s.UserID
	}
	return s.TenantID, ActorAnonymous, 0
}

// By returns r with its tenant and actor taken from the scope.
func (r Record) By(s model.Scope) Record {
	r.TenantID, r.ActorKind, r.ActorID = Caller(s)
	return r
}

// Call is what the transport knows of an audited call, plus what the use
// case notes on it.
type Call struct {
	RequestID  string
	ClientAddr string

	mu         sync.Mutex
	actorSet   bool
	tenantID   int64
	actorKind  string
	actorID    int64
	targetType string
	targetID   string
}

type callKey struct{}

// WithCall attaches an audited call to ctx.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the audited call of ctx, nil when there is none.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// Target notes the target of the call, e.g. the id a create made; it does
// nothing outside an audited call.
func Target(ctx context.Context, typ, id string) {
	if c := CallFrom(ctx); c != nil {
		c.mu.Lock()
		c.targetType, c.targetID = typ, id
		c.mu.Unlock()
	}
}

// Actor notes who the caller turned out to be when no token said so: the
// user or app a sign-in resolved, successful or not. It does nothing
// outside an audited call.
func Actor(ctx context.Context, tenantID int64, kind string, id int64) {
	if c := CallFrom(ctx); c != nil {
		c.mu.Lock()
		c.actorSet, c.tenantID, c.actorKind, c.actorID = true, tenantID, kind, id
		c.mu.Unlock()
	}
}

// Noted returns what the use case noted: the actor (ok false when none)
// and the target (empty when none).
func (c *Call) Noted() (tenantID int64, kind string, id int64, ok bool, targetType, targetID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tenantID, c.actorKind, c.actorID, c.actorSet, c.targetType, c.targetID
}
