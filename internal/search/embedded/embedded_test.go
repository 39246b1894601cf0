package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/searchtest"
)

func TestBehaviour(t *testing.T) {
	searchtest.Run(t, searchtest.Options{
		New: func(t *testing.T) search.Engine {
			e, err := Open(filepath.Join(t.TempDir(), "search"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := e.Close(); err != nil {
					t.Error(err)
				}
			})
			return e
		},
		Stemming:   true,
		CJKBigrams: true,
		// bleve's tokenizer drops full-width digits (１２０万 is indexed as
		// 万 alone), though cjk_width folds full-width letters.
		WidthFolding: false,
	})
}

func TestReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	e, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc := &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 2, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: "预算有限"}}}
	if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 1, Doc: doc}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	terms, _ := search.Parse("预算")
	res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
	if err != nil || res.Total != 1 {
		t.Fatalf("after reopen: %+v %v", res, err)
	}
}

func TestSecondOpenerWaitsForTheLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	first, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, second)
	if err := second.Ping(t.Context()); !searchtest.IsUnavailable(err) {
		t.Fatalf("ping while the first holds the index: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for second.Ping(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the second engine never opened the index")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A search or a write on the new process of an upgrade waits for the
// index its parent holds, rather than answering UNAVAILABLE until the
// parent has let go; past HandoverWait it answers UNAVAILABLE.
func TestSearchAndWriteWaitForTheIndexHandedOver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	parent, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc := func(id int64) *search.Doc {
		return &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 2, Version: 1,
			Sentences: []search.Sentence{{Seq: 0, Text: "预算有限"}}}
	}
	if _, err := parent.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 1, Doc: doc(1)}}); err != nil {
		t.Fatal(err)
	}
	child, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, child)

	const held = 300 * time.Millisecond
	terms, _ := search.Parse("预算")
	type answer struct {
		total int64
		err   error
		took  time.Duration
	}
	searched, wrote := make(chan answer, 1), make(chan answer, 1)
	began := time.Now()
	go func() {
		res, err := child.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
		searched <- answer{res.Total, err, time.Since(began)}
	}()
	go func() {
		_, err := child.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 2, Doc: doc(2)}})
		wrote <- answer{0, err, time.Since(began)}
	}()
	time.Sleep(held)
	if err := parent.Close(); err != nil {
		t.Fatal(err)
	}
	s, w := <-searched, <-wrote
	if s.err != nil || s.total < 1 {
		t.Fatalf("search while the parent held the index: total %d, %v after %s", s.total, s.err, s.took)
	}
	if w.err != nil {
		t.Fatalf("write while the parent held the index: %v after %s", w.err, w.took)
	}
	if s.took < held || w.took < held {
		t.Fatalf("answered in %s and %s, before the parent let go", s.took, w.took)
	}
	res, err := child.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
	if err != nil || res.Total != 2 {
		t.Fatalf("after the handover: %+v %v", res, err)
	}

	// A parent that never lets go: UNAVAILABLE after the bound.
	other, err := Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, other)
	stuck, err := Open(other.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, stuck)
	stuck.handoverWait = held
	began = time.Now()
	_, err = stuck.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
	if took := time.Since(began); !searchtest.IsUnavailable(err) || took < held || took > held+2*time.Second {
		t.Fatalf("search on an index never handed over: %v after %s, want UNAVAILABLE after %s", err, took, held)
	}
}

func closeEngine(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Error(err)
	}
}

// An index directory that holds no store, as one made ahead of the first
// start or left by a full disk or a kill while bleve was creating the
// index, is made anew; one that holds anything else is refused untouched.
func TestOpenMakesAnUnmadeIndex(t *testing.T) {
	for name, meta := range map[string]*string{
		"empty directory":    nil,
		"empty metadata":     new(""),
		"truncated metadata": new(`{"storage":"scorch","index_`),
		"metadata, no store": new(`{"storage":"scorch","index_type":"scorch"}`),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "search")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if meta != nil {
				if err := os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte(*meta), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			e, err := Open(dir)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer closeEngine(t, e)
			doc := &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 2, Version: 1,
				Sentences: []search.Sentence{{Seq: 0, Text: "预算有限"}}}
			if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 1, Doc: doc}}); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("something else in it", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "search")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(dir, "notes.txt")
		if err := os.WriteFile(other, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		if e, err := Open(dir); err == nil {
			closeEngine(t, e)
			t.Fatal("Open made an index over a directory holding another file")
		}
		if b, err := os.ReadFile(other); err != nil || string(b) != "keep" {
			t.Fatalf("the other file: %q %v", b, err)
		}
	})
}

// TestWritesWaitForFreeSpace: with less free space on its file system than
// it keeps for writing, the index refuses writes and purges as
// unavailable, naming the space; bleve would otherwise end the process
// when the disk fills in the middle of a write.
// Searches go on.
func TestWritesWaitForFreeSpace(t *testing.T) {
	e, err := Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	doc := func(id int64) []search.Op {
		return []search.Op{{TenantID: 1, ConversationID: id, Doc: &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 2, Version: 1,
			Sentences: []search.Sentence{{Seq: 0, Text: "预算有限"}}}}}
	}
	if _, err := e.Write(t.Context(), doc(1)); err != nil {
		t.Fatal(err)
	}
	e.minFree = math.MaxUint64 // more than any disk has
	for name, err := range map[string]error{
		"write": func() error { _, err := e.Write(t.Context(), doc(2)); return err }(),
		"purge": e.purge(t.Context()),
		"room":  e.roomToWrite(),
	} {
		if errs.ReasonOf(err) != errs.ReasonDependencyUnavailable || !strings.Contains(err.Error(), "MiB free on") {
			t.Errorf("%s with no room: %v", name, err)
		}
	}
	terms, _ := search.Parse("预算")
	if res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10}); err != nil || res.Total != 1 {
		t.Fatalf("search with no room: %+v %v", res, err)
	}
	e.minFree = MinFreeBytes
	if _, err := e.Write(t.Context(), doc(2)); err != nil {
		t.Fatalf("write with room again: %v", err)
	}
}

// TestAPurgeNeedsTheIndexsSizeFree: a purge rewrites the whole index beside
// itself, so it waits for the index's size free on top of what writes keep,
// while writes go on.
func TestAPurgeNeedsTheIndexsSizeFree(t *testing.T) {
	e, err := Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	op := []search.Op{{TenantID: 1, ConversationID: 1, Doc: &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 2, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: "预算有限"}}}}}
	if _, err := e.Write(t.Context(), op); err != nil {
		t.Fatal(err)
	}
	e.free = func() (uint64, bool) { return MinFreeBytes + 1, true } // room for writes, not for a copy of the index
	if _, err := e.Write(t.Context(), op); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := e.purge(t.Context()); errs.ReasonOf(err) != errs.ReasonDependencyUnavailable {
		t.Fatalf("purge without room for a copy of the index: %v", err)
	}
	e.free = func() (uint64, bool) { return 1 << 40, true }
	if err := e.purge(t.Context()); err != nil {
		t.Fatalf("purge with room: %v", err)
	}
}

// An index made before the one-character field (mapping version 1) keeps
// its mapping: a one-character word is searched on the text field there,
// without error, and found only where it stood alone.
func TestIndexWithoutTheOneCharacterField(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	m, err := indexMapping()
	if err != nil {
		t.Fatal(err)
	}
	delete(m.CustomAnalysis.Analyzers, uniAnalyzer)
	text := m.TypeMapping[kindSentence].Properties["text"]
	text.Fields = text.Fields[:1]
	idx, err := bleve.New(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	doc := &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 2, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: "太贵了"}, {Seq: 1, Text: "贵 price"}}}
	if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 1, Doc: doc}}); err != nil {
		t.Fatal(err)
	}
	for query, seqs := range map[string][]int{"贵": {1}, "太贵": {0}} {
		terms, _ := search.Parse(query)
		res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
		if err != nil || len(res.Hits) != 1 || len(res.Hits[0].Snippets) != len(seqs) || res.Hits[0].Snippets[0].Seq != seqs[0] {
			t.Errorf("%s on an index of version 1: %+v %v, want sentences %v", query, res, err, seqs)
		}
	}
}

// TestSparseSeqsAreDeletedByWhatIsIndexed: a transcript's seqs may be
// sparse, up to 2^31-1. Replacing or deleting it deletes the sentences
// indexed, not one id per seq below the largest: that was 2^31 deletions
// in one batch, under the engine's lock, on every retry of the job.
func TestSparseSeqsAreDeletedByWhatIsIndexed(t *testing.T) {
	e, err := Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	doc := func(version int64, seqs ...int) search.Op {
		d := &search.Doc{TenantID: 1, ConversationID: 7, OwnerUserID: 2, Version: version}
		for _, seq := range seqs {
			d.Sentences = append(d.Sentences, search.Sentence{Seq: seq, Text: fmt.Sprintf("budget v%d", version)})
		}
		return search.Op{TenantID: 1, ConversationID: 7, Doc: d}
	}
	if _, err := e.Write(t.Context(), []search.Op{doc(1, 0, 1, 3*sparseSeqs)}); err != nil {
		t.Fatal(err)
	}
	var deletions int
	err = e.use(t.Context(), func(idx bleve.Index) error {
		b := idx.NewBatch()
		err := deleteSentences(t.Context(), idx, b, 7, 3*sparseSeqs+1)
		deletions = b.Size()
		return err
	})
	if err != nil || deletions != 3 {
		t.Fatalf("%d deletions for the 3 sentences indexed (%v)", deletions, err)
	}
	if _, err := e.Write(t.Context(), []search.Op{doc(1, 0, 3*sparseSeqs, math.MaxInt32)}); err != nil {
		t.Fatal(err)
	}
	count := func(word string) int64 {
		t.Helper()
		terms, _ := search.Parse(word)
		res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	if _, err := e.Write(t.Context(), []search.Op{doc(2, 5)}); err != nil {
		t.Fatal(err)
	}
	if count("v1") != 0 || count("v2") != 1 {
		t.Fatalf("after the replace: v1 %d, v2 %d", count("v1"), count("v2"))
	}
	if _, err := e.Write(t.Context(), []search.Op{doc(3, 1, math.MaxInt32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 7}}); err != nil {
		t.Fatal(err)
	}
	if count("budget") != 0 {
		t.Fatal("sentences left after the conversation was deleted")
	}
}

// oneSentence is an engine holding one sentence, and a query matching it.
func oneSentence(t *testing.T) (*Engine, search.Query) {
	t.Helper()
	e, err := Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeEngine(t, e) })
	doc := &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 2, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: "预算有限"}}}
	if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 1, Doc: doc}}); err != nil {
		t.Fatal(err)
	}
	terms, _ := search.Parse("预算")
	return e, search.Query{TenantID: 1, Terms: terms, Size: 10}
}

// TestASearchPastItsDeadlineIsATimeout: a search whose request deadline
// passes while the index is read answers 504, as Elasticsearch's does, not
// an internal error.
func TestASearchPastItsDeadlineIsATimeout(t *testing.T) {
	e, q := oneSentence(t)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := e.Search(ctx, q)
	var se *errs.Error
	if !errors.As(err, &se) || se.Status != http.StatusGatewayTimeout {
		t.Fatalf("a search past its deadline answered %v", err)
	}
}

// TestSearchesWaitForASlot: no more than searchesAtOnce searches run at
// once. One that finds every slot taken waits for one, in order, and is
// answered 504 if its deadline passes meanwhile, as a search cut short is.
func TestSearchesWaitForASlot(t *testing.T) {
	e, q := oneSentence(t)
	if cap(e.searching) != searchesAtOnce() || searchesAtOnce() < 1 {
		t.Fatalf("%d slots, want %d", cap(e.searching), searchesAtOnce())
	}
	for range cap(e.searching) {
		e.searching <- struct{}{} // every slot taken by a search running
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := e.Search(ctx, q)
	var se *errs.Error
	if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || se.Reason != errs.ReasonOverCapacity || se.Metadata["retry_after_seconds"] != "1" {
		t.Fatalf("a search whose deadline passed while it waited answered %v, want 429 OVER_CAPACITY with a retry hint", err)
	}
	if o := breaker.Classify(ctx, err); o == breaker.Failure {
		t.Errorf("a search refused while the engine was busy counts as a failure of the operation")
	}

	type answer struct {
		total int64
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := e.Search(t.Context(), q)
		done <- answer{res.Total, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("a search ran while every slot was taken: %+v", a)
	case <-time.After(100 * time.Millisecond):
	}
	<-e.searching // one search ends
	if a := <-done; a.err != nil || a.total != 1 {
		t.Fatalf("the search waiting for a slot answered %+v", a)
	}
}

// TestATenantHoldsHalfTheSlots: one tenant's searches hold at most half of
// the engine's slots (at least one) and wait in a line of their own, so
// another tenant's search still runs at once.
func TestATenantHoldsHalfTheSlots(t *testing.T) {
	e, q := oneSentence(t)
	share := max(1, searchesAtOnce()/2)
	for range share {
		leave, err := e.tenants.enter(t.Context(), q.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		defer leave()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Search(ctx, q)
	var se *errs.Error
	if !errors.As(err, &se) || se.Reason != errs.ReasonOverCapacity {
		t.Fatalf("a search of a tenant holding its share of the slots answered %v, want OVER_CAPACITY once its deadline passed", err)
	}
	other := q
	other.TenantID = q.TenantID + 1
	ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := e.Search(ctx, other); err != nil {
		t.Fatalf("another tenant's search waited behind the first tenant's: %v", err)
	}
	if n := len(e.tenants.slots); n != 1 {
		t.Errorf("%d tenants held, want only the first", n)
	}
}
