package conversation

import (
	"context"

	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// DeleteRepo removes conversations for good.
type DeleteRepo interface {
	// Get returns a conversation the scope may see; CONVERSATION_NOT_FOUND
	// otherwise.
	Get(ctx context.Context, s model.Scope, id int64) (model.Conversation, error)
	// DeleteConversations deletes the tenant's conversations among ids
	// with everything derived from them (participants, transcript,
	// metrics, tracker hits, comments) and queues the removal of their
	// search documents, in the transaction ctx carries. It returns the
	// rows it deleted; ids that are gone already are left out.
	DeleteConversations(ctx context.Context, tenantID int64, ids []int64) ([]model.Conversation, error)
}

// DeleteHook runs in the transaction that deletes conversations (the
// conversation.deleted event is written there), with the rows as they were.
// An error rolls the deletion back.
type DeleteHook interface {
	OnConversationsDeleted(ctx context.Context, deleted []model.Conversation) error
}

// DeleteHookFunc adapts a function to DeleteHook.
type DeleteHookFunc func(ctx context.Context, deleted []model.Conversation) error

// OnConversationsDeleted calls f.
func (f DeleteHookFunc) OnConversationsDeleted(ctx context.Context, deleted []model.Conversation) error {
	return f(ctx, deleted)
}

// Deleter deletes conversations: one by a caller's request, or batches of
// a tenant's for erasure and retention.
type Deleter struct {
	repo  DeleteRepo
	tx    Transactor
	hooks []DeleteHook
	// deleted runs after a deletion committed (the indexer drops what it
	// keeps of them and wakes up); it must not block.
	deleted func(ids []int64)
}

// NewDeleter deletes through repo, running hooks in each deletion's
// transaction.
func NewDeleter(repo DeleteRepo, tx Transactor, hooks ...DeleteHook) *Deleter {
	return &Deleter{repo: repo, tx: tx, hooks: hooks, deleted: func([]int64) {}}
}

// OnDeleted sets fn to run after every committed deletion.
func (d *Deleter) OnDeleted(fn func(ids []int64)) { d.deleted = fn }

// Delete deletes one conversation in the caller's scope (an admin, or an
// app holding "ingest"). A conversation that does not exist, is gone
// already or is out of scope is CONVERSATION_NOT_FOUND: a repeated delete
// answers 404 and changes nothing. Its origin id is free again, so a
// partner that ingests it once more creates a new conversation.
func (d *Deleter) Delete(ctx context.Context, id int64) error {
	s, err := access.Require(ctx, access.Ingest)
	if err != nil {
		return err
	}
	if err := access.CheckID("id", id); err != nil {
		return err
	}
	if _, err := d.repo.Get(ctx, s, id); err != nil {
		return err
	}
	gone, err := d.Purge(ctx, s.TenantID, []int64{id})
	if err == nil && len(gone) == 0 {
		// A concurrent delete won.
		err = ErrNotFound
	}
	return err
}

// Purge deletes the tenant's conversations among ids in one transaction
// (no caller check: erasure and retention decide what goes) and returns
// the ids of those it deleted.
func (d *Deleter) Purge(ctx context.Context, tenantID int64, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var gone []model.Conversation
	var deleted []int64
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if gone, err = d.repo.DeleteConversations(ctx, tenantID, ids); err != nil || len(gone) == 0 {
			return err
		}
		for _, h := range d.hooks {
			if err := h.OnConversationsDeleted(ctx, gone); err != nil {
				return err
			}
		}
		// The notice waits for the commit, the caller's when Purge runs
		// inside its transaction (an erasure counts each batch in it).
		deleted = make([]int64, len(gone))
		for i, c := range gone {
			deleted[i] = c.ID
		}
		d.tx.AfterCommit(ctx, func() { d.deleted(deleted) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}
