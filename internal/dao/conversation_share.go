package dao

import "gorm.io/gorm"

// shareMode is the clause of a MySQL read that takes shared row locks
// (MariaDB has no FOR SHARE); SQLite takes no row locks, its writers are
// serialised.
func shareMode(db *gorm.DB) string {
	if db.Name() == "mysql" {
		return " LOCK IN SHARE MODE"
	}
	return ""
}

// forUpdate is the clause of a MySQL read that takes exclusive row locks
// (a locking read, which reads the latest rows and fixes no snapshot);
// SQLite's writers are serialised.
func forUpdate(db *gorm.DB) string {
	if db.Name() == "mysql" {
		return " FOR UPDATE"
	}
	return ""
}

// shareConversation holds the tenant's conversation against deletion until
// the transaction db ends, and tells whether it exists. A row written under
// a conversation (a comment) takes it first, in its insert's transaction:
// DeleteConversations locks the conversation row exclusively before it
// deletes the rows derived from it, so the insert either commits first (and
// the deletion removes its row) or waits for the deletion and finds the
// conversation gone; no row outlives its conversation. MySQL takes a shared
// lock, so inserts under one conversation do not queue behind each other.
// SQLite takes the write lock by a no-op write first, as it refuses a
// reader that later tries to write (see LockForTranscripts).
func shareConversation(db *gorm.DB, tenantID, id int64) (bool, error) {
	if db.Name() != "mysql" {
		res := db.Exec("UPDATE conversations SET updated_at = updated_at WHERE tenant_id = ? AND id = ?", tenantID, id)
		return res.RowsAffected > 0, res.Error
	}
	var ids []int64
	err := db.Raw("SELECT id FROM conversations WHERE tenant_id = ? AND id = ?"+shareMode(db), tenantID, id).Scan(&ids).Error
	return len(ids) > 0, err
}
