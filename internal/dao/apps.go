package dao

import (
	"context"
	"errors"
	"time"

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
	q, args := exactly(r.db, "app_key", "=", appKey)
	return r.first(ctx, q, args...)
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

// List returns up to limit of a tenant's apps with ids above afterID, by
// id, and how many apps the tenant has in all. Both read the same rows of
// the tenant, in the transaction ctx carries if any.
func (r *Apps) List(ctx context.Context, tenantID, afterID int64, limit int) ([]model.App, int64, error) {
	base := conn(ctx, r.db).Model(&model.App{}).Where("tenant_id = ?", tenantID)
	var total int64
	if err := base.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	apps := []model.App{}
	err := base.Session(&gorm.Session{}).Where("id > ?", afterID).Order("id").Limit(limit).Find(&apps).Error
	if err != nil {
		return nil, 0, dbError(err, nil)
	}
	return apps, total, nil
}

// CountLocked counts a tenant's apps under the tenant row's lock, held
// until the transaction of ctx ends: on MySQL a FOR UPDATE of the row, on
// SQLite a write to it, which takes the database's write lock before the
// count is read (a read first could not be upgraded once another writer
// committed). Creates of one tenant thus count and insert one after the
// other. Outside a transaction the lock would end with the statement, so
// that is refused.
func (r *Apps) CountLocked(ctx context.Context, tenantID int64) (int64, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); !ok {
		return 0, errs.Internal(errors.New("apps: CountLocked outside a transaction"))
	}
	return countUnderTenantLock(conn(ctx, r.db), tenantID, &model.App{})
}

// Update writes the name, scopes and status of a that differ from before,
// the app as the caller read it, and updated_at; when a has no old secret
// and before had one, it ends that grace. It never writes the secrets a
// was read with: a rotation stored meanwhile stays (SetSecret), and so does
// a disable, a cut of the scopes or a rename another request stored since
// that read, unless this one changes the same column. MySQL counts only
// rows it changed, so an app found before is not looked for again.
func (r *Apps) Update(ctx context.Context, before, a *model.App) error {
	cols := map[string]any{"updated_at": a.UpdatedAt}
	changed := func(col string, differs bool, v any) {
		if differs {
			cols[col] = v
		}
	}
	changed("name", before.Name != a.Name, a.Name)
	changed("scopes", before.Scopes != a.Scopes, a.Scopes)
	changed("status", before.Status != a.Status, a.Status)
	if a.OldSecretHash == "" && before.OldSecretHash != "" {
		cols["old_secret_hash"], cols["old_secret_until"] = "", nil
	}
	err := conn(ctx, r.db).Model(&model.App{}).Where("tenant_id = ? AND id = ?", a.TenantID, a.ID).Updates(cols).Error
	return dbError(err, nil)
}

// SetSecret writes a's secret and old secret and nothing else, so a
// change of its status or scopes stored meanwhile stays. It writes only
// while the app still has the secret before was read with: a rotation
// stored meanwhile (which may have ended that secret at once) is not
// undone by one that would keep it as the old secret, and the answer is
// CONFLICT.
func (r *Apps) SetSecret(ctx context.Context, before, a *model.App) error {
	res := conn(ctx, r.db).Model(&model.App{}).Where("tenant_id = ? AND id = ? AND secret_hash = ?", a.TenantID, a.ID, before.SecretHash).
		Updates(map[string]any{
			"secret_hash": a.SecretHash, "old_secret_hash": a.OldSecretHash, "old_secret_until": a.OldSecretUntil, "updated_at": a.UpdatedAt,
		})
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		if _, err := r.ByID(ctx, a.TenantID, a.ID); err != nil {
			return err
		}
		return errs.Conflict("the secret of app %d was rotated by another request meanwhile; rotate it again if still needed", a.ID)
	}
	return nil
}

// Delete removes an app of a tenant with its webhook subscriptions, in one
// transaction, then their delivery logs in bounded batches. (Kept, the
// subscriptions of a deleted app would never be served again, and the
// per-app cap, which counts only apps that exist, would not bound them.)
// The logs go after the answer's deadline if need be, and a failure
// there fails nothing: rows of no subscription are read by nothing, and
// the delivery log's trim removes them in time.
func (r *Apps) Delete(ctx context.Context, tenantID, id int64) error {
	var subs []int64
	err := conn(ctx, r.db).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&model.App{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errAppNotFound
		}
		of := func() *gorm.DB {
			return tx.Model(&model.WebhookSubscription{}).Where("tenant_id = ? AND app_id = ?", tenantID, id)
		}
		if err := of().Pluck("id", &subs).Error; err != nil {
			return err
		}
		return of().Delete(&model.WebhookSubscription{}).Error
	})
	if err != nil {
		return dbError(err, nil)
	}
	purge, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_ = deleteDeliveries(purge, r.db, subs)
	return nil
}
