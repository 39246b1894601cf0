package model

import (
	"context"
	"slices"
)

// RoleApp is the role of an open-platform app caller.
const RoleApp = "app"

// Scope is who is asking and therefore what they may see (PRODUCT §2): a rep
// their own conversations, a manager their department subtree, an admin or
// an app the whole tenant. Nothing ever crosses tenants.
type Scope struct {
	TenantID int64
	// UserID is the user behind the call; 0 for apps.
	UserID int64
	// AppID is the app behind the call; 0 for users.
	AppID int64
	Role  string
	// DepartmentPath is the manager's department path ("/1/5/"); a manager
	// without a department sees only their own conversations.
	DepartmentPath string
	// AppScopes are the scopes granted to an app ("ingest", "read", "search").
	AppScopes []string
}

// Allows reports whether an app scope is granted; users hold no app scopes
// and are governed by their role.
func (s Scope) Allows(appScope string) bool {
	if s.Role != RoleApp {
		return true
	}
	return slices.Contains(s.AppScopes, appScope)
}

// IsAdmin reports whether the caller administers the tenant.
func (s Scope) IsAdmin() bool { return s.Role == RoleAdmin }

// WholeTenant reports whether the caller sees every conversation of the tenant.
func (s Scope) WholeTenant() bool { return s.Role == RoleAdmin || s.Role == RoleApp }

type scopeKey struct{}

// WithScope attaches the caller's scope to ctx (auth does this).
func WithScope(ctx context.Context, s Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// ScopeFrom returns the caller's scope; ok is false for anonymous calls.
func ScopeFrom(ctx context.Context) (Scope, bool) {
	s, ok := ctx.Value(scopeKey{}).(Scope)
	return s, ok && s.TenantID != 0
}
