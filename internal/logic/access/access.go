// Package access answers who is calling and whether they may: every use
// case starts with Require, which returns the caller's data scope or the
// error that refuses the call. It also holds the page-token and page-size
// rules every list shares.
package access

import (
	"context"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// App scopes an open-platform app may be granted.
const (
	ScopeIngest = "ingest"
	ScopeRead   = "read"
	ScopeSearch = "search"
	// ScopeOrg writes and lists the departments and users mirrored from a
	// partner; it is kept apart from ingest because users hold roles.
	ScopeOrg = "org"
)

// AppScopes are every scope an app may be granted.
var AppScopes = []string{ScopeIngest, ScopeRead, ScopeSearch, ScopeOrg}

// Need is what a use case asks of its caller.
type Need struct {
	// app is the scope an app must hold; "" refuses apps.
	app string
	// admins refuses users other than the tenant's admins.
	admins bool
}

// The needs of the use cases. A read lets users through (their data scope
// decides what they see) and apps holding the scope; a write of tenant data
// is for admins and apps holding "ingest"; tenant settings are for admins.
var (
	Read   = Need{app: ScopeRead}
	Search = Need{app: ScopeSearch}
	Ingest = Need{app: ScopeIngest, admins: true}
	// OrgWrite mirrors departments and users: admins and apps holding "org".
	OrgWrite = Need{app: ScopeOrg, admins: true}
	// OrgRead lists users and the department tree: every user (their data
	// scope decides whom) and apps holding "org", not "read" alone.
	OrgRead = Need{app: ScopeOrg}
	User    = Need{}
	Admin   = Need{admins: true}
	// TenantRead reads tenant-wide data that no user's data scope can
	// narrow (the event log): admins, and apps holding "read".
	TenantRead = Need{app: ScopeRead, admins: true}
)

// Require returns the caller's scope when it meets need: UNAUTHENTICATED
// for an anonymous call, PERMISSION_DENIED (naming the missing app scope)
// otherwise. A refused write reveals nothing, so it is 403; reads outside
// the scope are answered 404 by the repositories instead.
func Require(ctx context.Context, need Need) (model.Scope, error) {
	s, ok := model.ScopeFrom(ctx)
	switch {
	case !ok:
		return model.Scope{}, errs.Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
	case s.Role == model.RoleApp && need.app == "":
		return model.Scope{}, errs.Forbidden("this operation is for signed-in users, not apps")
	case s.Role == model.RoleApp && !s.Allows(need.app):
		return model.Scope{}, errs.Forbidden("this app lacks the %q scope", need.app).With("scope", need.app)
	case s.Role != model.RoleApp && need.admins && !s.IsAdmin():
		return model.Scope{}, errs.Forbidden("only an admin of the tenant may do this")
	}
	return s, nil
}

// CheckID validates a Megaview id given by a client.
func CheckID(field string, id int64) error {
	if id <= 0 {
		return errs.InvalidArgument(field, "must be a positive id (got %d)", id)
	}
	return nil
}
