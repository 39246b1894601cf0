package dao

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Users stores users.
type Users struct{ db *gorm.DB }

// NewUsers works on db.
func NewUsers(db *gorm.DB) *Users { return &Users{db: db} }

// errUserNotFound answers an unknown user id, or another tenant's.
var errUserNotFound = errs.NotFound(errs.ReasonUserNotFound, "no such user")

// ByID finds a user of the tenant; another tenant's user is not found.
func (r *Users) ByID(ctx context.Context, tenantID, id int64) (*model.User, error) {
	return r.first(ctx, "tenant_id = ? AND id = ?", tenantID, id)
}

// ByEmail finds the user who signs in with email, in any tenant.
func (r *Users) ByEmail(ctx context.Context, email string) (*model.User, error) {
	q, args := exactly(r.db, "email", "=", email)
	return r.first(ctx, q, args...)
}

// ByPhone finds the user who signs in with phone, in any tenant.
func (r *Users) ByPhone(ctx context.Context, phone string) (*model.User, error) {
	q, args := exactly(r.db, "phone", "=", phone)
	return r.first(ctx, q, args...)
}

// ByPhones lists the users whose phone is one of phones (a number in the
// forms it may be stored in), in any tenant.
func (r *Users) ByPhones(ctx context.Context, phones []string) ([]model.User, error) {
	if len(phones) == 0 {
		return nil, nil
	}
	var out []model.User
	q, args := exactly(r.db, "phone", "IN", phones)
	if err := conn(ctx, r.db).Where(q, args...).Order("id").Limit(len(phones)).Find(&out).Error; err != nil {
		return nil, dbError(err, nil)
	}
	return out, nil
}

// ByOrigin finds a user by the partner's id.
func (r *Users) ByOrigin(ctx context.Context, tenantID int64, originUserID string) (*model.User, error) {
	return r.first(ctx, "tenant_id = ? AND origin_user_id = ?", tenantID, originUserID)
}

func (r *Users) first(ctx context.Context, where string, args ...any) (*model.User, error) {
	var u model.User
	if err := conn(ctx, r.db).Where(where, args...).Take(&u).Error; err != nil {
		return nil, dbError(err, errUserNotFound)
	}
	return &u, nil
}

// Create inserts u and sets its id.
func (r *Users) Create(ctx context.Context, u *model.User) error {
	return userError(conn(ctx, r.db).Create(u).Error, u)
}

// userError is dbError naming, for a unique key of users, the field whose
// value another user has: the final word when two requests take the same
// email, phone or origin id at once, after both found it free.
func userError(err error, u *model.User) error {
	switch duplicateKey(err) {
	case "uniq_users_email", "users.email":
		return errs.AlreadyExists("email", "%s is already the account of another user", strValue(u.Email)).WithCause(err)
	case "uniq_users_phone", "users.phone":
		return errs.AlreadyExists("phone", "%s is already the account of another user", strValue(u.Phone)).WithCause(err)
	case "uniq_users_origin", "users.tenant_id, users.origin_user_id":
		return errs.AlreadyExists("origin_user_id", "%q is already the origin id of another user of this tenant", strValue(u.OriginUserID)).WithCause(err)
	}
	return dbError(err, nil)
}

// strValue is *p, or "" for nil.
func strValue(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Update writes the columns of u that differ from before, the row as the
// caller read it, and updated_at. A change another request stored since
// that read (a disable, a demotion, an erasure's anonymisation) stays
// unless this one changes the same column: the caller may have spent a
// bcrypt round between its read and this write. A column this one changes
// is written only where it still holds what was read: when another request
// changed it meanwhile (an erasure clears the name, email, phone, origin id
// and password), nothing is written and the answer is CONFLICT, so that
// an erased person's identifiers never come back onto their row. Nor is
// anything written onto a user an erasure anonymised (model.User.Erased;
// every other user has a name), whatever it changes: USER_ERASED.
func (r *Users) Update(ctx context.Context, before, u *model.User) error {
	cols := map[string]any{"updated_at": u.UpdatedAt}
	q := conn(ctx, r.db).Model(&model.User{}).Where("tenant_id = ? AND id = ? AND name <> ''", u.TenantID, u.ID)
	// clause.Eq of a nil pointer is IS NULL.
	changed := func(col string, differs bool, v, was any) {
		if differs {
			cols[col] = v
			q = q.Where(clause.Eq{Column: col, Value: was})
		}
	}
	changed("department_id", !samePtr(before.DepartmentID, u.DepartmentID), u.DepartmentID, before.DepartmentID)
	changed("name", before.Name != u.Name, u.Name, before.Name)
	changed("email", !samePtr(before.Email, u.Email), u.Email, before.Email)
	changed("phone", !samePtr(before.Phone, u.Phone), u.Phone, before.Phone)
	changed("role", before.Role != u.Role, u.Role, before.Role)
	changed("status", before.Status != u.Status, u.Status, before.Status)
	changed("origin_user_id", !samePtr(before.OriginUserID, u.OriginUserID), u.OriginUserID, before.OriginUserID)
	changed("password_hash", before.PasswordHash != u.PasswordHash, u.PasswordHash, before.PasswordHash)
	res := q.Updates(cols)
	if res.Error != nil {
		return userError(res.Error, u)
	}
	if res.RowsAffected == 0 {
		now, err := r.ByID(ctx, u.TenantID, u.ID)
		if err != nil {
			return err
		}
		if now.Erased() {
			return errs.UserErased("id", u.ID)
		}
		return errs.Conflict("user %d was changed by another request meanwhile; read it again and retry", u.ID)
	}
	return nil
}

// samePtr reports whether a and b are both nil or point to equal values.
func samePtr[T comparable](a, b *T) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

// SetPassword writes the password hash of an active user and nothing else,
// so a change of their other columns made meanwhile (disabled, demoted,
// anonymised) stays. It reports false when the user is not active any
// more.
func (r *Users) SetPassword(ctx context.Context, tenantID, id int64, hash string, at time.Time) (bool, error) {
	res := conn(ctx, r.db).Model(&model.User{}).Where("tenant_id = ? AND id = ? AND status = ?", tenantID, id, model.UserActive).
		Updates(map[string]any{"password_hash": hash, "updated_at": at})
	if res.Error != nil {
		return false, dbError(res.Error, nil)
	}
	return res.RowsAffected > 0, nil
}

// List pages through the users in the scope (ScopeUsers) by id, keeping
// those of the department subtree at departmentPath unless it is empty;
// total counts every user matching.
func (r *Users) List(ctx context.Context, s model.Scope, departmentPath string, afterID int64, limit int) ([]model.User, int64, error) {
	base := ScopeUsers(conn(ctx, r.db).Table("users AS u"), s)
	if departmentPath != "" {
		base = base.Where("u.department_id IN (?)",
			r.db.Session(&gorm.Session{NewDB: true}).Table("departments AS fd").Select("fd.id").
				Where("fd.tenant_id = ? AND fd.path LIKE ?", s.TenantID, departmentPath+"%"))
	}
	var total int64
	if err := base.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	users := []model.User{}
	if err := base.Session(&gorm.Session{}).Select("u.*").Where("u.id > ?", afterID).
		Order("u.id").Limit(limit).Find(&users).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	return users, total, nil
}

// ActiveAdmins counts the active admins of a tenant. On MySQL their rows
// stay locked until the transaction of ctx ends (FOR UPDATE), and the count
// reads the latest committed rows: a concurrent change of an admin waits.
// SQLite serializes writers and needs no lock.
func (r *Users) ActiveAdmins(ctx context.Context, tenantID int64) (int64, error) {
	db := conn(ctx, r.db)
	q := db.Model(&model.User{}).Select("id").
		Where("tenant_id = ? AND role = ? AND status = ?", tenantID, model.RoleAdmin, model.UserActive)
	if db.Name() == "mysql" {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var ids []int64
	if err := q.Find(&ids).Error; err != nil {
		return 0, dbError(err, nil)
	}
	return int64(len(ids)), nil
}
