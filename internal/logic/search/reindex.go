package search

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/megaview/mgvcore/internal/search"
)

// RebuildSource lists and reads every conversation (dao.SearchDocs).
type RebuildSource interface {
	DocLoader
	ConversationIDs(ctx context.Context, tenantID, after int64, limit int) ([]int64, error)
}

// Enqueuer queues re-index jobs (dao.SearchOutbox).
type Enqueuer interface {
	EnqueueTenant(ctx context.Context, tenantID int64) (int64, error)
	// EnqueueUpdatedSince queues the conversations changed since t, due
	// at due (zero: now).
	EnqueueUpdatedSince(ctx context.Context, t, due time.Time) (int64, error)
	// EnqueueConversations queues the conversations ids, due now.
	EnqueueConversations(ctx context.Context, ids []int64) (int64, error)
}

// Reindex rebuilds the search index from the database (`mgvcore reindex`).
type Reindex struct {
	engine search.Engine
	src    RebuildSource
	queue  Enqueuer
	pacer  Pacer
	batch  int
}

// NewReindex rebuilds engine's index from src in batches of batch
// conversations, one bulk request each, paced by pacer (nil: unpaced).
func NewReindex(engine search.Engine, src RebuildSource, queue Enqueuer, pacer Pacer, batch int) *Reindex {
	return &Reindex{engine: engine, src: src, queue: queue, pacer: pacer, batch: max(batch, 1)}
}

// ReindexResult says what a reindex did.
type ReindexResult struct {
	// Index is the new index (empty when the work went through the outbox).
	Index    string
	Previous []string
	// Conversations were written to the new index.
	Conversations int
	// Queued jobs were added to the outbox for the running indexers.
	Queued int64
	// Removed conversations were written to the new index and deleted from
	// the database before it went live, and removed from it again.
	Removed int
	// Failed conversations were refused by the new index one by one (a
	// document too large for the cluster, say): the rebuild went on
	// without them, and queued them for the running indexers once the
	// new index was live. Run returns ErrFailedConversations then.
	Failed []FailedConversation
}

// FailedConversation is a conversation the new index refused, and why.
type FailedConversation struct {
	ConversationID int64
	Err            error
}

// ErrFailedConversations is Run's error when the new index went live
// without some conversations (ReindexResult.Failed).
var ErrFailedConversations = errors.New("the new index is live, but some conversations could not be written to it")

// catchUpMargin widens the catch-up window over clock differences between
// the database and this process.
const catchUpMargin = time.Minute

// catchUpDelay is how long after it is queued the catch-up queued before
// the swap is due: well past the swap (a settings update, a refresh of the
// new index, which a large one may take a minute or more for, and the
// alias change), and past the clock differences of the instances whose
// indexers claim the jobs by their own clocks. Until then, an erasure
// whose conversations were also changed during the rebuild waits for
// those jobs too.
const catchUpDelay = 10 * time.Minute

// Run rebuilds. With a tenant, or on an engine that cannot build an index
// beside the live one (embedded), it queues a re-index of the conversations
// for the running indexers. Otherwise it loads every conversation into a new
// index version, swaps the alias and queues the conversations changed
// meanwhile, which the live indexers wrote to the old index: searching and
// indexing go on throughout.
//
// A conversation deleted meanwhile (deleted, erased, past retention) leaves
// no row to queue: its search job removed it from the old index only. So
// the conversations written to the new index that are gone from the
// database are removed from it before the swap. A deletion after that has
// its job delete from the index being built as well (the Elasticsearch
// engine sends deletions to every version the alias does not name), so a
// rebuild killed at the swap brings nothing back; the removal is run again
// after the swap all the same. Without that, a rebuild would bring an
// erased person's words back. The ids written are kept for this, 8 bytes a
// conversation.
func (r *Reindex) Run(ctx context.Context, tenantID int64, progress func(done int)) (ReindexResult, error) {
	var res ReindexResult
	rb, ok := r.engine.(search.Rebuilder)
	if tenantID != 0 || !ok {
		n, err := r.queue.EnqueueTenant(ctx, tenantID)
		res.Queued = n
		return res, err
	}
	start := time.Now()
	gen, err := rb.NewGeneration(ctx)
	if err != nil {
		return res, err
	}
	res.Index = gen.Name()
	abort := func(err error) (ReindexResult, error) {
		actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = gen.Abort(actx)
		return res, err
	}
	var after int64
	var written []int64
	for {
		ids, err := r.src.ConversationIDs(ctx, 0, after, r.batch)
		if err != nil {
			return abort(err)
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		docs, _, err := r.src.Load(ctx, ids, nil)
		if err != nil {
			return abort(err)
		}
		ops := make([]search.Op, 0, len(docs))
		for _, id := range ids {
			if d := docs[id]; d != nil {
				ops = append(ops, search.Op{TenantID: d.TenantID, ConversationID: id, Doc: d})
			}
		}
		if r.pacer != nil {
			if err := r.pacer.Wait(ctx); err != nil {
				return abort(err)
			}
		}
		results, err := gen.Write(ctx, ops)
		if err != nil {
			return abort(err)
		}
		// One conversation the new index refuses does not stop the
		// rebuild: every other one would wait on it.
		for i, op := range ops {
			if e := results[i]; e != nil {
				res.Failed = append(res.Failed, FailedConversation{ConversationID: op.ConversationID, Err: e})
				continue
			}
			written = append(written, op.ConversationID)
			res.Conversations++
		}
		if progress != nil {
			progress(res.Conversations)
		}
	}
	written, removed, err := r.removeGone(ctx, gen.Write, written)
	if err != nil {
		return abort(err)
	}
	// The catch-up is queued once before the swap, due after it: the live
	// indexers wrote what changed meanwhile to the old index and dropped
	// their jobs, so a process killed at the swap (or whose swap failed
	// to delete the old index) would otherwise leave the new index
	// without those changes for good. The jobs queued after the swap
	// below run at once; these run again, harmlessly, a little later.
	if _, err := r.queue.EnqueueUpdatedSince(ctx, start.Add(-catchUpMargin), time.Now().Add(catchUpDelay)); err != nil {
		return abort(err)
	}
	res.Previous, err = gen.Activate(ctx)
	if err != nil && !errors.Is(err, search.ErrAfterSwap) {
		return res, err
	}
	// The new index is the searched one, even when dropping the previous
	// ones failed: what follows the swap runs all the same, or what was
	// erased meanwhile would stay in it.
	swapErr := err
	// What is gone now was deleted since the first look.
	_, more, err := r.removeGone(ctx, r.engine.Write, written)
	res.Removed = removed + more
	if err != nil {
		return res, errors.Join(swapErr, err)
	}
	res.Queued, err = r.queue.EnqueueUpdatedSince(ctx, start.Add(-catchUpMargin), time.Time{})
	if err != nil {
		return res, errors.Join(swapErr, err)
	}
	return res, errors.Join(swapErr, r.queueFailed(ctx, &res))
}

// queueFailed queues the conversations the new index refused, so that the
// running indexers retry them (and their jobs, their errors and the index
// lag show them), and says which they were.
func (r *Reindex) queueFailed(ctx context.Context, res *ReindexResult) error {
	if len(res.Failed) == 0 {
		return nil
	}
	ids := make([]int64, len(res.Failed))
	for i, f := range res.Failed {
		ids[i] = f.ConversationID
	}
	n, err := r.queue.EnqueueConversations(ctx, ids)
	res.Queued += n
	if err != nil {
		return fmt.Errorf("%w (%d); queueing them for the indexers: %w", ErrFailedConversations, len(ids), err)
	}
	return fmt.Errorf("%w: %d, queued for the running indexers, which retry them; the first: conversation %d: %w",
		ErrFailedConversations, len(ids), ids[0], res.Failed[0].Err)
}

// removeGone removes from an index, through write, the conversations among
// ids that no longer exist, in batches. It returns the ids still present
// (ids compacted in place) and how many it removed.
func (r *Reindex) removeGone(ctx context.Context, write func(context.Context, []search.Op) ([]error, error), ids []int64) (kept []int64, removed int, err error) {
	kept = ids[:0]
	for start := 0; start < len(ids); start += r.batch {
		batch := ids[start:min(start+r.batch, len(ids))]
		present, err := r.src.Stamps(ctx, batch)
		if err != nil {
			return nil, removed, err
		}
		var ops []search.Op
		for _, id := range batch {
			if _, ok := present[id]; ok {
				kept = append(kept, id)
			} else {
				ops = append(ops, search.Op{ConversationID: id})
			}
		}
		if len(ops) == 0 {
			continue
		}
		results, err := write(ctx, ops)
		if err != nil {
			return nil, removed, err
		}
		for i, e := range results {
			if e != nil {
				return nil, removed, fmt.Errorf("removing conversation %d, deleted during the rebuild: %w", ops[i].ConversationID, e)
			}
		}
		removed += len(ops)
	}
	return kept, removed, nil
}
