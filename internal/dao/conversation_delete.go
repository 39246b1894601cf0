package dao

import (
	"context"
	"slices"

	"github.com/megaview/mgvcore/internal/model"
)

// derivedTables hold rows of a conversation by conversation_id and
// tenant_id; a deletion empties them for the conversations it deletes.
var derivedTables = []string{"participants", "transcript_parts", "conversation_metrics", "tracker_hits", "comments"}

// DeleteConversations deletes the tenant's conversations among ids with
// every row derived from them, and queues a search job for each, which
// finds the conversation gone and deletes its documents (through the
// outbox, so the index catches up when the engine is back). It runs in the
// transaction ctx carries, or in its own.
//
// The conversation rows are locked first, by an UPDATE as transcript
// writers lock them (LockForTranscripts), before the rows derived from
// them are touched: a transcript write that started first commits before the
// deletion reads on, and one that starts later finds no conversation.
func (r *Conversations) DeleteConversations(ctx context.Context, tenantID int64, ids []int64) ([]model.Conversation, error) {
	var gone []model.Conversation
	err := NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		ids = slices.Clone(ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		// Writing the rows first takes their locks on MySQL and the write
		// lock on SQLite, which refuses a reader that later tries to write.
		if err := db.Exec("UPDATE conversations SET updated_at = updated_at WHERE tenant_id = ? AND id IN ?", tenantID, ids).Error; err != nil {
			return err
		}
		gone = nil
		if err := db.Where("tenant_id = ? AND id IN ?", tenantID, ids).Order("id").Find(&gone).Error; err != nil || len(gone) == 0 {
			return err
		}
		present := make([]int64, len(gone))
		jobs := make([]model.OutboxJob, len(gone))
		for i, c := range gone {
			present[i] = c.ID
			jobs[i] = model.OutboxJob{TenantID: tenantID, Kind: model.OutboxConversation, ConversationID: c.ID}
		}
		if err := db.Exec("DELETE FROM conversations WHERE tenant_id = ? AND id IN ?", tenantID, present).Error; err != nil {
			return err
		}
		for _, table := range derivedTables {
			if err := db.Exec("DELETE FROM "+table+" WHERE tenant_id = ? AND conversation_id IN ?", tenantID, present).Error; err != nil {
				return err
			}
		}
		return enqueue(db, jobs...)
	})
	if err != nil {
		return nil, dbError(err, nil)
	}
	return gone, nil
}
