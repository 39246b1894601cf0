package dao

import (
	"context"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Apps stores open-platform apps.
type Apps struct{ db *gorm.DB }

// NewApps works on db.
func NewApps(db *gorm.DB) *Apps { return &Apps{db: db} }

var errAppNotFound = errs.NotFound(errs.ReasonAppNotFound, "no such app")

// ByKey finds an app by its public key, in any tenant.
func (r *Apps) ByKey(ctx context.Context, appKey string) (*model.App, error) {
	return r.first(ctx, "app_key = ?", appKey)
}

// ByName finds a tenant's app by name.
func (r *Apps) ByName(ctx context.Context, tenantID int64, name string) (*model.App, error) {
	return r.first(ctx, "tenant_id = ? AND name = ?", tenantID, name)
}

func (r *Apps) first(ctx context.Context, where string, args ...any) (*model.App, error) {
	var a model.App
	if err := conn(ctx, r.db).Where(where, args...).Order("id").Take(&a).Error; err != nil {
		return nil, dbError(err, errAppNotFound)
	}
	return &a, nil
}

// Create inserts a and sets its id.
func (r *Apps) Create(ctx context.Context, a *model.App) error {
	return dbError(conn(ctx, r.db).Create(a).Error, nil)
}

// UpdateSecret replaces an app's secret hash.
func (r *Apps) UpdateSecret(ctx context.Context, tenantID, id int64, secretHash string) error {
	res := conn(ctx, r.db).Model(&model.App{}).Where("tenant_id = ? AND id = ?", tenantID, id).Update("secret_hash", secretHash)
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		return errAppNotFound
	}
	return nil
}
