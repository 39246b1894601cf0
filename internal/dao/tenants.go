package dao

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Tenants stores tenants.
type Tenants struct{ db *gorm.DB }

// NewTenants works on db.
func NewTenants(db *gorm.DB) *Tenants { return &Tenants{db: db} }

var errTenantNotFound = errs.NotFound(errs.ReasonTenantNotFound, "no such tenant")

// ByID finds a tenant.
func (r *Tenants) ByID(ctx context.Context, id int64) (*model.Tenant, error) {
	var t model.Tenant
	if err := conn(ctx, r.db).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, dbError(err, errTenantNotFound)
	}
	return &t, nil
}

// Create inserts t and sets its id.
func (r *Tenants) Create(ctx context.Context, t *model.Tenant) error {
	return dbError(conn(ctx, r.db).Create(t).Error, nil)
}

// lockTenant takes the tenant's row lock, held until db's transaction
// ends: on MySQL a FOR UPDATE of the row, on SQLite a write to it, which
// takes the database's write lock before anything is read (a read first
// could not be upgraded once another writer committed). A tenant with no
// row is TENANT_NOT_FOUND.
func lockTenant(db *gorm.DB, tenantID int64) error {
	var err error
	var locked int64
	if db.Name() == "mysql" {
		var ids []int64
		err = db.Model(&model.Tenant{}).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("id = ?", tenantID).Pluck("id", &ids).Error
		locked = int64(len(ids))
	} else {
		res := db.Exec("UPDATE tenants SET id = id WHERE id = ?", tenantID)
		err, locked = res.Error, res.RowsAffected
	}
	if err != nil {
		return dbError(err, nil)
	}
	if locked == 0 {
		return errTenantNotFound
	}
	return nil
}

// countUnderTenantLock takes the tenant's row lock (lockTenant), then
// counts the tenant's rows of table (a model, whose tenant_id is
// compared) matching the optional where. Creates of one tenant that count
// this way thus count and insert one after the other, on every instance.
// A tenant with no row is TENANT_NOT_FOUND.
func countUnderTenantLock(db *gorm.DB, tenantID int64, table any, where ...any) (int64, error) {
	if err := lockTenant(db, tenantID); err != nil {
		return 0, err
	}
	// A locking read counts the latest committed rows, not the snapshot of
	// a transaction that read before the lock was ours. Its gap lock past
	// the tenant's last row may hold up an insert of the next tenant's for
	// the length of this create; such waits only run up the index, so they
	// form no cycle.
	q := db.Model(table).Where("tenant_id = ?", tenantID)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	if db.Name() == "mysql" {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, dbError(err, nil)
	}
	return n, nil
}
