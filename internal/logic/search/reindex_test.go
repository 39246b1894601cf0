package search

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/search"
)

// rebuildDB is the database a rebuild reads: conversation ids, which the
// test deletes from while the rebuild runs.
type rebuildDB struct{ ids map[int64]bool }

func (d *rebuildDB) ConversationIDs(_ context.Context, _ int64, after int64, limit int) ([]int64, error) {
	var out []int64
	for _, id := range slices.Sorted(maps.Keys(d.ids)) {
		if id > after && len(out) < limit {
			out = append(out, id)
		}
	}
	return out, nil
}

func (d *rebuildDB) Load(_ context.Context, ids []int64, _ KnownTranscripts) (map[int64]*search.Doc, map[int64]Stamp, error) {
	docs := map[int64]*search.Doc{}
	for _, id := range ids {
		if d.ids[id] {
			docs[id] = &search.Doc{ConversationID: id, Version: 1}
		}
	}
	return docs, nil, nil
}

func (d *rebuildDB) Stamps(_ context.Context, ids []int64) (map[int64]Stamp, error) {
	out := map[int64]Stamp{}
	for _, id := range ids {
		if d.ids[id] {
			out[id] = Stamp{Version: 1}
		}
	}
	return out, nil
}

// index is one index of the rebuilding engine: the documents it holds.
type index map[int64]bool

func (ix index) write(ops []search.Op) []error {
	for _, op := range ops {
		if op.Doc == nil {
			delete(ix, op.ConversationID)
		} else {
			ix[op.ConversationID] = true
		}
	}
	return make([]error, len(ops))
}

// rebuildEngine writes to live (the alias) and builds gen; hooks run
// after each write to gen and right after the swap.
type rebuildEngine struct {
	search.Engine
	live, gen  index
	afterWrite func(written int)
	afterSwap  func()
	writes     int
	// swapped is set by the swap; swapFails makes it fail after the swap,
	// as a failed deletion of the old index does.
	swapped, swapFails bool
	// refuse are conversations the new index refuses one by one.
	refuse map[int64]bool
}

func (e *rebuildEngine) Write(_ context.Context, ops []search.Op) ([]error, error) {
	return e.live.write(ops), nil
}

func (e *rebuildEngine) NewGeneration(context.Context) (search.Generation, error) {
	e.gen = index{}
	return (*generation)(e), nil
}

type generation rebuildEngine

func (g *generation) Name() string { return "gen" }

func (g *generation) Write(_ context.Context, ops []search.Op) ([]error, error) {
	out := g.gen.write(ops)
	for i, op := range ops {
		if g.refuse[op.ConversationID] {
			delete(g.gen, op.ConversationID)
			out[i] = errors.New("elasticsearch 413: too large")
		}
	}
	g.writes += len(ops)
	if g.afterWrite != nil {
		g.afterWrite(g.writes)
	}
	return out, nil
}

func (g *generation) Activate(context.Context) ([]string, error) {
	g.live, g.swapped = g.gen, true
	if g.afterSwap != nil {
		g.afterSwap()
	}
	if g.swapFails {
		return nil, fmt.Errorf("%w: deleting the old index: timeout", search.ErrAfterSwap)
	}
	return []string{"old"}, nil
}

func (g *generation) Abort(context.Context) error { return nil }

type noQueue struct{}

func (noQueue) EnqueueTenant(context.Context, int64) (int64, error) { return 0, nil }
func (noQueue) EnqueueUpdatedSince(context.Context, time.Time, time.Time) (int64, error) {
	return 0, nil
}
func (noQueue) EnqueueConversations(context.Context, []int64) (int64, error) { return 0, nil }

// TestReindexDropsWhatWasDeletedMeanwhile: conversations deleted while a
// rebuild runs had their search jobs run on the old index, and leave no
// row for the catch-up. The new index must not bring them back, whether
// they went during the load or between the first look and the swap.
func TestReindexDropsWhatWasDeletedMeanwhile(t *testing.T) {
	db := &rebuildDB{ids: map[int64]bool{}}
	for id := int64(1); id <= 10; id++ {
		db.ids[id] = true
	}
	engine := &rebuildEngine{live: index{}}
	// What the live indexers do for a deletion: remove it from the
	// index the alias names at the time.
	deleteNow := func(id int64) {
		delete(db.ids, id)
		_, _ = engine.Write(context.Background(), []search.Op{{ConversationID: id}})
	}
	engine.afterWrite = func(written int) {
		if written == 4 { // conversations 1–4 are in the new index
			deleteNow(2)
			deleteNow(3)
		}
	}
	engine.afterSwap = func() {
		if db.ids[7] {
			// Deleted after the first look, its job ran on the old
			// index an instant before the swap.
			delete(db.ids, 7)
		}
	}
	res, err := NewReindex(engine, db, noQueue{}, nil, 2).Run(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(engine.live)), []int64{1, 4, 5, 6, 8, 9, 10}; !slices.Equal(got, want) {
		t.Fatalf("the new index holds %v, want %v", got, want)
	}
	if res.Conversations != 10 || res.Removed != 3 {
		t.Fatalf("wrote %d, removed %d; want 10 and 3", res.Conversations, res.Removed)
	}
}

// catchUps records the catch-ups queued, and whether the swap had been
// made when each was.
type catchUps struct {
	noQueue
	engine *rebuildEngine
	queued []catchUp
}

type catchUp struct {
	due     time.Time
	swapped bool
}

func (q *catchUps) EnqueueUpdatedSince(_ context.Context, _ time.Time, due time.Time) (int64, error) {
	q.queued = append(q.queued, catchUp{due: due, swapped: q.engine.swapped})
	return 1, nil
}

// The live indexers write what changes during a rebuild to the old index
// and drop their jobs: the catch-up that brings it to the new one must be
// queued before the swap, due after it, so that a process killed at the
// swap loses nothing. A swap whose drop of the previous index failed has
// still swapped: the catch-up and the removal of what was deleted
// meanwhile run all the same, and the error is returned.
func TestReindexQueuesTheCatchUpBeforeTheSwap(t *testing.T) {
	for _, fails := range []bool{false, true} {
		db := &rebuildDB{ids: map[int64]bool{1: true, 2: true, 3: true}}
		engine := &rebuildEngine{live: index{}, swapFails: fails}
		// Erased after the first look, its job ran on the old index.
		engine.afterSwap = func() { delete(db.ids, 3) }
		q := &catchUps{engine: engine}
		start := time.Now()
		_, err := NewReindex(engine, db, q, nil, 2).Run(context.Background(), 0, nil)
		if (err != nil) != fails || (fails && !errors.Is(err, search.ErrAfterSwap)) {
			t.Fatalf("swap failing %v: %v", fails, err)
		}
		if len(q.queued) != 2 || q.queued[0].swapped || q.queued[0].due.Before(start.Add(catchUpDelay)) ||
			!q.queued[1].swapped || !q.queued[1].due.IsZero() {
			t.Fatalf("swap failing %v: catch-ups %+v; want one queued before the swap, due %s after, and one after it, due at once",
				fails, q.queued, catchUpDelay)
		}
		if got := slices.Sorted(maps.Keys(engine.live)); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("swap failing %v: the new index holds %v, want [1 2] (3 was erased meanwhile)", fails, got)
		}
	}
}

// queued records the conversations queued one by one.
type queued struct {
	noQueue
	ids []int64
}

func (q *queued) EnqueueConversations(_ context.Context, ids []int64) (int64, error) {
	q.ids = append(q.ids, ids...)
	return int64(len(ids)), nil
}

// A conversation the new index refuses does not stop the rebuild: the
// others are written and swapped in, the refused one is named, queued for
// the running indexers, and the rebuild says it went live without it.
func TestReindexGoesOnPastARefusedConversation(t *testing.T) {
	db := &rebuildDB{ids: map[int64]bool{}}
	for id := int64(1); id <= 6; id++ {
		db.ids[id] = true
	}
	engine := &rebuildEngine{live: index{}, refuse: map[int64]bool{3: true}}
	q := &queued{}
	res, err := NewReindex(engine, db, q, nil, 2).Run(context.Background(), 0, nil)
	if !errors.Is(err, ErrFailedConversations) || !strings.Contains(err.Error(), "conversation 3") {
		t.Fatalf("err %v, want ErrFailedConversations naming conversation 3", err)
	}
	if !engine.swapped {
		t.Fatal("the new index was not swapped in")
	}
	if got := slices.Sorted(maps.Keys(engine.live)); !slices.Equal(got, []int64{1, 2, 4, 5, 6}) {
		t.Fatalf("the new index holds %v, want every conversation but 3", got)
	}
	if res.Conversations != 5 || len(res.Failed) != 1 || res.Failed[0].ConversationID != 3 || !slices.Equal(q.ids, []int64{3}) {
		t.Fatalf("wrote %d, failed %+v, queued %v; want 5 written, 3 failed and queued", res.Conversations, res.Failed, q.ids)
	}
}
