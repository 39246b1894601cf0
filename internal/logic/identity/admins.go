package identity

import (
	"context"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// appMayWrite refuses what an app holding "org" must not do to the admins
// of its tenant: make anyone an admin (or bring a disabled admin back),
// and change the email or phone an admin signs in with, which would hand
// the account to whoever receives its password reset. u is nil for a new
// user; a are the attributes asked for.
func appMayWrite(u *model.User, a *userAttrs) error {
	wasAdmin := u != nil && u.Role == model.RoleAdmin
	switch {
	case a.role == model.RoleAdmin && !wasAdmin:
		return errs.Forbidden("an app cannot make a user an admin; an admin of the tenant can, in the web app").With("field", "role")
	case !wasAdmin:
		return nil
	case a.status == model.UserActive && u.Status != model.UserActive && a.role == model.RoleAdmin:
		return errs.Forbidden("an app cannot enable a disabled admin; an admin of the tenant can, in the web app").With("field", "status")
	case !orgSameStr(u.Email, a.email):
		return errs.Forbidden("an app cannot change the email an admin signs in with").With("field", "email")
	case !orgSameStr(u.Phone, a.phone):
		return errs.Forbidden("an app cannot change the phone an admin signs in with").With("field", "phone")
	}
	return nil
}

// writeUser applies a to u and stores it, unless that disables or demotes
// the tenant's last active admin, and ends u's tokens as signOut and reason
// say (revoke). With a transactor the count of active admins locks their
// rows (on MySQL) until the change commits, so of two admins demoting each
// other at once the second sees the first's change; and the change commits
// only with its revocation, so a failed revocation leaves nothing that a
// retry would take for done.
func (o *Org) writeUser(ctx context.Context, u *model.User, a *userAttrs, now time.Time, signOut bool, reason string) error {
	before := *u
	write := func(ctx context.Context) error {
		if err := o.keepAnAdmin(ctx, &before, a); err != nil {
			return err
		}
		a.applyTo(u, now)
		if err := o.users.Update(ctx, &before, u); err != nil {
			return err
		}
		return o.revoke(ctx, u, signOut, reason, now)
	}
	if o.tx == nil {
		return write(ctx)
	}
	return o.tx.InTx(ctx, write)
}

// keepAnAdmin refuses to disable or demote the tenant's last active admin,
// whoever asks: nobody could manage the tenant afterwards.
func (o *Org) keepAnAdmin(ctx context.Context, u *model.User, a *userAttrs) error {
	if u.Role != model.RoleAdmin || u.Status != model.UserActive {
		return nil
	}
	field := ""
	switch {
	case a.status != model.UserActive:
		field = "status"
	case a.role != model.RoleAdmin:
		field = "role"
	default:
		return nil
	}
	n, err := o.users.ActiveAdmins(ctx, u.TenantID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return errs.Of(errs.ReasonLastAdmin, "user %d is the tenant's last active admin and cannot be disabled or demoted; make another user admin first", u.ID).
			With("field", field)
	}
	return nil
}
