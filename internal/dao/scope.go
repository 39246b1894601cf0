package dao

import (
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// ScopeConversations restricts a query on conversations (aliased as c) to
// what the caller may see. Every read, list, search and statistic of
// conversations goes through it, so data scope lives in one place.
func ScopeConversations(db *gorm.DB, s model.Scope) *gorm.DB {
	db = db.Where("c.tenant_id = ?", s.TenantID)
	switch {
	case s.WholeTenant():
		return db
	case s.Role == model.RoleManager && s.DepartmentPath != "":
		return db.Where("(c.owner_user_id = ? OR c.owner_user_id IN (?))", s.UserID,
			db.Session(&gorm.Session{NewDB: true}).Table("users AS su").Select("su.id").
				Joins("JOIN departments AS sd ON sd.id = su.department_id").
				Where("su.tenant_id = ? AND sd.tenant_id = ? AND sd.path LIKE ?", s.TenantID, s.TenantID, s.DepartmentPath+"%"))
	default:
		return db.Where("c.owner_user_id = ?", s.UserID)
	}
}

// ScopeUsers restricts a query on users (aliased as u) to the users whose
// conversations the caller may see: for stats and user pickers.
func ScopeUsers(db *gorm.DB, s model.Scope) *gorm.DB {
	db = db.Where("u.tenant_id = ?", s.TenantID)
	switch {
	case s.WholeTenant():
		return db
	case s.Role == model.RoleManager && s.DepartmentPath != "":
		return db.Where("(u.id = ? OR u.department_id IN (?))", s.UserID,
			db.Session(&gorm.Session{NewDB: true}).Table("departments AS sd").Select("sd.id").
				Where("sd.tenant_id = ? AND sd.path LIKE ?", s.TenantID, s.DepartmentPath+"%"))
	default:
		return db.Where("u.id = ?", s.UserID)
	}
}
