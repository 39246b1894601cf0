package embedded

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/search"
)

// Corpus of the search's memory measures: benchConvs conversations of
// benchSentences sentences, of which five in six or more hold 预算, so that
// the query 预算 matches more than MaxScan sentences.
const (
	benchConvs     = 70
	benchSentences = 200
	// maxBytesPerMatch bounds what one search allocates per matching
	// sentence it scans.
	maxBytesPerMatch = 9 << 10
)

var benchLines = []string{
	"您好，请问今年在销售培训上的预算大概是多少？",
	"预算嗯",
	"预算大概五十万，but it depends on the pricing.",
	"We price per seat, and the 预算 of larger teams gets a discount.",
	"ok",
	"预算：我们可以先做两周的试用，您看可以吗？",
}

// benchText is sentence s of conversation c: the lines in an order of
// the conversation's, some with the word once more, so that sentences
// and conversations score apart.
func benchText(c, s int) string {
	text := fmt.Sprintf("%s #%d", benchLines[(s+c)%len(benchLines)], s)
	if (s+c)%7 == 0 {
		text += " 还是预算"
	}
	return text
}

// benchEngine is an engine holding the corpus, opened anew once it is
// written, so that no write of bleve's is still under way while it is
// measured.
func benchEngine(tb testing.TB) *Engine {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "search")
	e, err := Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	begin := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var ops []search.Op
	for c := range int64(benchConvs) {
		d := &search.Doc{TenantID: 1, ConversationID: c + 1, OwnerUserID: 10 + c%4, Version: 1,
			BeginTime: begin.Add(time.Duration(c) * time.Hour), DurationMS: 600_000, Direction: "outbound"}
		for s := range benchSentences {
			d.Sentences = append(d.Sentences, search.Sentence{Seq: s, StartMS: int64(s) * 2000, SpeakerKey: []string{"rep", "cust"}[s%2],
				Affiliation: "internal", Text: benchText(int(c), s)})
		}
		ops = append(ops, search.Op{TenantID: 1, ConversationID: d.ConversationID, Doc: d})
		if len(ops) == 10 {
			if _, err := e.Write(tb.Context(), ops); err != nil {
				tb.Fatal(err)
			}
			ops = nil
		}
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
	if e, err = Open(dir); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close() })
	return e
}

func benchQuery(tb testing.TB) search.Query {
	terms, err := search.Parse("预算")
	if err != nil {
		tb.Fatal(err)
	}
	return search.Query{TenantID: 1, Terms: terms, Size: 20, Location: time.UTC}
}

// BenchmarkSearchManyMatches is one search whose query matches more than
// MaxScan sentences: its allocated bytes per search (B/op) are the memory
// one search asks of the process.
func BenchmarkSearchManyMatches(b *testing.B) {
	e := benchEngine(b)
	q := benchQuery(b)
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Search(b.Context(), q)
		if err != nil {
			b.Fatal(err)
		}
		if res.Total == 0 || len(res.Hits) != q.Size {
			b.Fatalf("total %d, %d hits", res.Total, len(res.Hits))
		}
	}
}

// BenchmarkSearchManyMatches48AtOnce runs the search of
// BenchmarkSearchManyMatches from 48 goroutines at once and reports the
// most heap in use meanwhile (peak-heap-MB).
func BenchmarkSearchManyMatches48AtOnce(b *testing.B) {
	e := benchEngine(b)
	q := benchQuery(b)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak.Store(max(peak.Load(), ms.HeapInuse))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	b.SetParallelism(max(1, 48/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Search(b.Context(), q); err != nil {
				b.Error(err)
				return
			}
		}
	})
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
}

// TestASearchAllocatesLittlePerMatch: a search whose query matches more
// than MaxScan sentences reads each one's text only to score it, and the
// marked text of the page's best sentences alone. It allocated 117 MB
// (11.7 KiB a sentence scanned) when bleve loaded the stored fields of
// all MaxScan sentences at once; it allocates about 65 MB now (6.5 KiB,
// 7.4 KiB under -race), most of it the analysis that scores each
// sentence. The second search is measured: the first fills the pools.
func TestASearchAllocatesLittlePerMatch(t *testing.T) {
	e := benchEngine(t)
	q := benchQuery(t)
	if _, err := e.Search(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := e.Search(t.Context(), q)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	perMatch := (after.TotalAlloc - before.TotalAlloc) / MaxScan
	t.Logf("%d conversations, %d bytes a matching sentence", res.Total, perMatch)
	if perMatch > maxBytesPerMatch {
		t.Fatalf("one search allocated %d bytes per matching sentence, more than %d", perMatch, maxBytesPerMatch)
	}
}
