//go:build e2e

package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/search/elastic"
)

// esEnv points a service at the test Elasticsearch under an alias of its
// own, removed after the test.
func esEnv(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	return clusterEnv(t, "MGV_TEST_ES_URL", env)
}

// clusterEnv adds to env a search index on a fresh alias of the cluster
// whose URL the variable urlVar holds, deleted after the test.
func clusterEnv(t *testing.T, urlVar string, env map[string]string) map[string]string {
	t.Helper()
	u := requireEnv(t, urlVar)
	alias := fmt.Sprintf("mgv_e2e_%08x", rand.Uint32())
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, u+"/"+alias+"_v*", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			closeBody(t, resp)
		}
	})
	env["MGV_SEARCH_ENGINE"] = "elasticsearch"
	env["MGV_SEARCH_URLS"] = u
	env["MGV_SEARCH_INDEX"] = alias
	return env
}

// searchPage is the data of a POST /api/v1/search answer.
type searchPage = controller.SearchPageJSON

// searchAs posts a search; it returns the HTTP answer.
func searchAs(t *testing.T, s *Service, token string, body map[string]any) authResult {
	t.Helper()
	return authCall(t, s, http.MethodPost, "/api/v1/search", token, body)
}

// ids of the results of a page, sorted.
func resultIDs(p searchPage) []int64 {
	var out []int64
	for _, r := range p.Results {
		out = append(out, r.Conversation.ID)
	}
	slices.Sort(out)
	return out
}

// waitSearch polls until query finds want conversations as token, and
// returns how long that took.
func waitSearch(t *testing.T, s *Service, token, query string, want int64, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last authResult
	for time.Since(start) < timeout {
		last = searchAs(t, s, token, map[string]any{"query": query})
		if last.Status == http.StatusOK {
			var p searchPage
			last.decode(t, &p)
			if p.Total == want {
				return time.Since(start)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%q did not find %d conversations within %s; last answer %d %s %s", query, want, timeout, last.Status, last.Reason, last.Data)
	return 0
}

func sentence(seq int64, speaker, text string) *openv1.Sentence {
	return &openv1.Sentence{Seq: seq, SpeakerKey: speaker, StartMs: seq * 3000, EndMs: seq*3000 + 2500, Text: text}
}

func TestSearchEmbedded(t *testing.T) {
	testSearch(t, NewService(t, nil))
}

func TestSearchOnElasticsearchAndMariaDB(t *testing.T) {
	testSearch(t, NewService(t, esEnv(t, mysqlEnv(t))))
}

// A one-character Chinese word is found over HTTP inside a longer word, on
// the embedded default and on the production analysis (the bigram profile
// of the cluster with analysis-common), where 太贵了 is indexed as 太贵 and
// 贵了, and marked on its own.
func TestSearchOneCharacterWord(t *testing.T) {
	for name, env := range map[string]func(t *testing.T) map[string]string{
		"embedded": func(*testing.T) map[string]string { return nil },
		"analyzer": func(t *testing.T) map[string]string {
			return clusterEnv(t, "MGV_TEST_ANALYZER_URL", map[string]string{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewService(t, env(t))
			f := NewFixture(t, s)
			s.Start()
			p := newPartner(t, s.GRPC(), f.AppToken(t))
			id := p.create(fmt.Sprintf("search-onechar-%d", rand.Uint32()), f.Reps[0].ID, time.Now().Add(-time.Hour), 600_000, nil)
			if _, err := p.put(id, []*openv1.Sentence{sentence(0, "cust", "太贵了，我们买不起"), sentence(1, "rep", "价格可以再谈")}, 100); err != nil {
				t.Fatal(err)
			}
			admin := f.Token(t, f.Admin)
			waitSearch(t, s, admin, "贵", 1, 10*time.Second)
			var pg searchPage
			searchAs(t, s, admin, map[string]any{"query": "贵"}).want(t, http.StatusOK, "").decode(t, &pg)
			if len(pg.Results) != 1 || len(pg.Results[0].Snippets) != 1 || pg.Results[0].Snippets[0].Text != "太<em>贵</em>了，我们买不起" {
				t.Errorf("贵: %+v, want the one sentence with 贵 marked", pg.Results)
			}
		})
	}
}

// testSearch is PRODUCT §5 end to end: ingest over gRPC, the outbox
// indexer, then search over both transports in every role's scope.
func testSearch(t *testing.T, s *Service) {
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	begin := time.Date(2025, 3, 10, 1, 0, 0, 0, time.UTC)
	r1, r2, r3, r4 := f.Reps[0], f.Reps[1], f.Reps[2], f.Reps[3]
	convs := map[string]int64{}
	add := func(name string, owner int64, day int, lines ...*openv1.Sentence) {
		id := p.create(fmt.Sprintf("search-%s-%d", name, rand.Uint32()), owner, begin.Add(time.Duration(day)*24*time.Hour), 600_000, nil)
		if _, err := p.put(id, lines, 100); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		convs[name] = id
	}
	written := time.Now()
	add("c1", r1.ID, 0, sentence(0, "rep", "您好"), sentence(1, "cust", "我们今年的预算有限"), sentence(2, "rep", "明白"))
	add("c2", r2.ID, 0, sentence(0, "rep", "我们预计下周签约"))
	add("c3", r3.ID, 1, sentence(0, "cust", "预算审批需要两周"), sentence(1, "rep", "预算没问题"))
	add("c4", r4.ID, 2, sentence(0, "cust", "The budget is tight this quarter"))
	admin := f.Token(t, f.Admin)
	took := waitSearch(t, s, admin, "预算", 2, 10*time.Second)
	t.Logf("searchable %s after the write returned (index took %s after the first write)", took, time.Since(written))
	if took > 3*time.Second {
		t.Errorf("a transcript became searchable only after %s (target 2 s)", took)
	}
	// c4 was written last and may come in a later indexing batch.
	waitSearch(t, s, admin, "budget", 1, 10*time.Second)

	find := func(token string, body map[string]any) searchPage {
		t.Helper()
		var pg searchPage
		searchAs(t, s, token, body).want(t, http.StatusOK, "").decode(t, &pg)
		return pg
	}
	expect := func(who, token, query string, want ...string) {
		t.Helper()
		var ids []int64
		for _, w := range want {
			ids = append(ids, convs[w])
		}
		slices.Sort(ids)
		if got := resultIDs(find(token, map[string]any{"query": query})); !slices.Equal(got, ids) {
			t.Errorf("%s searching %q: got %v, want %v (%v)", who, query, got, ids, want)
		}
	}

	// Only what matched is marked: not a word of the phrase standing alone.
	add("c5", r4.ID, 2, sentence(0, "cust", "dog days, then the lazy dog slept"))
	waitSearch(t, s, admin, "slept", 1, 10*time.Second)
	if pg := find(admin, map[string]any{"query": `"lazy dog"`}); len(pg.Results) != 1 || len(pg.Results[0].Snippets) != 1 ||
		!strings.HasPrefix(pg.Results[0].Snippets[0].Text, "dog days, then the <em>lazy") {
		t.Errorf(`"lazy dog": %+v`, pg.Results)
	}
	expect("admin", admin, "预算", "c1", "c3")
	expect("admin", admin, "预计", "c2")
	expect("admin", admin, "BUDGET tight", "c4")
	expect("admin", admin, `"budget is tight"`, "c4")
	expect("admin", admin, `"tight budget"`)
	expect("rep1", f.Token(t, r1), "预算", "c1")
	expect("rep4", f.Token(t, r4), "预算")
	expect("manager", f.Token(t, f.Manager), "预算", "c1", "c3")
	expect("manager", f.Token(t, f.Manager), "budget")
	expect("app", f.AppToken(t), "预算", "c1", "c3")

	pg := find(admin, map[string]any{"query": "预算"})
	if pg.Total != 2 || len(pg.OwnerFacets) != 2 || len(pg.DayFacets) != 2 {
		t.Errorf("total and facets: %+v", pg)
	}
	for _, o := range pg.OwnerFacets {
		if o.OwnerName == "" || o.Conversations != 1 {
			t.Errorf("owner facet %+v", o)
		}
	}
	if pg.DayFacets[0].Day != "2025-03-10" || pg.DayFacets[1].Day != "2025-03-11" {
		t.Errorf("day facets in Asia/Shanghai: %+v", pg.DayFacets)
	}
	for _, r := range pg.Results {
		for _, sn := range r.Snippets {
			if !strings.Contains(sn.Text, "<em>预算</em>") || sn.SpeakerKey == "" {
				t.Errorf("snippet %+v", sn)
			}
		}
		if r.Conversation.ID == convs["c1"] && (len(r.Snippets) != 1 || r.Snippets[0].Seq != 1 || r.Snippets[0].StartMS != 3000) {
			t.Errorf("c1 snippets %+v", r.Snippets)
		}
		if r.Conversation.ID == convs["c3"] && len(r.Snippets) != 2 {
			t.Errorf("c3 snippets %+v", r.Snippets)
		}
	}
	// Filters.
	if got := resultIDs(find(admin, map[string]any{"query": "预算", "department_id": f.East.ID})); !slices.Equal(got, []int64{convs["c3"]}) {
		t.Errorf("department east: %v", got)
	}
	if got := resultIDs(find(admin, map[string]any{"query": "预算", "owner_ids": []int64{r1.ID}})); !slices.Equal(got, []int64{convs["c1"]}) {
		t.Errorf("owner filter: %v", got)
	}
	if got := resultIDs(find(admin, map[string]any{"query": "预算", "speaker_affiliation": "internal"})); !slices.Equal(got, []int64{convs["c3"]}) {
		t.Errorf("internal speakers: %v", got)
	}
	if got := resultIDs(find(admin, map[string]any{"query": "预算", "from": begin.Add(12 * time.Hour)})); !slices.Equal(got, []int64{convs["c3"]}) {
		t.Errorf("from: %v", got)
	}
	// Pages.
	first := find(admin, map[string]any{"query": "预算", "page_size": 1})
	if len(first.Results) != 1 || first.NextPageToken == "" || first.Total != 2 {
		t.Fatalf("first page %+v", first)
	}
	second := find(admin, map[string]any{"query": "预算", "page_size": 1, "page_token": first.NextPageToken})
	if len(second.Results) != 1 || second.NextPageToken != "" || second.Results[0].Conversation.ID == first.Results[0].Conversation.ID {
		t.Fatalf("second page %+v", second)
	}
	searchAs(t, s, admin, map[string]any{"query": "预计", "page_size": 1, "page_token": first.NextPageToken}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	// Odd input is text or a 400, never a 500.
	for _, q := range []string{"", "   ", `"""`, strings.Repeat("长", 257)} {
		searchAs(t, s, admin, map[string]any{"query": q}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	}
	for _, q := range []string{`title:预算 AND (x OR`, `*`, `预算~`, `\"`, `{"match_all":{}}`, "预算\x00"} {
		if r := searchAs(t, s, admin, map[string]any{"query": q}); r.Status != http.StatusOK && r.Status != http.StatusBadRequest {
			t.Errorf("query %q: %d %s", q, r.Status, r.Reason)
		}
	}
	searchAs(t, s, admin, map[string]any{"query": "预算", "page_size": 101}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	searchAs(t, s, "", map[string]any{"query": "预算"}).want(t, http.StatusUnauthorized, "")

	// gRPC, same use case.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+f.AppToken(t))
	res, err := openv1.NewSearchServiceClient(s.GRPC()).SearchTranscripts(ctx, &openv1.SearchTranscriptsRequest{
		Query: "预算", SpeakerAffiliation: openv1.Affiliation_AFFILIATION_EXTERNAL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || len(res.Results) != 2 || len(res.OwnerFacets) != 2 || res.Results[0].Snippets[0].Text == "" {
		t.Errorf("gRPC search: %v", res)
	}
	if _, err := openv1.NewSearchServiceClient(s.GRPC()).SearchTranscripts(ctx, &openv1.SearchTranscriptsRequest{Query: ""}); err == nil {
		t.Error("gRPC empty query accepted")
	}

	// A replaced transcript loses its old sentences.
	if _, err := p.put(convs["c1"], []*openv1.Sentence{sentence(0, "rep", "全新的内容")}, 100); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, "预算", 1, 10*time.Second)
	waitSearch(t, s, admin, "全新", 1, 10*time.Second)
}

// With the index refreshing only every minute, a transcript is searchable
// within seconds only because the indexer refreshes once it has caught up
// (search.catchup_refresh); nothing else makes the write visible.
func TestSearchableOnceTheIndexerCatchesUp(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_SEARCH_REFRESH_INTERVAL"] = "60s"
	env["MGV_SEARCH_CATCHUP_REFRESH"] = "100ms"
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	// The first search creates the index; from then on it refreshes every
	// minute.
	waitSearch(t, s, admin, "报价", 0, 10*time.Second)
	begin := time.Date(2025, 3, 10, 1, 0, 0, 0, time.UTC)
	for i, text := range []string{"请把报价单发给我", "报价已经更新"} {
		id := p.create(fmt.Sprintf("catchup-%d-%d", i, rand.Uint32()), f.Reps[0].ID, begin, 60_000, nil)
		if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", text)}, 100); err != nil {
			t.Fatal(err)
		}
		took := waitSearch(t, s, admin, "报价", int64(i+1), 10*time.Second)
		t.Logf("transcript %d searchable %s after the write returned", i+1, took)
	}
	if n := metric(t, s, "mgv_search_catchup_refreshes_total"); n < 2 {
		t.Errorf("mgv_search_catchup_refreshes_total = %v, want at least one per transcript", n)
	}
	// The indexer took the transcripts from the writes, not read back. A
	// job claimed in the instant between commit and hand-over is read back,
	// so one of the two is enough.
	if n := metric(t, s, "mgv_search_transcripts_reused_total"); n < 1 {
		t.Errorf("mgv_search_transcripts_reused_total = %v, want the transcripts indexed from memory", n)
	}
}

// onElasticsearch starts a service on MariaDB and the test
// Elasticsearch with a fixture, and returns a partner, an admin token and
// a tag of its own to ingest and search with.
func onElasticsearch(t *testing.T) (*Service, *Fixture, *partner, string, string) {
	t.Helper()
	s := NewService(t, esEnv(t, mysqlEnv(t)))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	tag := newTag()
	return s, f, p, admin, tag
}

// mgvcore reindex while the service serves: a new index version behind the
// alias, nothing lost, the catch-up queued; --tenant goes through the outbox.
func TestReindexWhileServing(t *testing.T) {
	s, f, p, admin, tag := onElasticsearch(t)
	for i := 0; i < 5; i++ {
		if err := ingestTagged(p, f.Reps[i%4].ID, tag, i); err != nil {
			t.Fatal(err)
		}
	}
	waitSearch(t, s, admin, tag, 5, 10*time.Second)
	// One rebuild at a time: while another process holds the lock, a
	// second one refuses before it builds anything.
	release := holdReindexLock(t, s)
	out, err := s.Command("reindex").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another `mgvcore reindex` is rebuilding "+s.Env["MGV_SEARCH_INDEX"]) {
		t.Fatalf("reindex beside another: %v\n%s", err, out)
	}
	release()
	out, err = s.Command("reindex").CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("built %s_v%d_", s.Env["MGV_SEARCH_INDEX"], elastic.MappingVersion)) {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	waitSearch(t, s, admin, tag, 5, 5*time.Second)
	if err := ingestTagged(p, f.Reps[0].ID, tag, 5); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, tag, 6, 10*time.Second)
	out, err = s.Command("reindex", "--tenant", fmt.Sprint(f.Tenant.ID)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "queued 6 conversations") {
		t.Fatalf("reindex --tenant: %v\n%s", err, out)
	}
	waitSearch(t, s, admin, tag, 6, 10*time.Second)
}

// TestReindexRefusesAnUnknownTenant: `mgvcore reindex --tenant` of no
// tenant used to answer "queued 0 conversations" and exit 0.
func TestReindexRefusesAnUnknownTenant(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	for id, want := range map[string]string{
		"99999": "mgvcore: --tenant: no tenant has id 99999",
		"-1":    "mgvcore: --tenant: must be a tenant id above 0 (got -1)",
	} {
		out, err := s.Command("reindex", "--tenant", id).CombinedOutput()
		if err == nil || !strings.HasPrefix(lastLine(string(out)), want) {
			t.Errorf("reindex --tenant %s: %v\n%s\nwant the last line to begin %q", id, err, out, want)
		}
	}
	out, err := s.Command("reindex", "--tenant", fmt.Sprint(f.Tenant.ID)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "queued ") {
		t.Errorf("reindex --tenant %d: %v\n%s", f.Tenant.ID, err, out)
	}
}

// holdReindexLock takes the lock a rebuild of s's index holds, as a
// rebuild running elsewhere would, until release.
func holdReindexLock(t *testing.T, s *Service) (release func()) {
	t.Helper()
	db, err := sql.Open("mysql", s.Env["MGV_DATABASE_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	name := dao.ReindexLockName(s.Env["MGV_SEARCH_INDEX"])
	var got int
	if err := conn.QueryRowContext(t.Context(), "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %d %v", got, err)
	}
	return func() {
		if err := conn.QueryRowContext(t.Context(), "SELECT RELEASE_LOCK(?)", name).Scan(&got); err != nil || got != 1 {
			t.Fatalf("RELEASE_LOCK: %d %v", got, err)
		}
		_ = conn.Close()
	}
}

// TestReindexDoesNotBringBackDeletedConversations: a conversation deleted
// while `mgvcore reindex` builds the new index version had its search job
// run on the old index, and leaves no row for the catch-up; the new index
// had it already. The rebuild removes it before and after the swap, so an
// erased or deleted conversation never comes back to search.
func TestReindexDoesNotBringBackDeletedConversations(t *testing.T) {
	s, f, p, admin, tag := onElasticsearch(t)
	var ids []int64
	for i := range 6 {
		id := p.create(fmt.Sprintf("%s-%d", tag, i), f.Reps[i%4].ID, time.Now().Add(-time.Hour), 120_000, nil)
		if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", fmt.Sprintf("hello %s number %d", tag, i))}, 10); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	waitSearch(t, s, admin, tag, 6, 10*time.Second)

	// One conversation per bulk request, one request a second: the
	// rebuild takes about five seconds.
	cmd := s.Command("reindex")
	cmd.Env = append(cmd.Env, "MGV_SEARCH_BATCH_SIZE=1", "MGV_SEARCH_BULK_RPS=1")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Once the first conversation is in the new index, it is deleted.
	es, alias := s.Env["MGV_SEARCH_URLS"], s.Env["MGV_SEARCH_INDEX"]
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// A new index answers 503 until its shards have started.
		if gen := newGeneration(t, es, alias); gen != "" && esHasDoc(t, es, gen, ids[0], http.StatusServiceUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversation %d never reached the new index\n%s", ids[0], out.String())
		}
	}
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", ids[0]), admin, nil).want(t, http.StatusOK, "")
	// Its job removes it from the index searched now, the old one.
	waitSearch(t, s, admin, tag, 5, 10*time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reindex: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("reindex did not finish\n%s", out.String())
	}
	t.Logf("%s", out.String())
	if esHasDoc(t, es, alias, ids[0]) {
		t.Fatalf("conversation %d, deleted, is back in the index", ids[0])
	}
	waitSearch(t, s, admin, tag, 5, 5*time.Second)
	if !strings.Contains(out.String(), "removed 1 conversations deleted during the rebuild") {
		t.Fatalf("reindex did not say it removed the deleted conversation:\n%s", out.String())
	}
}

// TestReindexCleansUpAfterAKilledRebuild: a rebuild killed with -9 leaves
// its half-built version, a copy of the conversations that deletions and
// erasures (through the alias) never reach. The next rebuild deletes it.
func TestReindexCleansUpAfterAKilledRebuild(t *testing.T) {
	s, f, p, admin, tag := onElasticsearch(t)
	for i := range 4 {
		if err := ingestTagged(p, f.Reps[i].ID, tag, i); err != nil {
			t.Fatal(err)
		}
	}
	waitSearch(t, s, admin, tag, 4, 10*time.Second)
	es, alias := s.Env["MGV_SEARCH_URLS"], s.Env["MGV_SEARCH_INDEX"]

	slow := s.Command("reindex")
	slow.Env = append(slow.Env, "MGV_SEARCH_BATCH_SIZE=1", "MGV_SEARCH_BULK_RPS=1")
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	var left string
	for deadline := time.Now().Add(20 * time.Second); left == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild created no index")
		}
		left = newGeneration(t, es, alias)
	}
	_ = slow.Process.Kill()
	_ = slow.Wait()
	// The killed rebuild's index has a later second in its name than the
	// next one's needs: names are by the second.
	time.Sleep(1100 * time.Millisecond)

	out, err := s.Command("reindex").CombinedOutput()
	if err != nil || !strings.Contains(string(out), left) {
		t.Fatalf("reindex: %v; want it to delete %s\n%s", err, left, out)
	}
	t.Logf("%s", out)
	var indices []struct {
		Index string `json:"index"`
	}
	esGet(t, es+"/_cat/indices/"+alias+"_v*?format=json&h=index", &indices)
	if len(indices) != 1 || indices[0].Index == left {
		t.Fatalf("versions of %s after the second rebuild: %v; want only the new one", alias, indices)
	}
	waitSearch(t, s, admin, tag, 4, 5*time.Second)
}

// newGeneration is the index of alias's versions that the alias does not
// name yet: the one a rebuild is loading ("" when there is none).
func newGeneration(t *testing.T, es, alias string) string {
	t.Helper()
	var indices []struct {
		Index string `json:"index"`
	}
	esGet(t, es+"/_cat/indices/"+alias+"_v*?format=json&h=index", &indices)
	var named map[string]any
	esGet(t, es+"/_alias/"+alias, &named)
	for _, ix := range indices {
		if _, live := named[ix.Index]; !live {
			return ix.Index
		}
	}
	return ""
}

// esHasDoc tells whether index holds the conversation's document (a
// realtime get: no refresh needed); an answer of a status in notYet means
// it does not hold it yet.
func esHasDoc(t *testing.T, es, index string, id int64, notYet ...int) bool {
	t.Helper()
	var doc struct {
		Found bool `json:"found"`
	}
	esGet(t, fmt.Sprintf("%s/%s/_doc/%d", es, index, id), &doc, notYet...)
	return doc.Found
}

// esGet decodes the answer to GET url into into; a 404, or an answer of a
// status in empty, leaves into as it is.
func esGet(t *testing.T, url string, into any, empty ...int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	if resp.StatusCode == http.StatusNotFound || slices.Contains(empty, resp.StatusCode) {
		return
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// A search whose gRPC client set a deadline shorter than any search takes
// is the client's doing: on Elasticsearch too, such calls used to open the
// breaker of SearchTranscripts for every user (see
// TestGRPCCallerDeadlineDoesNotOpenTheBreakerOnMariaDB).
func TestSearchCallerDeadlineDoesNotOpenTheBreaker(t *testing.T) {
	s, _, p, admin, _ := onElasticsearch(t)
	search := openv1.NewSearchServiceClient(s.GRPC())
	withTightDeadlines(p.ctx, func(ctx context.Context) {
		_, _ = search.SearchTranscripts(ctx, &openv1.SearchTranscriptsRequest{Query: "hello"})
	})
	searchAs(t, s, admin, map[string]any{"query": "hello"}).want(t, http.StatusOK, "")
}

// A search or a conversation list by a tracker or a department the tenant
// does not have answers 404 naming it, as the tracker statistics and the
// user list do, on both transports: another tenant's tracker and a deleted
// one answer exactly as one that never existed, but for the id.
func TestSearchByUnknownTrackerOrDepartment(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	tracker := func(token string) int64 {
		var tr controller.TrackerJSON
		authCall(t, s, http.MethodPost, "/api/v1/trackers", token, map[string]any{"name": "Budget", "keywords": []string{"budget"}}).
			want(t, http.StatusCreated, "").decode(t, &tr)
		return tr.ID
	}
	ours, theirs, gone := tracker(admin), tracker(other.Token(t, other.Admin)), tracker(admin)
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", gone), admin, nil).want(t, http.StatusOK, "")
	const never = 999_999_999
	ctx := authBearer(t.Context(), f.AppToken(t))
	searchRPC := openv1.NewSearchServiceClient(s.GRPC())
	listRPC := openv1.NewConversationServiceClient(s.GRPC())

	searchAs(t, s, admin, map[string]any{"query": "budget", "tracker_id": ours, "department_id": f.Sales.ID}).want(t, http.StatusOK, "")
	apiGet(t, s, fmt.Sprintf("/api/v1/conversations?tracker_id=%d&department_id=%d", ours, f.Sales.ID), admin).want(t, http.StatusOK, "")
	known := &openv1.ConversationFilter{TrackerId: ours, DepartmentId: f.Sales.ID}
	if _, err := searchRPC.SearchTranscripts(ctx, &openv1.SearchTranscriptsRequest{Query: "budget", Filter: known}); err != nil {
		t.Fatalf("gRPC search by a known tracker and department: %v", err)
	}
	if _, err := listRPC.ListConversations(ctx, &openv1.ListConversationsRequest{Filter: known}); err != nil {
		t.Fatalf("gRPC list by a known tracker and department: %v", err)
	}

	type answer struct{ status, reason, field, msg string }
	for _, tc := range []struct {
		name, field, reason string
		id                  int64
	}{
		{"another tenant's tracker", "tracker_id", "TRACKER_NOT_FOUND", theirs},
		{"a deleted tracker", "tracker_id", "TRACKER_NOT_FOUND", gone},
		{"a tracker that never existed", "tracker_id", "TRACKER_NOT_FOUND", never},
		{"another tenant's department", "department_id", "DEPARTMENT_NOT_FOUND", other.Sales.ID},
		{"a department that never existed", "department_id", "DEPARTMENT_NOT_FOUND", never},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every answer, with the id taken out, is the one a tracker or
			// department that never existed gets.
			id := fmt.Sprint(tc.id)
			anon := func(a answer) answer {
				a.msg = strings.ReplaceAll(a.msg, id, "<id>")
				return a
			}
			want := func(what string, got, w answer) {
				t.Helper()
				if !strings.Contains(got.msg, id) {
					t.Errorf("%s: %q does not name %s", what, got.msg, id)
				}
				if anon(got) != w {
					t.Errorf("%s: %+v, want %+v", what, anon(got), w)
				}
			}
			httpWant := answer{"404", tc.reason, tc.field, tc.field + ": no " + strings.TrimSuffix(tc.field, "_id") + " <id> in this tenant"}
			rpcWant := answer{"NotFound", tc.reason, "filter." + tc.field, "filter." + httpWant.msg}

			r := searchAs(t, s, admin, map[string]any{"query": "budget", tc.field: tc.id})
			want("POST /search", answer{fmt.Sprint(r.Status), r.Reason, r.Metadata["field"], r.Msg}, httpWant)
			r = apiGet(t, s, fmt.Sprintf("/api/v1/conversations?%s=%d", tc.field, tc.id), admin)
			want("GET /conversations", answer{fmt.Sprint(r.Status), r.Reason, r.Metadata["field"], r.Msg}, httpWant)

			filter := &openv1.ConversationFilter{TrackerId: tc.id}
			if tc.field == "department_id" {
				filter = &openv1.ConversationFilter{DepartmentId: tc.id}
			}
			rpc := func(err error) answer {
				code, reason, md := rpcReason(err)
				return answer{code.String(), reason, md["field"], status.Convert(err).Message()}
			}
			_, err := searchRPC.SearchTranscripts(ctx, &openv1.SearchTranscriptsRequest{Query: "budget", Filter: filter})
			want("gRPC SearchTranscripts", rpc(err), rpcWant)
			_, err = listRPC.ListConversations(ctx, &openv1.ListConversationsRequest{Filter: filter})
			want("gRPC ListConversations", rpc(err), rpcWant)
		})
	}
}

// A tenant's scores, and so its order, depend only on its own transcripts:
// another tenant ingesting many transcripts with and without the words
// changes nothing in what the first one's searches answer. Scores from the
// index's statistics over every tenant (BM25's IDF and average length)
// would tell a tenant how often a word occurs in other tenants' calls.
func TestSearchScoresIgnoreOtherTenants(t *testing.T) {
	s := NewService(t, esEnv(t, mysqlEnv(t)))
	mine, theirs := NewFixture(t, s), NewFixture(t, s)
	s.Start()
	pm, pt := newPartner(t, s.GRPC(), mine.AppToken(t)), newPartner(t, s.GRPC(), theirs.AppToken(t))
	begin := time.Date(2025, 3, 10, 1, 0, 0, 0, time.UTC)
	ingest := func(p *partner, owner int64, name string, lines ...string) {
		t.Helper()
		id := p.create(fmt.Sprintf("scores-%s-%d", name, rand.Uint32()), owner, begin, 60_000, nil)
		var ss []*openv1.Sentence
		for i, l := range lines {
			ss = append(ss, sentence(int64(i), "rep", l))
		}
		if _, err := p.put(id, ss, 100); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	ingest(pm, mine.Reps[0].ID, "a1", "我们的预算有限", "预算预算，还是预算")
	ingest(pm, mine.Reps[1].ID, "a2", "预算", "好的")
	ingest(pm, mine.Reps[2].ID, "a3", "关于今年的预算我们还需要和财务部门以及老板再仔细地讨论一下 budget")
	ingest(pm, mine.Reps[3].ID, "a4", "The budget is tight", "budget budget budget")
	admin, their := mine.Token(t, mine.Admin), theirs.Token(t, theirs.Admin)
	waitSearch(t, s, admin, "预算", 3, 10*time.Second)
	waitSearch(t, s, admin, "budget", 2, 10*time.Second)

	type scored struct {
		ID    int64
		Score float64
	}
	queries := []string{"预算", "budget", "预算 budget", `"budget is tight"`}
	answer := func() map[string][]scored {
		t.Helper()
		out := map[string][]scored{}
		for _, q := range queries {
			var pg searchPage
			searchAs(t, s, admin, map[string]any{"query": q}).want(t, http.StatusOK, "").decode(t, &pg)
			for _, r := range pg.Results {
				out[q] = append(out[q], scored{r.Conversation.ID, r.Score})
			}
		}
		return out
	}
	before := answer()
	for i := range 45 {
		switch i % 3 {
		case 0:
			ingest(pt, theirs.Reps[i%4].ID, fmt.Sprint("b", i), "预算", "budget budget", "预算 budget")
		case 1:
			ingest(pt, theirs.Reps[i%4].ID, fmt.Sprint("b", i), strings.Repeat("这是一个很长的句子，没有那个词。", 8), strings.Repeat("nothing to see here at all ", 10))
		default:
			ingest(pt, theirs.Reps[i%4].ID, fmt.Sprint("b", i), "合同", "price")
		}
	}
	waitSearch(t, s, their, "预算", 15, 20*time.Second)
	waitSearch(t, s, their, "合同", 15, 20*time.Second)
	after := answer()
	for _, q := range queries {
		if len(before[q]) == 0 || !slices.Equal(before[q], after[q]) {
			t.Errorf("%s: the first tenant's results changed when the other ingested:\nbefore %+v\nafter  %+v", q, before[q], after[q])
		}
	}
}

// An operator deletes the live index while the service serves (the alias
// goes with it). The next write must not create an index of the alias's
// own name with a guessed mapping, which would break every search and
// every later rebuild: the service creates an empty index of its mapping
// behind the alias, says in its log to run reindex, indexes what comes
// next, and reindex brings back what was there.
func TestALiveIndexDeletedByHandIsCreatedAgain(t *testing.T) {
	s, f, p, admin, tag := onElasticsearch(t)
	alias := s.Env["MGV_SEARCH_INDEX"]
	es := s.Env["MGV_SEARCH_URLS"]
	for i := range 2 {
		if err := ingestTagged(p, f.Reps[i].ID, tag, i); err != nil {
			t.Fatal(err)
		}
	}
	waitSearch(t, s, admin, tag, 2, 10*time.Second)
	req, _ := http.NewRequest(http.MethodDelete, es+"/"+alias+"_v*", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("deleting the live index: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	if err := ingestTagged(p, f.Reps[2].ID, tag, 2); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, tag, 1, 20*time.Second)
	resp, err = http.Get(es + "/_cat/indices/" + alias + "*?h=index")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, name := range strings.Fields(string(body)) {
		if name == alias {
			t.Fatalf("an index named as the alias was created by a write: %s", body)
		}
	}
	if !strings.Contains(s.Stderr.String(), "the search index behind the alias was deleted") {
		t.Errorf("the log does not say the index was deleted and reindex is needed:\n%s", s.Stderr.String())
	}
	if out, err := s.Command("reindex").CombinedOutput(); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	waitSearch(t, s, admin, tag, 3, 10*time.Second)
}
