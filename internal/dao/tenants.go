package dao

import (
	"context"

	"gorm.io/gorm"

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
