package search

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// clock is a settable now for the kept transcripts.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRecentTranscriptsLiveAtMostTheirTTL(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	r := newRecentTranscripts(1<<20, 10*time.Second)
	r.now = c.now
	r.put(1, 7, 1, recentSentences(2, 100))
	c.t = c.t.Add(4 * time.Second)
	r.put(1, 8, 1, recentSentences(2, 100))
	c.t = c.t.Add(5 * time.Second) // 7 is 9 s old, 8 is 5 s
	if _, ok := r.get(7, 1); !ok {
		t.Fatal("dropped before its ttl")
	}
	c.t = c.t.Add(time.Second) // 7 is 10 s old
	if _, ok := r.get(7, 1); ok {
		t.Error("answered past its ttl")
	}
	r.expire()
	if _, n := r.size(); n != 1 {
		t.Fatalf("%d kept after 7 expired, want 1", n)
	}
	if _, ok := r.get(8, 1); !ok {
		t.Error("8 dropped before its ttl")
	}
	// A put drops what has expired too, with no sweep.
	c.t = c.t.Add(10 * time.Second)
	r.put(2, 9, 1, recentSentences(1, 100))
	if got := r.held(); len(got) != 1 || got[9] != 1 {
		t.Errorf("held %v after a put past 8's ttl, want only 9", got)
	}
	// A newer version restarts the clock of its conversation only.
	c.t = c.t.Add(9 * time.Second)
	r.put(2, 9, 2, recentSentences(1, 100))
	c.t = c.t.Add(9 * time.Second)
	r.expire()
	if _, ok := r.get(9, 2); !ok {
		t.Error("the newer version expired with the older one's clock")
	}
	// No ttl, nothing kept.
	none := newRecentTranscripts(1<<20, 0)
	none.put(1, 1, 1, recentSentences(1, 100))
	if _, n := none.size(); n != 0 {
		t.Error("kept with a ttl of 0")
	}
}

func TestRecentTranscriptsForgetDeletedAndRewritten(t *testing.T) {
	r := newRecentTranscripts(1<<20, time.Hour)
	r.put(1, 1, 3, recentSentences(2, 100)) // deleted elsewhere
	r.put(1, 2, 3, recentSentences(2, 100)) // written again elsewhere: 4
	r.put(2, 3, 3, recentSentences(2, 100)) // unchanged
	r.put(2, 4, 5, recentSentences(2, 100)) // put after the read: 4 there
	n := r.forget([]int64{1, 2, 3, 4, 5}, map[int64]int64{2: 4, 3: 3, 4: 4})
	if n != 2 {
		t.Errorf("forgot %d, want 2", n)
	}
	if got := r.held(); len(got) != 2 || got[3] != 3 || got[4] != 5 {
		t.Errorf("held %v, want 3 at 3 and 4 at 5", got)
	}
	use := r.usage()
	if len(use) != 1 || use[2].entries != 2 || use[2].bytes <= 0 {
		t.Errorf("usage %+v, want only tenant 2 with 2 entries", use)
	}
	r.clear()
	if bytes, n := r.size(); bytes != 0 || n != 0 || len(r.usage()) != 0 {
		t.Errorf("clear left %d bytes in %d entries, usage %v", bytes, n, r.usage())
	}
}

// stampDocs has the conversations of versions, at their version.
type stampDocs struct {
	DocLoader
	mu       sync.Mutex
	versions map[int64]int64
	reads    int
}

func (s *stampDocs) Stamps(_ context.Context, ids []int64) (map[int64]Stamp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	out := map[int64]Stamp{}
	for _, id := range ids {
		if v, ok := s.versions[id]; ok {
			out[id] = Stamp{Version: v}
		}
	}
	return out, nil
}

func (s *stampDocs) set(id, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version == 0 {
		delete(s.versions, id)
	} else {
		s.versions[id] = version
	}
}

// TestIndexerSweepDropsWhatAnotherInstanceDeleted: this process kept two
// transcripts another instance indexed (so its own indexer never lets them
// go); a deletion there reaches the gauge here at the next sweep, long
// before the ttl.
func TestIndexerSweepDropsWhatAnotherInstanceDeleted(t *testing.T) {
	docs := &stampDocs{versions: map[int64]int64{}}
	reg := prometheus.NewRegistry()
	ix, err := NewIndexer(&fakeEngine{}, &fakeJobs{retried: map[int64]error{}, jobs: map[int64]*model.OutboxJob{}}, docs,
		IndexerOptions{PollInterval: time.Hour, Lease: time.Minute, MaxLag: time.Minute, RecentTTL: time.Hour, RecentSweep: 20 * time.Millisecond},
		zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.RecentBound(); got != time.Hour+20*time.Millisecond {
		t.Errorf("RecentBound %s", got)
	}
	commit := func(tenant, id, version int64, text string) {
		docs.set(id, version)
		ix.Committed(&conversation.TranscriptWrite{Conversation: model.Conversation{TenantID: tenant, ID: id, TranscriptVersion: version},
			Sentences: []model.Sentence{{ConversationID: id, Text: text}}})
	}
	commit(5, 1, 1, "my phone is 138 0000 0000")
	commit(5, 2, 1, "call me back")
	commit(6, 3, 1, "another tenant")
	if n := testutil.CollectAndCount(recentCollector{ix.recent}, "mgv_search_recent_transcripts"); n != 2 {
		t.Fatalf("gauge has %d tenants, want 2", n)
	}
	if err := testutil.CollectAndCompare(recentCollector{ix.recent}, strings.NewReader(`
# HELP mgv_search_recent_transcripts Transcripts committed in this process and kept in memory for the indexer, by tenant (tenants keeping none are not listed).
# TYPE mgv_search_recent_transcripts gauge
mgv_search_recent_transcripts{tenant_id="5"} 2
mgv_search_recent_transcripts{tenant_id="6"} 1
`), "mgv_search_recent_transcripts"); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	ix.Start()
	defer func() { _ = ix.Stop(context.Background()) }()
	// Another instance deletes 1 and writes 3 again.
	docs.set(1, 0)
	docs.set(3, 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		held := ix.recent.held()
		if len(held) == 1 && held[2] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still held %v after 5 s of 20 ms sweeps", held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := testutil.CollectAndCompare(recentCollector{ix.recent}, strings.NewReader(`
# HELP mgv_search_recent_transcripts Transcripts committed in this process and kept in memory for the indexer, by tenant (tenants keeping none are not listed).
# TYPE mgv_search_recent_transcripts gauge
mgv_search_recent_transcripts{tenant_id="5"} 1
`), "mgv_search_recent_transcripts"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(ix.forgotten); got != 2 {
		t.Errorf("forgotten %v, want 2", got)
	}
	// Stopped, the indexer keeps nothing.
	if err := ix.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n := ix.recent.size(); n != 0 {
		t.Errorf("%d kept after Stop", n)
	}
}

// TestIndexerSweepReadsNothingWhenNothingIsKept: an idle instance does not
// query the database for its sweeps.
func TestIndexerSweepReadsNothingWhenNothingIsKept(t *testing.T) {
	docs := &stampDocs{versions: map[int64]int64{}}
	ix, err := NewIndexer(&fakeEngine{}, nil, docs, IndexerOptions{RecentTTL: time.Hour}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ix.sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if docs.reads != 0 {
		t.Errorf("%d reads with nothing kept", docs.reads)
	}
	if ix.RecentBound() != time.Hour+DefaultRecentSweep {
		t.Errorf("default sweep: bound %s", ix.RecentBound())
	}
}

// TestIndexerSweepReadsInBoundedChunks: many kept transcripts are checked
// sweepChunk at a time, and every deleted one goes.
func TestIndexerSweepReadsInBoundedChunks(t *testing.T) {
	docs := &stampDocs{versions: map[int64]int64{}}
	ix, err := NewIndexer(&fakeEngine{}, nil, docs, IndexerOptions{RecentTTL: time.Hour}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*sweepChunk + 10
	for id := int64(1); id <= n; id++ {
		ix.recent.put(1, id, 1, recentSentences(1, 64))
		if id%2 == 0 {
			docs.set(id, 1) // the odd ones were deleted elsewhere
		}
	}
	if err := ix.sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if docs.reads != 3 {
		t.Errorf("%d reads for %d kept, want 3", docs.reads, n)
	}
	held := ix.recent.held()
	if len(held) != n/2 {
		t.Errorf("%d kept after the sweep, want %d", len(held), n/2)
	}
	for id := range held {
		if id%2 == 1 {
			t.Fatalf("deleted %d still kept", id)
		}
	}
}
