// Package accesstest makes the caller contexts that use-case tests call
// with.
package accesstest

import (
	"context"

	"github.com/megaview/mgvcore/internal/model"
)

// User is a signed-in user of the tenant with the role.
func User(role string, tenantID, userID int64) context.Context {
	return model.WithScope(context.Background(), model.Scope{TenantID: tenantID, UserID: userID, Role: role})
}

// App is open-platform app 1 of the tenant holding the scopes.
func App(tenantID int64, scopes ...string) context.Context {
	return model.WithScope(context.Background(), model.Scope{TenantID: tenantID, AppID: 1, Role: model.RoleApp, AppScopes: scopes})
}
