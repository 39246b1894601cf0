package dao

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Departments stores the department tree. Path ("/1/5/9/") lists the ids
// from the root down, so a subtree is a prefix match; every write of the
// tree runs under the tenant's tree lock, so concurrent moves cannot build
// a cycle or leave a stale path.
type Departments struct{ db *gorm.DB }

// NewDepartments works on db.
func NewDepartments(db *gorm.DB) *Departments { return &Departments{db: db} }

var errDepartmentNotFound = errs.NotFound(errs.ReasonDepartmentNotFound, "no such department")

// ByID finds a department of the tenant.
func (r *Departments) ByID(ctx context.Context, tenantID, id int64) (*model.Department, error) {
	return r.first(conn(ctx, r.db), "tenant_id = ? AND id = ?", tenantID, id)
}

// ByOrigin finds a department by the partner's id.
func (r *Departments) ByOrigin(ctx context.Context, tenantID int64, originID string) (*model.Department, error) {
	return r.first(conn(ctx, r.db), "tenant_id = ? AND origin_department_id = ?", tenantID, originID)
}

func (r *Departments) first(db *gorm.DB, where string, args ...any) (*model.Department, error) {
	var d model.Department
	if err := db.Where(where, args...).Take(&d).Error; err != nil {
		return nil, dbError(err, errDepartmentNotFound)
	}
	return &d, nil
}

// List returns every department of the tenant ordered by id.
func (r *Departments) List(ctx context.Context, tenantID int64) ([]model.Department, error) {
	out := []model.Department{}
	err := conn(ctx, r.db).Where("tenant_id = ?", tenantID).Order("id").Find(&out).Error
	return out, dbError(err, nil)
}

// Create inserts d under parent (nil: top level) and sets its path.
func (r *Departments) Create(ctx context.Context, d *model.Department, parent *model.Department) error {
	return r.inTree(ctx, d.TenantID, func(tx *gorm.DB) error {
		prefix, parentID, err := r.parentPath(tx, d.TenantID, parent)
		if err != nil {
			return err
		}
		d.ParentID, d.Path = parentID, ""
		if err := tx.Create(d).Error; err != nil {
			return dbError(err, nil)
		}
		d.Path = fmt.Sprintf("%s%d/", prefix, d.ID)
		if len(d.Path) > model.MaxDepartmentPath {
			return errTreeTooDeep
		}
		return dbError(tx.Model(&model.Department{}).Where("id = ?", d.ID).UpdateColumn("path", d.Path).Error, nil)
	})
}

// Update writes d's name and moves d, with its subtree, under parent (nil:
// top level), rewriting the paths below it. It reports whether d's path
// changed, compared under the tree lock with the path as stored then: a
// move another request made since the caller read d counts, as does a
// write that puts d back where the caller read it.
func (r *Departments) Update(ctx context.Context, d *model.Department, parent *model.Department) (bool, error) {
	moved := false
	err := r.inTree(ctx, d.TenantID, func(tx *gorm.DB) error {
		cur, err := r.first(tx, "tenant_id = ? AND id = ?", d.TenantID, d.ID)
		if err != nil {
			return err
		}
		prefix, parentID, err := r.parentPath(tx, d.TenantID, parent)
		if err != nil {
			return err
		}
		if strings.HasPrefix(prefix, cur.Path) {
			return errs.New(http.StatusConflict, errs.ReasonConflict, "the department tree changed meanwhile; retry")
		}
		path := fmt.Sprintf("%s%d/", prefix, cur.ID)
		if path != cur.Path {
			// The parent's path is read under the lock: it may have grown
			// since the caller checked it, and the subtree moves along.
			var deepest int
			err := tx.Model(&model.Department{}).Select("COALESCE(MAX(LENGTH(path)), 0)").
				Where("tenant_id = ? AND path LIKE ?", d.TenantID, cur.Path+"%").Scan(&deepest).Error
			if err != nil {
				return dbError(err, nil)
			}
			if len(path)+deepest-len(cur.Path) > model.MaxDepartmentPath {
				return errTreeTooDeep
			}
		}
		err = tx.Model(&model.Department{}).Where("tenant_id = ? AND id = ?", d.TenantID, d.ID).
			Updates(map[string]any{"name": d.Name, "parent_id": parentID, "path": path, "updated_at": d.UpdatedAt}).Error
		if err != nil {
			return dbError(err, nil)
		}
		if path != cur.Path {
			if err := r.movePaths(tx, d.TenantID, cur.ID, cur.Path, path); err != nil {
				return err
			}
		}
		d.ParentID, d.Path, moved = parentID, path, path != cur.Path
		return nil
	})
	return moved, err
}

// movePaths rewrites the paths of the subtree below id from the old prefix
// to the new one.
func (r *Departments) movePaths(tx *gorm.DB, tenantID, id int64, oldPath, newPath string) error {
	var below []model.Department
	if err := tx.Select("id", "path").Where("tenant_id = ? AND path LIKE ? AND id <> ?", tenantID, oldPath+"%", id).
		Find(&below).Error; err != nil {
		return dbError(err, nil)
	}
	for _, b := range below {
		err := tx.Model(&model.Department{}).Where("id = ?", b.ID).
			Update("path", newPath+strings.TrimPrefix(b.Path, oldPath)).Error
		if err != nil {
			return dbError(err, nil)
		}
	}
	return nil
}

// errTreeTooDeep refuses a write that would make a path longer than its
// column.
var errTreeTooDeep = errs.InvalidArgument("origin_parent_id", "the department tree would be too deep")

// parentPath re-reads the parent inside the tree lock.
func (r *Departments) parentPath(tx *gorm.DB, tenantID int64, parent *model.Department) (string, *int64, error) {
	if parent == nil {
		return "/", nil, nil
	}
	p, err := r.first(tx, "tenant_id = ? AND id = ?", tenantID, parent.ID)
	if err != nil {
		return "", nil, err
	}
	return p.Path, &p.ID, nil
}

// inTree runs fn in a transaction (the caller's, if ctx carries one) that
// holds the tenant's tree lock: a no-op write of the tenant row, which
// serializes tree writes of the tenant on MySQL and takes the write lock
// up front on the embedded store.
func (r *Departments) inTree(ctx context.Context, tenantID int64, fn func(tx *gorm.DB) error) error {
	run := func(tx *gorm.DB) error {
		if err := tx.Exec("UPDATE tenants SET updated_at = updated_at WHERE id = ?", tenantID).Error; err != nil {
			return dbError(err, nil)
		}
		return fn(tx)
	}
	return dbError(inTx(ctx, r.db, run), nil)
}
