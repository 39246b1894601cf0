package dao

import (
	"context"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

var errCommentNotFound = errs.NotFound(errs.ReasonCommentNotFound, "no such comment")

// Comments stores the comments of conversations. A comment is visible to
// whoever may see its conversation.
type Comments struct{ db *gorm.DB }

// NewComments works on db.
func NewComments(db *gorm.DB) *Comments { return &Comments{db: db} }

// ScopedConversation returns a conversation the scope may see.
func (r *Comments) ScopedConversation(ctx context.Context, s model.Scope, id int64) (*model.Conversation, error) {
	c, err := NewConversations(r.db).Get(ctx, s, id)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// withAuthor selects comments (cm) with their author's name.
func withAuthor(q *gorm.DB) *gorm.DB {
	return q.Joins("LEFT JOIN users AS u ON u.id = cm.author_user_id").
		Select("cm.*, COALESCE(u.name, '') AS author_name")
}

// ListComments returns up to limit live comments of a conversation after the
// cursor (start_ms, id), and how many live comments it has.
func (r *Comments) ListComments(ctx context.Context, tenantID, conversationID int64, after *model.CommentCursor, limit int) ([]model.CommentWithAuthor, int64, error) {
	live := func() *gorm.DB {
		return conn(ctx, r.db).Table("comments AS cm").
			Where("cm.tenant_id = ? AND cm.conversation_id = ? AND cm.deleted_at IS NULL", tenantID, conversationID)
	}
	var total int64
	if err := live().Count(&total).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	q := withAuthor(live())
	if after != nil {
		q = q.Where("(cm.start_ms > ? OR (cm.start_ms = ? AND cm.id > ?))", after.StartMS, after.StartMS, after.ID)
	}
	var out []model.CommentWithAuthor
	err := q.Order("cm.start_ms").Order("cm.id").Limit(limit).Scan(&out).Error
	return out, total, dbError(err, nil)
}

// GetComment returns a live comment whose conversation the scope may see.
func (r *Comments) GetComment(ctx context.Context, s model.Scope, id int64) (*model.CommentWithAuthor, error) {
	q := conn(ctx, r.db).Table("comments AS cm").Joins("JOIN conversations AS c ON c.id = cm.conversation_id")
	var out []model.CommentWithAuthor
	err := withAuthor(ScopeConversations(q, s)).
		Where("cm.tenant_id = ? AND cm.id = ? AND cm.deleted_at IS NULL", s.TenantID, id).
		Limit(1).Scan(&out).Error
	switch {
	case err != nil:
		return nil, dbError(err, nil)
	case len(out) == 0:
		return nil, errCommentNotFound
	}
	return &out[0], nil
}

// CreateComment inserts c and sets its id, holding its conversation
// against a concurrent deletion until the insert commits (shareConversation):
// a conversation deleted first is CONVERSATION_NOT_FOUND, one deleted later
// takes the comment with it.
func (r *Comments) CreateComment(ctx context.Context, c *model.Comment) error {
	c.CreatedAt = dbNow()
	return NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		exists, err := shareConversation(db, c.TenantID, c.ConversationID)
		switch {
		case err != nil:
			return err
		case !exists:
			return conversation.ErrNotFound
		}
		return db.Create(c).Error
	})
}

// DeleteComment deletes a comment: the row stays, marked, so that replies
// keep their place in the thread, but its text goes.
func (r *Comments) DeleteComment(ctx context.Context, tenantID, id int64) error {
	res := conn(ctx, r.db).Exec("UPDATE comments SET deleted_at = ?, text = '' WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL",
		dbNow(), tenantID, id)
	switch {
	case res.Error != nil:
		return dbError(res.Error, nil)
	case res.RowsAffected == 0:
		return errCommentNotFound
	}
	return nil
}
