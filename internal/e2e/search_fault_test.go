//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/model"
)

// testenv runs scripts/testenv.sh (stop and start of real dependencies).
func testenv(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "testenv.sh"), args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv.sh %v: %v\n%s", args, err, out)
	}
}

// esUp reports whether the test Elasticsearch answers.
func esUp() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(os.Getenv("MGV_TEST_ES_URL"))
	if err != nil {
		return false
	}
	// A probe: only the status matters.
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// ingestTagged creates a conversation owned by owner whose transcript holds
// the word tag, over gRPC; it returns the error of the transcript write.
func ingestTagged(p *partner, owner int64, tag string, n int) error {
	id := p.create(fmt.Sprintf("%s-%d-%d", tag, n, rand.Uint32()), owner, time.Now().Add(-time.Hour), 120_000, nil)
	_, err := p.put(id, []*openv1.Sentence{
		sentence(0, "rep", fmt.Sprintf("hello %s number %d", tag, n)),
		sentence(1, "cust", "我们今年的预算有限 "+tag),
	}, 10)
	return err
}

// pendingSearchJobs counts the search jobs left in the outbox.
func pendingSearchJobs(t *testing.T, f *Fixture) int64 {
	t.Helper()
	var n int64
	if err := f.DB.Model(&model.OutboxJob{}).Where("kind IN ?", []string{model.OutboxTranscript, model.OutboxConversation}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// metric reads one unlabelled sample from /metrics.
func metric(t *testing.T, s *Service, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func newTag() string { return fmt.Sprintf("kw%08x", rand.Uint32()) }

// R2: Elasticsearch stopped for 60 s during ingest. Ingest keeps
// succeeding, search answers 503 DEPENDENCY_UNAVAILABLE fast, and every
// transcript is searchable at most 30 s after the cluster is back.
// MGV_TEST_R2_DOWN shortens the outage for a quick run.
func TestR2ElasticsearchDownDuringIngest(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	tag := newTag()
	n := 0
	for ; n < 3; n++ {
		if err := ingestTagged(p, f.Reps[0].ID, tag, n); err != nil {
			t.Fatal(err)
		}
	}
	waitSearch(t, s, admin, tag, int64(n), 10*time.Second)
	time.Sleep(time.Second)
	baseline := goroutines(t, s)

	down := 60 * time.Second
	if v, err := time.ParseDuration(os.Getenv("MGV_TEST_R2_DOWN")); err == nil {
		down = v
	}
	testenv(t, "stop", "es")
	t.Cleanup(func() {
		if !esUp() {
			testenv(t, "start", "es")
		}
	})
	stopped := time.Now()
	var slowest time.Duration
	searches := 0
	for time.Since(stopped) < down {
		if err := ingestTagged(p, f.Reps[0].ID, tag, n); err != nil {
			t.Fatalf("ingest %d while Elasticsearch is down: %v", n, err)
		}
		n++
		start := time.Now()
		r := searchAs(t, s, admin, map[string]any{"query": tag})
		took := time.Since(start)
		slowest = max(slowest, took)
		searches++
		if r.Status != http.StatusServiceUnavailable || r.Reason != "DEPENDENCY_UNAVAILABLE" {
			t.Fatalf("search while Elasticsearch is down: %d %s (%s)", r.Status, r.Reason, r.Msg)
		}
		time.Sleep(time.Second)
	}
	if slowest > time.Second {
		t.Errorf("the slowest 503 took %s", slowest)
	}
	testenv(t, "start", "es")
	for !esUp() {
		time.Sleep(100 * time.Millisecond)
	}
	back := time.Now()
	took := waitSearch(t, s, admin, tag, int64(n), 60*time.Second)
	t.Logf("Elasticsearch down %s: %d transcripts ingested, %d searches answered 503 (slowest %s); all searchable %s after it was back",
		time.Since(stopped)-time.Since(back), n, searches, slowest, time.Since(back).Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("searchable only %s after Elasticsearch was back (target 30 s)", took)
	}
	waitGoroutines(t, s, baseline)
}

// R4: kill -9 while the indexer works through a backlog, then start
// again: the index catches up and no job is lost.
func TestR4KillDuringIndexing(t *testing.T) {
	s, f, p := startWithoutIndexer(t)
	tag := newTag()
	const total = 60
	for i := 0; i < total; i++ {
		if err := ingestTagged(p, f.Reps[i%4].ID, tag, i); err != nil {
			t.Fatal(err)
		}
	}
	s.Signal(syscall.SIGTERM)
	WaitGone(s.PID(), 20*time.Second)

	// Slow indexing, so that the kill lands in the middle of it.
	s.Env["MGV_SEARCH_INDEXER"] = "true"
	s.Env["MGV_SEARCH_BATCH_SIZE"] = "5"
	s.Env["MGV_SEARCH_BULK_RPS"] = "2"
	s.Env["MGV_SEARCH_LEASE"] = "10s"
	s.Start()
	admin := f.Token(t, f.Admin)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pg searchPage
		if r := searchAs(t, s, admin, map[string]any{"query": tag}); r.Status == http.StatusOK {
			r.decode(t, &pg)
		}
		if pg.Total > 0 && pg.Total < total {
			t.Logf("kill -9 with %d of %d conversations indexed", pg.Total, total)
			break
		}
		if time.Now().After(deadline) || pg.Total == total {
			t.Fatalf("could not catch the indexer mid-way (%d of %d)", pg.Total, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Kill()
	s.Env["MGV_SEARCH_BULK_RPS"] = "0"
	s.Env["MGV_SEARCH_BATCH_SIZE"] = "200"
	s.Start()
	waitSearch(t, s, admin, tag, total, 45*time.Second)
	for start := time.Now(); pendingSearchJobs(t, f) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%d search jobs left in the outbox", pendingSearchJobs(t, f))
		}
	}
}

// R7: two instances on one MariaDB and one Elasticsearch share the outbox:
// every job is done, by both.
func TestR7TwoInstancesShareTheOutbox(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_SEARCH_BATCH_SIZE"] = "4"
	a := NewService(t, env)
	f := NewFixture(t, a)
	b := NewService(t, env)
	a.Start()
	b.Start()
	pa := newPartner(t, a.GRPC(), f.AppToken(t))
	pb := newPartner(t, b.GRPC(), f.AppToken(t))
	tag := newTag()
	const total = 80
	for i := 0; i < total; i++ {
		p := pa
		if i%2 == 1 {
			p = pb
		}
		if err := ingestTagged(p, f.Reps[i%4].ID, tag, i); err != nil {
			t.Fatal(err)
		}
	}
	admin := f.Token(t, f.Admin)
	waitSearch(t, a, admin, tag, total, 30*time.Second)
	waitSearch(t, b, admin, tag, total, 5*time.Second)
	for start := time.Now(); pendingSearchJobs(t, f) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%d search jobs left in the outbox", pendingSearchJobs(t, f))
		}
	}
	na, nb := metric(t, a, "mgv_search_indexed_total"), metric(t, b, "mgv_search_indexed_total")
	t.Logf("conversations indexed: instance A %v, instance B %v", na, nb)
	if na <= 0 || nb <= 0 {
		t.Errorf("the instances did not share the work: A %v, B %v", na, nb)
	}
}
