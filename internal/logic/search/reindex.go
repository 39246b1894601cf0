package search

import (
	"context"
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
	EnqueueUpdatedSince(ctx context.Context, t time.Time) (int64, error)
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
}

// catchUpMargin widens the catch-up window over clock differences between
// the database and this process.
const catchUpMargin = time.Minute

// Run rebuilds. With a tenant, or on an engine that cannot build an index
// beside the live one (embedded), it queues a re-index of the conversations
// for the running indexers. Otherwise it loads every conversation into a new
// index version, swaps the alias and queues the conversations changed
// meanwhile, which the live indexers wrote to the old index: searching and
// indexing go on throughout.
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
		for i, e := range results {
			if e != nil {
				return abort(fmt.Errorf("conversation %d: %w", ops[i].ConversationID, e))
			}
		}
		res.Conversations += len(ops)
		if progress != nil {
			progress(res.Conversations)
		}
	}
	if res.Previous, err = gen.Activate(ctx); err != nil {
		return res, err
	}
	res.Queued, err = r.queue.EnqueueUpdatedSince(ctx, start.Add(-catchUpMargin))
	return res, err
}
