//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// htmlTranscript is n sentences of 4,000 bytes of '<' and '>' after a
// first one that says tag.
func htmlTranscript(n int, tag string) []*openv1.Sentence {
	filler := strings.Repeat("<>", 2000)
	ss := make([]*openv1.Sentence, n)
	for i := range ss {
		ss[i] = sentence(int64(i), "rep", filler)
	}
	ss[0] = sentence(0, "rep", "hello "+tag)
	return ss
}

// A transcript of '<' and '>' is indexed at its own size (it was six times
// as large in the bulk request, \u003c, and over Elasticsearch's 100 MB
// http.max_content_length, its job retried forever); one whose text as
// indexed passes 64 MiB is refused at ingest, naming the bound, rather
// than stored and never searchable; and a rebuild of the index goes
// through.
func TestLongHTMLTranscriptOnElasticsearch(t *testing.T) {
	s := NewService(t, esEnv(t, mysqlEnv(t)))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	begin := time.Now().Add(-25 * time.Hour)

	// 5,000 sentences: 20 MB as indexed, 120 MB with HTML escaping.
	tag := newTag()
	id := p.create("html-"+tag, f.Reps[0].ID, begin, 86_400_000, nil)
	if _, err := p.put(id, htmlTranscript(5000, tag), 1000); err != nil {
		t.Fatal(err)
	}
	t.Logf("the 20 MB transcript is searchable after %s", waitSearch(t, s, admin, tag, 1, 60*time.Second))

	// 20,000 sentences: 80 MB of text, over the 64 MiB bound.
	big := newTag()
	id2 := p.create("html-"+big, f.Reps[1].ID, begin, 86_400_000, nil)
	_, err := p.put(id2, htmlTranscript(20_000, big), 1000)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "67108864") || !strings.Contains(err.Error(), "chunk") {
		t.Fatalf("an 80 MB transcript: %v, want INVALID_ARGUMENT on chunk naming the 67108864-byte bound", err)
	}

	out, err := runWithOutput(s.Command("reindex"), 180*time.Second)
	if err != nil {
		t.Fatalf("mgvcore reindex: %v\n%s", err, out)
	}
	waitSearch(t, s, admin, tag, 1, 30*time.Second)
}

// A backlog of long calls (5,000 sentences of 40 Chinese characters, about
// 1.2 MB each as indexed, 120 MB for the claim) built while the indexer
// was off: written in requests of search.bulk_bytes, no request fails,
// and it is all searchable soon after the indexer starts (about 10 s on an
// idle machine; the bound leaves room for a shared one). As one
// request per claim it went over Elasticsearch's indexing pressure or its
// http.max_content_length (100 MB), was refused as a whole, and was
// retried until the jobs' backoffs happened to spread them over claims.
func TestBacklogOfLongCallsOnElasticsearch(t *testing.T) {
	s, f, p := startWithoutIndexer(t)
	admin := f.Token(t, f.Admin)
	tag := newTag()
	const convs, n = 100, 5000
	line := strings.Repeat("我们今年的预算有限但是很想买", 3)[:40*3-3*2]
	ss := make([]*openv1.Sentence, n)
	for k := range ss {
		ss[k] = sentence(int64(k), "rep", line)
	}
	ss[0] = sentence(0, "rep", "hello "+tag)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < convs; i += 4 {
				id := p.create(fmt.Sprintf("long-%s-%d", tag, i), f.Reps[i%4].ID, time.Now().Add(-25*time.Hour), 86_400_000, nil)
				if _, err := p.put(id, ss, 1000); err != nil {
					t.Errorf("put %d: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	s.Signal(syscall.SIGTERM)
	WaitGone(s.PID(), 20*time.Second)
	s.Env["MGV_SEARCH_INDEXER"] = "true"
	s.Start()
	start := time.Now()
	var found int64
	const within = 90 * time.Second
	for time.Since(start) < within {
		if r := searchAs(t, s, admin, map[string]any{"query": tag}); r.Status == http.StatusOK {
			var pg searchPage
			r.decode(t, &pg)
			if found = pg.Total; found == convs {
				if log := s.Stderr.String(); strings.Contains(log, "search indexing failed") {
					t.Fatalf("the backlog was indexed with failed bulk requests:\n%s", log[max(0, len(log)-3000):])
				}
				t.Logf("%d long calls searchable %s after the indexer started", convs, time.Since(start).Round(time.Millisecond))
				return
			}
		}
		time.Sleep(time.Second)
	}
	log := s.Stderr.String()
	t.Fatalf("%s after the indexer started, %d of %d long calls are searchable, %d search jobs pending; log:\n%s",
		within, found, convs, pendingSearchJobs(t, f), log[max(0, len(log)-4000):])
}

// startWithoutIndexer starts the service on Elasticsearch and MariaDB with
// its indexer off, so that ingest builds a backlog, and a partner app.
func startWithoutIndexer(t *testing.T) (*Service, *Fixture, *partner) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_SEARCH_INDEXER"] = "false"
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	return s, f, newPartner(t, s.GRPC(), f.AppToken(t))
}
