package dao

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// RefreshTokens stores refresh tokens by the SHA-256 of the token.
type RefreshTokens struct{ db *gorm.DB }

// NewRefreshTokens works on db.
func NewRefreshTokens(db *gorm.DB) *RefreshTokens { return &RefreshTokens{db: db} }

var errRefreshTokenNotFound = errs.NotFound(errs.ReasonRefreshTokenNotFound, "no such refresh token")

// Create inserts t.
func (r *RefreshTokens) Create(ctx context.Context, t *model.RefreshToken) error {
	return dbError(conn(ctx, r.db).Create(t).Error, nil)
}

// ByHash finds a token, spent and revoked ones included.
func (r *RefreshTokens) ByHash(ctx context.Context, hash string) (*model.RefreshToken, error) {
	var t model.RefreshToken
	if err := conn(ctx, r.db).Where("token_hash = ?", hash).Take(&t).Error; err != nil {
		return nil, dbError(err, errRefreshTokenNotFound)
	}
	return &t, nil
}

// Rotate spends the token with oldHash and stores next in one transaction.
// The conditional update is the arbiter between concurrent refreshes: only
// one of them changes the row, the others see no row affected and get
// false. On MySQL two of them can deadlock (the winner's insert of next
// against the other's wait on the row); the victim is run again and then
// finds the token spent, so a lost race is always told as one, never as
// an error that would pass over the reuse.
func (r *RefreshTokens) Rotate(ctx context.Context, oldHash string, usedAt time.Time, next *model.RefreshToken) (bool, error) {
	won := false
	run := func(tx *gorm.DB) error {
		won = false
		next.ID = 0 // an id a run rolled back gave it
		res := tx.Model(&model.RefreshToken{}).
			Where("token_hash = ? AND used_at IS NULL AND revoked_at IS NULL", oldHash).
			Update("used_at", usedAt)
		if res.Error != nil {
			return dbError(res.Error, nil)
		}
		if res.RowsAffected != 1 {
			return nil
		}
		if err := tx.Create(next).Error; err != nil {
			return dbError(err, nil)
		}
		won = true
		return nil
	}
	if err := dbError(inTxRetrying(ctx, r.db, run), nil); err != nil {
		return false, err
	}
	return won, nil
}

// RevokeFamily revokes every token of one login; a deadlock victim is run
// again, as in Rotate: this is what ends a stolen token's family.
func (r *RefreshTokens) RevokeFamily(ctx context.Context, familyID string, at time.Time) error {
	return dbError(inTxRetrying(ctx, r.db, func(tx *gorm.DB) error {
		return tx.Model(&model.RefreshToken{}).
			Where("family_id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", at).Error
	}), nil)
}

// RevokeUser revokes every token of a user.
func (r *RefreshTokens) RevokeUser(ctx context.Context, tenantID, userID int64, at time.Time) error {
	return dbError(conn(ctx, r.db).Model(&model.RefreshToken{}).
		Where("user_id = ? AND tenant_id = ? AND revoked_at IS NULL", userID, tenantID).Update("revoked_at", at).Error, nil)
}

// RevokeUsers revokes every token of the users userIDs of tenantID, in
// statements of at most revokeUsersBatch users.
func (r *RefreshTokens) RevokeUsers(ctx context.Context, tenantID int64, userIDs []int64, at time.Time) error {
	for chunk := range slices.Chunk(userIDs, revokeUsersBatch) {
		err := conn(ctx, r.db).Model(&model.RefreshToken{}).
			Where("user_id IN ? AND tenant_id = ? AND revoked_at IS NULL", chunk, tenantID).Update("revoked_at", at).Error
		if err != nil {
			return dbError(err, nil)
		}
	}
	return nil
}

// revokeUsersBatch bounds the users of one statement of RevokeUsers.
const revokeUsersBatch = 1000
