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

// UpdateSecret replaces an app's secret hash; a grace of an old secret ends.
func (r *Apps) UpdateSecret(ctx context.Context, tenantID, id int64, secretHash string) error {
	res := conn(ctx, r.db).Model(&model.App{}).Where("tenant_id = ? AND id = ?", tenantID, id).
		Updates(map[string]any{"secret_hash": secretHash, "old_secret_hash": "", "old_secret_until": nil})
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		return errAppNotFound
	}
	return nil
}

// ByID finds an app of a tenant; another tenant's is not found.
func (r *Apps) ByID(ctx context.Context, tenantID, id int64) (*model.App, error) {
	return r.first(ctx, "tenant_id = ? AND id = ?", tenantID, id)
}

// List returns every app of a tenant by id.
func (r *Apps) List(ctx context.Context, tenantID int64) ([]model.App, error) {
	var apps []model.App
	if err := conn(ctx, r.db).Where("tenant_id = ?", tenantID).Order("id").Find(&apps).Error; err != nil {
		return nil, dbError(err, nil)
	}
	return apps, nil
}

// Update writes a's name, scopes, status and secrets. MySQL counts only
// rows it changed, so an app found before is not looked for again.
func (r *Apps) Update(ctx context.Context, a *model.App) error {
	err := conn(ctx, r.db).Model(&model.App{}).Where("tenant_id = ? AND id = ?", a.TenantID, a.ID).Updates(map[string]any{
		"name": a.Name, "scopes": a.Scopes, "status": a.Status, "secret_hash": a.SecretHash,
		"old_secret_hash": a.OldSecretHash, "old_secret_until": a.OldSecretUntil, "updated_at": a.UpdatedAt,
	}).Error
	return dbError(err, nil)
}

// Delete removes an app of a tenant.
func (r *Apps) Delete(ctx context.Context, tenantID, id int64) error {
	res := conn(ctx, r.db).Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&model.App{})
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		return errAppNotFound
	}
	return nil
}
