//go:build e2e && bench

package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	olivere "github.com/olivere/elastic/v7"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/e2e/corpus"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/identity"
	logicsearch "github.com/megaview/mgvcore/internal/logic/search"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/elastic"
)

// The P4 corpus is kept between runs: a database and an alias of their own,
// each recognised by a marker naming the generated content, so that only
// the first `make bench` (or one after the generator changed) loads it.
const (
	corpusDatabase = "mgvcore_bench_corpus"
	corpusAlias    = "mgv_bench_corpus"
	// corpusExtraReps join the fixture's four reps as owners.
	corpusExtraReps = 36
)

// benchLimits keeps the rate limits out of the way of a throughput run
// (P9 measures them); nothing on the search or ingest path changes.
func benchLimits(env map[string]string) map[string]string {
	env["MGV_RATELIMIT_TIERS_STANDARD_RPS"] = "1000000"
	env["MGV_RATELIMIT_TIERS_STANDARD_BURST"] = "100000"
	return env
}

// inParallel runs fn(k) for every k in [0, n), in order of k, from workers
// goroutines. After the first error no further k starts; it returns that
// error.
func inParallel(workers, n int, fn func(k int) error) error {
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < n && !stop.Load(); k = int(next.Add(1) - 1) {
				if err := fn(k); err != nil {
					stop.Store(true)
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// esHTTP is the client of the benchmarks' direct Elasticsearch requests.
var esHTTP = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// esJSON sends a JSON request to Elasticsearch and decodes the answer into
// out (nil: discard); it returns the status.
func esJSON(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := esHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer closeBody(t, resp)
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		t.Logf("%s %s: %d %.300s", method, url, resp.StatusCode, data)
	}
	return resp.StatusCode
}

// benchCorpus is the P4 corpus, ready in MariaDB and Elasticsearch.
type benchCorpus struct {
	DSN     string
	Fixture *Fixture
	Gen     *corpus.Generator
}

// corpusTenantName marks a complete load: the tenant is renamed to it after
// the last row is in.
func corpusTenantName(spec corpus.Spec) string { return "Bench corpus " + spec.Signature() }

// ensureCorpus loads the corpus where it is missing or stale and reuses it
// where it is there.
func ensureCorpus(t *testing.T, spec corpus.Spec) *benchCorpus {
	t.Helper()
	start := time.Now()
	c := ensureCorpusDB(t, spec)
	dbDone := time.Now()
	ensureCorpusES(t, c)
	t.Logf("corpus %s (%d conversations, %d sentences) ready: MariaDB %s, Elasticsearch %s",
		spec.Signature(), spec.Conversations, spec.Total(), dbDone.Sub(start).Round(time.Millisecond), time.Since(dbDone).Round(time.Millisecond))
	return c
}

// ensureCorpusDB keeps the corpus in the database mgvcore_bench_corpus:
// a fixture tenant with 40 reps owning every conversation.
func ensureCorpusDB(t *testing.T, spec corpus.Spec) *benchCorpus {
	t.Helper()
	admin := requireEnv(t, "MGV_TEST_MYSQL_ADMIN_DSN")
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = corpusDatabase
	dsn := cfg.FormatDSN()
	server, err := sql.Open("mysql", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, server)
	var exists int
	if err := server.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", corpusDatabase).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists == 1 {
		if f := loadCorpusFixture(t, dsn, spec); f != nil {
			t.Logf("MariaDB %s holds the corpus already (tenant %d): not reloaded", corpusDatabase, f.Tenant.ID)
			return &benchCorpus{DSN: dsn, Fixture: f, Gen: corpus.NewGenerator(spec, f.Tenant.ID, 1, corpusOwners(t, f))}
		}
		t.Logf("MariaDB %s holds no complete corpus %s: reloading", corpusDatabase, spec.Signature())
	}
	for _, q := range []string{"DROP DATABASE IF EXISTS " + corpusDatabase,
		"CREATE DATABASE " + corpusDatabase + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"} {
		if _, err := server.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	f := NewFixture(t, &Service{Env: map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": dsn}})
	now := time.Now().UTC()
	depts := []model.Department{f.Sales, f.East, f.Support}
	extra := make([]model.User, corpusExtraReps)
	for i := range extra {
		email := fmt.Sprintf("rep%d.corpus@test.mgv", i+5)
		extra[i] = model.User{TenantID: f.Tenant.ID, DepartmentID: &depts[i%3].ID, Name: fmt.Sprintf("rep%d", i+5), Email: &email,
			Role: model.RoleRep, Status: model.UserActive, PasswordHash: f.Reps[0].PasswordHash, CreatedAt: now, UpdatedAt: now}
	}
	if err := f.DB.Create(&extra).Error; err != nil {
		t.Fatal(err)
	}
	gen := corpus.NewGenerator(spec, f.Tenant.ID, 1, corpusOwners(t, f))

	load := cfg.Clone()
	load.InterpolateParams = true
	db, err := sql.Open("mysql", load.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, db)
	start := time.Now()
	last := time.Now()
	err = corpus.LoadMySQL(t.Context(), db, gen, 3, func(n int) {
		if time.Since(last) > 15*time.Second || n == spec.Conversations {
			last = time.Now()
			t.Logf("MariaDB: %d/%d conversations (%s)", n, spec.Conversations, time.Since(start).Round(time.Second))
		}
	})
	if err != nil {
		t.Fatalf("loading the corpus into MariaDB: %v", err)
	}
	f.Tenant.Name = corpusTenantName(spec)
	if err := f.DB.Model(&f.Tenant).Update("name", f.Tenant.Name).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("MariaDB: loaded %d sentences in %s", spec.Total(), time.Since(start).Round(time.Millisecond))
	return &benchCorpus{DSN: dsn, Fixture: f, Gen: gen}
}

// loadCorpusFixture finds the fixture of a complete corpus in dsn; nil when
// there is none.
func loadCorpusFixture(t *testing.T, dsn string, spec corpus.Spec) *Fixture {
	t.Helper()
	db := daotest.Connect(t, "mysql", dsn)
	f := &Fixture{DB: db, tokens: identity.NewTokens(testJWTSecret, 15*time.Minute, 2*time.Hour)}
	if err := db.Where("name = ?", corpusTenantName(spec)).Limit(1).Find(&f.Tenant).Error; err != nil || f.Tenant.ID == 0 {
		return nil
	}
	var stats struct{ N, MinID, Sentences int64 }
	if err := db.Raw("SELECT COUNT(*) AS n, COALESCE(MIN(id), 0) AS min_id, COALESCE(SUM(sentence_count), 0) AS sentences FROM conversations WHERE tenant_id = ?",
		f.Tenant.ID).Scan(&stats).Error; err != nil {
		t.Fatal(err)
	}
	if stats.N != int64(spec.Conversations) || stats.MinID != 1 || stats.Sentences != int64(spec.Total()) {
		t.Logf("corpus tenant %d has %+v", f.Tenant.ID, stats)
		return nil
	}
	dept := func(name string) model.Department {
		var d model.Department
		if err := db.Where("tenant_id = ? AND name = ?", f.Tenant.ID, name).First(&d).Error; err != nil {
			t.Fatalf("department %s: %v", name, err)
		}
		return d
	}
	user := func(name string) model.User {
		var u model.User
		if err := db.Where("tenant_id = ? AND name = ?", f.Tenant.ID, name).First(&u).Error; err != nil {
			t.Fatalf("user %s: %v", name, err)
		}
		return u
	}
	f.Sales, f.East, f.Support = dept("Sales"), dept("East"), dept("Support")
	f.Admin, f.Manager = user("admin"), user("manager")
	f.Reps = []model.User{user("rep1"), user("rep2"), user("rep3"), user("rep4")}
	if err := db.Where("tenant_id = ?", f.Tenant.ID).First(&f.App).Error; err != nil {
		t.Fatal(err)
	}
	return f
}

// corpusOwners are the reps of the fixture tenant in id order, with their
// department paths: the owners of the generated conversations.
func corpusOwners(t *testing.T, f *Fixture) []corpus.Owner {
	t.Helper()
	var owners []corpus.Owner
	err := f.DB.Raw(`SELECT u.id, u.name, COALESCE(d.path, '') AS department_path FROM users AS u
LEFT JOIN departments AS d ON d.id = u.department_id WHERE u.tenant_id = ? AND u.role = ? ORDER BY u.id`,
		f.Tenant.ID, model.RoleRep).Scan(&owners).Error
	if err != nil || len(owners) == 0 {
		t.Fatalf("owners: %v (%d)", err, len(owners))
	}
	return owners
}

// ensureCorpusES keeps the corpus behind the alias mgv_bench_corpus, in an
// index with the service's mapping whose _meta names the corpus and the
// database rows it mirrors.
func ensureCorpusES(t *testing.T, c *benchCorpus) {
	t.Helper()
	u := requireEnv(t, "MGV_TEST_ES_URL")
	g := c.Gen
	marker := fmt.Sprintf("%s/tenant-%d/first-%d/owners-%d-%d-%d/mapping-v%d", g.Spec.Signature(), g.TenantID, g.FirstID,
		len(g.Owners), g.Owners[0].ID, g.Owners[len(g.Owners)-1].ID, elastic.MappingVersion)
	var aliases map[string]json.RawMessage
	if esJSON(t, http.MethodGet, u+"/_alias/"+corpusAlias, nil, &aliases) == http.StatusOK && len(aliases) == 1 {
		var index string
		for index = range aliases {
		}
		var mapping map[string]struct {
			Mappings struct {
				Meta map[string]any `json:"_meta"`
			} `json:"mappings"`
		}
		var count struct{ Count int64 }
		esJSON(t, http.MethodGet, u+"/"+index+"/_mapping", nil, &mapping)
		esJSON(t, http.MethodGet, u+"/"+corpusAlias+"/_count", nil, &count)
		got := mapping[index].Mappings.Meta["bench_corpus"]
		if got == marker && count.Count == int64(g.Spec.Conversations) {
			t.Logf("Elasticsearch %s (%s) holds the corpus already: not reloaded", corpusAlias, index)
			return
		}
		t.Logf("Elasticsearch %s holds %v with %d documents, not %s: reloading", corpusAlias, got, count.Count, marker)
	}
	esJSON(t, http.MethodDelete, u+"/"+corpusAlias+"_v*", nil, nil)
	client, err := olivere.NewClient(olivere.SetURL(u), olivere.SetSniff(false), olivere.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	engine := elastic.New(client, elastic.Options{Alias: corpusAlias, Shards: 1, Replicas: 0, RefreshInterval: time.Second})
	ctx := t.Context()
	gen, err := engine.NewGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start, last := time.Now(), time.Now()
	err = corpus.LoadES(ctx, esHTTP, u, gen.Name(), g, 50, 2, func(n int) {
		if time.Since(last) > 15*time.Second || n == g.Spec.Conversations {
			last = time.Now()
			t.Logf("Elasticsearch: %d/%d conversations (%s)", n, g.Spec.Conversations, time.Since(start).Round(time.Second))
		}
	})
	if err != nil {
		_ = gen.Abort(context.Background())
		t.Fatalf("loading the corpus into Elasticsearch: %v", err)
	}
	if _, err := gen.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(start)
	// One segment: the state of a settled index, the same on every run.
	if st := esJSON(t, http.MethodPost, u+"/"+gen.Name()+"/_forcemerge?max_num_segments=1", nil, nil); st != http.StatusOK {
		t.Fatalf("force merge: %d", st)
	}
	var mapping map[string]struct {
		Mappings struct {
			Meta map[string]any `json:"_meta"`
		} `json:"mappings"`
	}
	esJSON(t, http.MethodGet, u+"/"+gen.Name()+"/_mapping", nil, &mapping)
	meta := mapping[gen.Name()].Mappings.Meta
	if meta == nil {
		meta = map[string]any{}
	}
	meta["bench_corpus"] = marker
	if st := esJSON(t, http.MethodPut, u+"/"+gen.Name()+"/_mapping", map[string]any{"_meta": meta}, nil); st != http.StatusOK {
		t.Fatalf("marking the corpus index: %d", st)
	}
	t.Logf("Elasticsearch: loaded %d conversations into %s in %s, force-merged in %s", g.Spec.Conversations, gen.Name(),
		loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond))
}

// captureEngine records the query search.Search builds instead of running it.
type captureEngine struct{ q search.Query }

func (c *captureEngine) Search(_ context.Context, q search.Query) (search.Result, error) {
	c.q = q
	return search.Result{}, nil
}
func (c *captureEngine) Write(context.Context, []search.Op) ([]error, error) { return nil, nil }
func (c *captureEngine) Ping(context.Context) error                          { return nil }
func (c *captureEngine) Close() error                                        { return nil }

// directBody is the Elasticsearch request the service sends for an HTTP
// search body in scope: the same use case builds the query (scope, filter
// lookups in the same database) and the same engine code its body.
func directBody(t *testing.T, f *Fixture, scope model.Scope, req map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var sr controller.SearchRequestJSON
	if err := json.Unmarshal(data, &sr); err != nil {
		t.Fatal(err)
	}
	ce := &captureEngine{}
	if _, err := logicsearch.NewService(ce, dao.NewSearchLookups(f.DB)).Search(model.WithScope(t.Context(), scope), sr.Request()); err != nil {
		t.Fatalf("building the query of %s: %v", data, err)
	}
	body, err := json.Marshal(elastic.Body(ce.q))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// p4Request is one benchmark query: the HTTP body and its direct twin.
type p4Request struct {
	name   string
	http   []byte
	direct []byte
}

// post sends body and reads the whole answer; it fails on anything but 200.
func post(client *http.Client, url, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %.300s", url, resp.StatusCode, data)
	}
	return data, nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// TestBenchP4SearchLatency: POST /api/v1/search through the real binary on
// the 1,000,000-sentence corpus vs the same Elasticsearch request sent
// straight to the cluster, interleaved request by request at a fixed
// concurrency (one request in flight per core).
func TestBenchP4SearchLatency(t *testing.T) {
	// pairs: each query goes to both, one right after the other, the
	// order alternating; conc workers send pairs side by side, so both
	// targets always run under the same load (including whatever else the
	// machine is doing). MGV_BENCH_P4="conc,pairs" overrides.
	conc, pairs := 2, 2000
	if v := os.Getenv("MGV_BENCH_P4"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d", &conc, &pairs); err != nil {
			t.Fatalf("MGV_BENCH_P4=%q: want conc,pairs: %v", v, err)
		}
	}
	esURL := requireEnv(t, "MGV_TEST_ES_URL")
	c := ensureCorpus(t, corpus.Default)
	f := c.Fixture
	s := benchService(t, benchLimits(map[string]string{
		"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": c.DSN,
		"MGV_SEARCH_ENGINE": "elasticsearch", "MGV_SEARCH_URLS": esURL, "MGV_SEARCH_INDEX": corpusAlias,
	}))
	s.Start()
	token := f.Token(t, f.Admin)
	scope := model.Scope{TenantID: f.Tenant.ID, UserID: f.Admin.ID, Role: model.RoleAdmin}

	march := time.Date(2025, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	bodies := []map[string]any{
		{"query": "预算"},
		{"query": "报价"},
		{"query": "折扣"},
		{"query": "私有化部署"},
		{"query": "决策人"},
		{"query": "华信科技"},
		{"query": "续约 价格"},
		{"query": `"数据安全"`},
		{"query": "budget"},
		{"query": "discount"},
		{"query": "integrate CRM"},
		{"query": "renewal"},
		{"query": "procurement"},
		{"query": `"security review"`},
		{"query": `"two-week trial"`},
		{"query": "Gong"},
		{"query": "预算", "owner_ids": []int64{f.Reps[0].ID, f.Reps[1].ID}},
		{"query": "discount", "direction": "inbound"},
		{"query": "折扣", "from": march, "to": march.AddDate(0, 1, 0)},
		{"query": "报价", "min_duration_ms": 600_000},
		{"query": "预算", "speaker_affiliation": "external"},
		{"query": "pricing", "department_id": f.East.ID},
		{"query": "budget", "page_size": 50},
	}
	reqs := make([]p4Request, len(bodies))
	for i, b := range bodies {
		data, _ := json.Marshal(b)
		reqs[i] = p4Request{name: string(data), http: data, direct: directBody(t, f, scope, b)}
	}
	client := func() *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	}
	svc, direct := client(), client()
	searchURL, esSearch := s.URL("/api/v1/search"), esURL+"/"+corpusAlias+"/_search"
	// The two answer the same: same total, same conversations in the same
	// order (which also warms both up).
	for i, r := range reqs {
		a, err := post(svc, searchURL, token, r.http)
		if err != nil {
			t.Fatal(err)
		}
		b, err := post(direct, esSearch, "", r.direct)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data controller.SearchPageJSON `json:"data"`
		}
		var raw struct {
			Hits struct {
				Total struct{ Value int64 }
				Hits  []struct {
					ID string `json:"_id"`
				}
			}
		}
		if err := json.Unmarshal(a, &page); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		// The direct answer has one hit more than the page: it tells
		// whether another page follows.
		size := 20
		if n, ok := bodies[i]["page_size"].(int); ok {
			size = n
		}
		var got, want []string
		for _, h := range page.Data.Results {
			got = append(got, fmt.Sprint(h.Conversation.ID))
		}
		for _, h := range raw.Hits.Hits[:min(size, len(raw.Hits.Hits))] {
			want = append(want, h.ID)
		}
		if page.Data.Total != raw.Hits.Total.Value || !slices.Equal(got, want) || page.Data.Total == 0 {
			t.Errorf("%s: service total %d %v, direct total %d %v", r.name, page.Data.Total, got, raw.Hits.Total.Value, want)
		}
		t.Logf("%-70s %5d conversations", r.name, page.Data.Total)
	}

	for range 2 { // warm up both paths
		for _, r := range reqs {
			if _, err := post(svc, searchURL, token, r.http); err != nil {
				t.Fatal(err)
			}
			if _, err := post(direct, esSearch, "", r.direct); err != nil {
				t.Fatal(err)
			}
		}
	}
	mgv, es := make([]time.Duration, pairs), make([]time.Duration, pairs)
	send := func(k, which int) {
		r := reqs[k%len(reqs)]
		start := time.Now()
		var err error
		if which == 0 {
			_, err = post(svc, searchURL, token, r.http)
			mgv[k] = time.Since(start)
		} else {
			_, err = post(direct, esSearch, "", r.direct)
			es[k] = time.Since(start)
		}
		if err != nil {
			t.Error(err)
		}
	}
	start := time.Now()
	// send reports its errors; a failed test stops sending.
	_ = inParallel(conc, pairs, func(k int) error {
		first := (k / len(reqs)) % 2 // which target goes first alternates per pass over the queries
		send(k, first)
		send(k, 1-first)
		if t.Failed() {
			return errors.New("failed")
		}
		return nil
	})
	took := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	perQuery := map[string][2][]time.Duration{}
	for k := range pairs {
		name := reqs[k%len(reqs)].name
		pq := perQuery[name]
		pq[0], pq[1] = append(pq[0], mgv[k]), append(pq[1], es[k])
		perQuery[name] = pq
	}
	names := make([]string, 0, len(perQuery))
	for n := range perQuery {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pq := perQuery[n]
		t.Logf("%-70s p50 %8s vs %8s (%.2f×)", n, ms(quantile(pq[0], 0.5)), ms(quantile(pq[1], 0.5)),
			float64(quantile(pq[0], 0.5))/float64(quantile(pq[1], 0.5)))
	}
	p50, p99 := float64(quantile(mgv, 0.5))/float64(quantile(es, 0.5)), float64(quantile(mgv, 0.99))/float64(quantile(es, 0.99))
	t.Logf("%d requests each in %s", pairs, took.Round(time.Millisecond))
	record(t, Row{
		ID: "P4",
		What: fmt.Sprintf("POST /api/v1/search as the tenant admin on %d sentences (%d conversations, Chinese and English) vs the same Elasticsearch request (built by the same code) sent straight to the alias; %d queries (words, phrases, filters), %d requests each, concurrency %d, interleaved request by request",
			corpus.Default.Total(), corpus.Default.Conversations, len(reqs), pairs, conc),
		Target:   "p50 ≤ 1.2×, p99 ≤ 1.5×",
		Measured: fmt.Sprintf("p50 %s, p99 %s", ms(quantile(mgv, 0.5)), ms(quantile(mgv, 0.99))),
		Baseline: fmt.Sprintf("p50 %s, p99 %s", ms(quantile(es, 0.5)), ms(quantile(es, 0.99))),
		Result:   fmt.Sprintf("p50 %.2f×, p99 %.2f×", p50, p99),
		Pass:     p50 <= 1.2 && p99 <= 1.5,
		Command:  "make bench (TestBenchP4SearchLatency; corpus generator internal/e2e/corpus)",
	})
}

// esSentences counts the sentences of a tenant searchable behind alias.
func esSentences(t *testing.T, esURL, alias string, tenantID int64) int64 {
	t.Helper()
	var res struct {
		Aggregations struct {
			S struct {
				DocCount int64 `json:"doc_count"`
			} `json:"s"`
		} `json:"aggregations"`
	}
	esJSON(t, http.MethodPost, esURL+"/"+alias+"/_search", map[string]any{
		"size": 0, "query": map[string]any{"term": map[string]any{"tenant_id": tenantID}},
		"aggs": map[string]any{"s": map[string]any{"nested": map[string]any{"path": "sentences"}}},
	}, &res)
	return res.Aggregations.S.DocCount
}

// TestBenchP5IngestThroughput: sentences per second from gRPC PutTranscript
// (several concurrent streams) until every sentence is searchable, vs raw
// _bulk of the same documents until refreshed; interleaved rounds after an
// unmeasured warm-up round of each. Every process shares the machine, so
// the CPU time each one used is reported beside the rates.
func TestBenchP5IngestThroughput(t *testing.T) {
	const (
		rounds    = 8 // measured, after one warm-up round
		convs     = 400
		sentences = 250
		streams   = 8
		chunk     = 500
		// Raw: documents per _bulk request and requests in flight.
		rawDocs, rawWorkers = 25, 2
	)
	esURL := requireEnv(t, "MGV_TEST_ES_URL")
	env := benchLimits(esEnv(t, mysqlEnv(t)))
	s := benchService(t, env)
	f := NewFixture(t, s)
	s.Start()
	alias := env["MGV_SEARCH_INDEX"]
	rawAlias := alias + "_raw"
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, esURL+"/"+rawAlias+"_v*", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			closeBody(t, resp)
		}
	})
	client, err := olivere.NewClient(olivere.SetURL(esURL), olivere.SetSniff(false), olivere.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	// The raw index has the service's mapping and settings (config_test:
	// one shard, no replica, refresh 1 s).
	if err := elastic.New(client, elastic.Options{Alias: rawAlias, Shards: 1, Replicas: 0, RefreshInterval: time.Second}).Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	owners := corpusOwners(t, f)
	procs := newBenchProcs(t, s.PID())

	var svcSentences, rawSentences int64
	var svcTime, rawTime time.Duration
	svcCPU, rawCPU := cpuUse{}, cpuUse{}
	var retried atomic.Int64
	var tail time.Duration // worst wait from the last write to searchable
	// Each measured round's arms, for the spread of the per-round ratio.
	var roundRaw, roundSvc time.Duration
	var perRound []float64
	for round := 0; round <= rounds; round++ {
		// Round 0 warms both arms up (JIT, pools, caches), unmeasured.
		measured := round > 0
		gen := corpus.NewGenerator(corpus.Spec{Conversations: convs, Sentences: sentences, Seed: uint64(9000 + round)}, f.Tenant.ID, 0, owners)
		tag := newTag()
		docs := make([]*search.Doc, convs)
		puts := make([][]*openv1.Sentence, convs)
		ids := make([]int64, convs)
		for i := range docs {
			c := gen.Conversation(i)
			d := c.Doc
			req := &openv1.CreateConversationRequest{
				OriginConversationId: c.Origin + "-" + tag,
				Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: d.OwnerUserID},
				Title:                d.Title, Channel: openv1.Channel_CHANNEL_CALL, Direction: openv1.Direction_DIRECTION_OUTBOUND,
				BeginTime: timestamppb.New(d.BeginTime), DurationMs: d.DurationMS, Language: d.Language,
			}
			if d.Channel == model.ChannelMeeting {
				req.Channel, req.Direction = openv1.Channel_CHANNEL_MEETING, openv1.Direction_DIRECTION_UNKNOWN
			} else if d.Direction == model.DirectionInbound {
				req.Direction = openv1.Direction_DIRECTION_INBOUND
			}
			for _, part := range c.Participants {
				in := &openv1.ParticipantInput{SpeakerKey: part.SpeakerKey, Name: part.Name, Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL}
				if part.UserID != 0 {
					in.User, in.Affiliation = &openv1.ParticipantInput_UserId{UserId: part.UserID}, openv1.Affiliation_AFFILIATION_INTERNAL
				}
				req.Participants = append(req.Participants, in)
			}
			res, err := p.conv.CreateConversation(p.ctx, req)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			d.ConversationID = res.ConversationId
			docs[i], ids[i] = d, d.ConversationID
			for _, st := range d.Sentences {
				puts[i] = append(puts[i], &openv1.Sentence{Seq: int64(st.Seq), SpeakerKey: st.SpeakerKey, StartMs: st.StartMS, EndMs: st.EndMS, Text: st.Text})
			}
		}
		// The creates' own index jobs are done before the clock starts.
		for deadline := time.Now().Add(time.Minute); pendingSearchJobs(t, f) > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the creates' index jobs are not done after a minute")
			}
		}
		total := int64(convs * sentences)

		// Raw: the same documents, prebuilt _bulk bodies.
		var bodies [][]byte
		for i := 0; i < convs; i += rawDocs {
			b, err := corpus.BulkBody(docs[i:min(i+rawDocs, convs)])
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, b)
		}
		raw := func() {
			before := esSentences(t, esURL, rawAlias, f.Tenant.ID)
			procs.quiet(t, 30*time.Second)
			cpu := procs.cpu(t)
			start := time.Now()
			err := inParallel(rawWorkers, len(bodies), func(k int) error {
				return corpus.PostBulk(context.Background(), esHTTP, esURL, rawAlias, bodies[k])
			})
			if err != nil {
				t.Fatal(err)
			}
			if st := esJSON(t, http.MethodPost, esURL+"/"+rawAlias+"/_refresh", nil, nil); st != http.StatusOK {
				t.Fatalf("refresh: %d", st)
			}
			took := time.Since(start)
			used := procs.cpu(t).since(cpu)
			if got := esSentences(t, esURL, rawAlias, f.Tenant.ID) - before; got != total {
				t.Fatalf("raw: %d sentences searchable, want %d", got, total)
			}
			t.Logf("round %d raw _bulk: %d sentences in %s (%.0f/s); CPU %s", round, total, took.Round(time.Millisecond), float64(total)/took.Seconds(), used)
			if measured {
				rawTime += took
				rawSentences += total
				rawCPU = rawCPU.add(used)
				roundRaw = took
			}
		}
		service := func() {
			before := esSentences(t, esURL, alias, f.Tenant.ID)
			procs.quiet(t, 30*time.Second)
			cpu := procs.cpu(t)
			start := time.Now()
			err := inParallel(streams, convs, func(k int) error {
				for attempt := 1; ; attempt++ {
					_, err := p.put(docs[k].ConversationID, puts[k], chunk)
					if err == nil {
						return nil
					}
					// CONFLICT says "try again", and a partner does;
					// counted, since each costs a write.
					if code, reason, _ := rpcReason(err); code == codes.Aborted && reason == errs.ReasonConflict && attempt < 5 {
						retried.Add(1)
						time.Sleep(time.Duration(attempt*20) * time.Millisecond)
						continue
					}
					return err
				}
			})
			written := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			// A conversation's sentences are indexed with it in one
			// document, so counting the round's conversations indexed
			// with their transcript counts its sentences, and is cheaper
			// to poll (the sentences are counted once at the end).
			for n := convsWithSentences(t, esURL, alias, ids); n < convs; n = convsWithSentences(t, esURL, alias, ids) {
				if time.Since(start) > 3*time.Minute {
					t.Fatalf("not searchable after 3 minutes: %d of %d conversations", n, convs)
				}
				time.Sleep(20 * time.Millisecond)
			}
			took := time.Since(start)
			used := procs.cpu(t).since(cpu)
			if got := esSentences(t, esURL, alias, f.Tenant.ID) - before; got != total {
				t.Fatalf("service: %d sentences searchable, want %d", got, total)
			}
			t.Logf("round %d PutTranscript: %d sentences written in %s, searchable after %s (%.0f/s); CPU %s", round, total,
				written.Round(time.Millisecond), took.Round(time.Millisecond), float64(total)/took.Seconds(), used)
			if measured {
				tail = max(tail, took-written)
				svcTime += took
				svcSentences += total
				svcCPU = svcCPU.add(used)
				roundSvc = took
			}
		}
		if round%2 == 0 {
			raw()
			service()
		} else {
			service()
			raw()
		}
		if measured {
			perRound = append(perRound, roundRaw.Seconds()/roundSvc.Seconds()) // same sentences in both arms
		}
	}
	slices.Sort(perRound)
	// Searchable through the service too, not only counted.
	var page searchPage
	searchAs(t, s, f.Token(t, f.Admin), map[string]any{"query": "预算"}).want(t, http.StatusOK, "").decode(t, &page)
	if page.Total == 0 {
		t.Error("the ingested transcripts are not found through POST /api/v1/search")
	}
	// Transcripts per committed transaction, over every round (the
	// creates are not transcripts).
	group := metric(t, s, "mgv_transcript_commit_group_size_sum") / metric(t, s, "mgv_transcript_commit_group_size_count")
	svcRate, rawRate := float64(svcSentences)/svcTime.Seconds(), float64(rawSentences)/rawTime.Seconds()
	ratio := svcRate / rawRate
	record(t, Row{
		ID: "P5",
		What: fmt.Sprintf("ingest until searchable: gRPC PutTranscript (%d streams, chunks of %d) of %d conversations × %d sentences, polled until all are searchable, vs raw _bulk of the same documents (elastic.BulkBody, %d per request, %d in flight) plus _refresh; one warm-up round, then %d interleaved rounds, each arm starting with the other processes idle; Elasticsearch, MariaDB, mgvcore and the load generator share the machine",
			streams, chunk, convs, sentences, rawDocs, rawWorkers, rounds),
		Target: "≥ 0.5",
		Measured: fmt.Sprintf("%.0f sentences/s (searchable ≤ %s after the last write; %d of %d PutTranscript calls retried after CONFLICT; %.1f transcripts per commit transaction); CPU s per 100k sentences: %s",
			svcRate, tail.Round(10*time.Millisecond), retried.Load(), (rounds+1)*convs, group, svcCPU.per(100_000, svcSentences)),
		Baseline: fmt.Sprintf("%.0f sentences/s; CPU s per 100k sentences: %s", rawRate, rawCPU.per(100_000, rawSentences)),
		Result:   fmt.Sprintf("%.2f (rounds %.2f–%.2f)", ratio, perRound[0], perRound[len(perRound)-1]),
		Pass:     ratio >= 0.5,
		Command:  "make bench (TestBenchP5IngestThroughput)",
	})
}

// convsWithSentences counts the conversations of ids indexed with their
// first transcript: the document's version is the transcript version, 0
// before any. A round's conversations are created one after the other, so
// their ids are the range from the smallest to the largest, and the poll
// is two range filters on top-level fields: cheaper for Elasticsearch than
// 400 terms, and far cheaper than a nested query.
func convsWithSentences(t *testing.T, esURL, alias string, ids []int64) int {
	t.Helper()
	var res struct {
		Count int `json:"count"`
	}
	esJSON(t, http.MethodPost, esURL+"/"+alias+"/_count", map[string]any{
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"range": map[string]any{"conversation_id": map[string]any{"gte": slices.Min(ids), "lte": slices.Max(ids)}}},
			map[string]any{"range": map[string]any{"version": map[string]any{"gte": 1}}},
		}}},
	}, &res)
	return res.Count
}
