//go:build e2e && bench

package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// P3 (QUALITY.md): GET /api/v1/conversations/{id} through the real binary —
// JWT, the whole policy chain, the data scope of a manager (department
// subtree), gorm on MariaDB — against a minimal net/http handler that runs
// the same SQL through database/sql on the same database and writes the
// same JSON. The SQL is not copied by hand: it is captured from the dao code
// the service runs, so the two cannot drift apart.

// capturedQuery is one statement as gorm sent it: SQL with placeholders and
// its arguments.
type capturedQuery struct {
	SQL  string
	Vars []any
}

// captureGetSQL runs conversation.Reader.Get (what GET
// /conversations/{id} calls) for scope s and conversation id on its gorm
// dao, and returns the statements gorm sent, in order.
func captureGetSQL(t *testing.T, dsn string, s model.Scope, id int64) []capturedQuery {
	t.Helper()
	db := daotest.Connect(t, "mysql", dsn, daotest.Unmigrated)
	var out []capturedQuery
	capture := func(tx *gorm.DB) {
		if tx.DryRun {
			return // gorm building a subquery, not a statement sent
		}
		out = append(out, capturedQuery{SQL: tx.Statement.SQL.String(), Vars: append([]any(nil), tx.Statement.Vars...)})
	}
	if err := db.Callback().Query().After("gorm:query").Register("p3:capture", capture); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Row().After("gorm:row").Register("p3:capture", capture); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Raw().After("gorm:raw").Register("p3:capture", capture); err != nil {
		t.Fatal(err)
	}
	// The use case the route calls, on the dao the service wires to it.
	ctx := model.WithScope(t.Context(), s)
	if _, err := conversation.NewReader(dao.NewConversations(db)).Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	return out
}

// bareGet is the baseline: the captured statements with the conversation id
// of the URL put in, scanned with database/sql, encoded as the service
// encodes them.
type bareGet struct {
	db      *sql.DB
	queries []capturedQuery
	idArgs  [][]int // per query, the positions of the conversation id
	reqID   atomic.Uint64
}

func (b *bareGet) args(q int, id int64) []any {
	args := append([]any(nil), b.queries[q].Vars...)
	for _, i := range b.idArgs[q] {
		args[i] = id
	}
	return args
}

// scanRows reads every row of rows into a fresh value made by row, with
// each column scanned into the field fields names (others are skipped).
func scanRows[T any](rows *sql.Rows, fields func(*T) map[string]any) (_ []T, err error) {
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []T
	for rows.Next() {
		var v T
		m := fields(&v)
		dest := make([]any, len(cols))
		for i, c := range cols {
			if p, ok := m[c]; ok {
				dest[i] = p
			} else {
				dest[i] = new(sql.RawBytes)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (b *bareGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, `{"code":400,"msg":"bad id"}`, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	query := func(q int) (*sql.Rows, error) { return b.db.QueryContext(ctx, b.queries[q].SQL, b.args(q, id)...) }
	fail := func(err error) { http.Error(w, `{"code":500,"msg":"`+err.Error()+`"}`, http.StatusInternalServerError) }

	rows, err := query(0)
	if err != nil {
		fail(err)
		return
	}
	convs, err := scanRows(rows, func(c *model.Conversation) map[string]any {
		return map[string]any{"id": &c.ID, "tenant_id": &c.TenantID, "origin_conversation_id": &c.OriginConversationID,
			"owner_user_id": &c.OwnerUserID, "deal_id": &c.DealID, "title": &c.Title, "channel": &c.Channel, "direction": &c.Direction,
			"begin_time": &c.BeginTime, "duration_ms": &c.DurationMS, "language": &c.Language, "status": &c.Status,
			"custom_data": &c.CustomData, "request_hash": &c.RequestHash, "transcript_version": &c.TranscriptVersion,
			"sentence_count": &c.SentenceCount, "created_at": &c.CreatedAt, "updated_at": &c.UpdatedAt}
	})
	if err != nil {
		fail(err)
		return
	}
	if len(convs) == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":404,"msg":"no such conversation","reason":"CONVERSATION_NOT_FOUND"}`))
		return
	}
	if rows, err = query(1); err != nil {
		fail(err)
		return
	}
	parts, err := scanRows(rows, func(p *model.Participant) map[string]any {
		return map[string]any{"id": &p.ID, "tenant_id": &p.TenantID, "conversation_id": &p.ConversationID, "speaker_key": &p.SpeakerKey,
			"user_id": &p.UserID, "name": &p.Name, "affiliation": &p.Affiliation}
	})
	if err != nil {
		fail(err)
		return
	}
	if rows, err = query(2); err != nil {
		fail(err)
		return
	}
	metrics, err := scanRows(rows, func(m *model.ConversationMetrics) map[string]any {
		return map[string]any{"conversation_id": &m.ConversationID, "tenant_id": &m.TenantID, "algo_version": &m.AlgoVersion,
			"talk_ratio": &m.TalkRatio, "longest_monologue_ms": &m.LongestMonologueMS, "longest_customer_story_ms": &m.LongestCustomerStoryMS,
			"interactivity": &m.Interactivity, "patience_ms": &m.PatienceMS, "question_count_internal": &m.QuestionCountInternal,
			"question_count_external": &m.QuestionCountExternal, "question_rate": &m.QuestionRate, "silence_ms": &m.SilenceMS,
			"computed_at": &m.ComputedAt}
	})
	if err != nil {
		fail(err)
		return
	}
	if rows, err = query(3); err != nil {
		fail(err)
		return
	}
	hits, err := scanRows(rows, func(h *model.TrackerHitCount) map[string]any {
		return map[string]any{"tracker_id": &h.TrackerID, "tracker_name": &h.TrackerName, "hits": &h.Hits}
	})
	if err != nil {
		fail(err)
		return
	}

	c := convs[0]
	custom := json.RawMessage(c.CustomData)
	if len(custom) == 0 {
		custom = json.RawMessage("{}")
	}
	d := controller.ConversationDetailJSON{
		Conversation: controller.ConversationJSON{ID: c.ID, OriginConversationID: c.OriginConversationID, OwnerUserID: c.OwnerUserID,
			DealID: c.DealID, Title: c.Title, Channel: c.Channel, Direction: c.Direction, BeginTime: c.BeginTime.UTC(),
			DurationMS: c.DurationMS, Language: c.Language, Status: c.Status, CustomData: custom, SentenceCount: c.SentenceCount,
			CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()},
		Participants: make([]controller.ParticipantJSON, len(parts)),
		TrackerHits:  hits,
	}
	if d.TrackerHits == nil {
		d.TrackerHits = []model.TrackerHitCount{}
	}
	for i, p := range parts {
		d.Participants[i] = controller.ParticipantJSON{SpeakerKey: p.SpeakerKey, UserID: p.UserID, Name: p.Name, Affiliation: p.Affiliation}
	}
	if len(metrics) > 0 {
		m := metrics[0]
		d.Metrics = &controller.MetricsJSON{AlgoVersion: m.AlgoVersion, TalkRatio: m.TalkRatio, LongestMonologueMS: m.LongestMonologueMS,
			LongestCustomerStoryMS: m.LongestCustomerStoryMS, Interactivity: m.Interactivity, PatienceMS: m.PatienceMS,
			QuestionCountInternal: m.QuestionCountInternal, QuestionCountExternal: m.QuestionCountExternal,
			QuestionRate: m.QuestionRate, SilenceMS: m.SilenceMS, ComputedAt: m.ComputedAt.UTC()}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "msg": "ok", "data": d,
		"request_id": fmt.Sprintf("%032x", b.reqID.Add(1))})
}

// startBareGet serves the baseline on a loopback port until the test ends.
func startBareGet(t *testing.T, b *bareGet) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/conversations/{id}", b)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// wrkBearer runs wrk -t2 -c32 with a bearer token; it returns requests per
// second and fails on any error or non-2xx answer.
func wrkBearer(t *testing.T, url, token string, d time.Duration) float64 {
	t.Helper()
	out, err := exec.Command("wrk", "-t2", "-c32", "-d"+d.String(), "-H", "Authorization: Bearer "+token, url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		t.Fatalf("wrk saw errors against %s:\n%s", url, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk printed no rate:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return rps
}

// getData fetches url with token and returns the data of the envelope.
func getData(t *testing.T, url, token string) json.RawMessage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != http.StatusOK || env.Code != 0 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return env.Data
}

// p3Run is what measureP3 found: mgvcore's and the baseline's summed rates
// over the rounds, mgvcore's share in each round, and the service.
type p3Run struct {
	s         *Service
	f         *Fixture
	mgv, base float64
	perRound  []float64
	rounds    int
	round     time.Duration
}

// measureP3 reads one conversation from mgvcore (on MariaDB, with env) and
// from the database/sql baseline by turns under wrk.
func measureP3(t *testing.T, extra map[string]string) p3Run {
	env := mysqlEnv(t)
	for k, v := range extra {
		env[k] = v
	}
	// Limits out of the way of a throughput run; everything else as tested.
	env["MGV_RATELIMIT_TIERS_STANDARD_RPS"] = "10000000"
	env["MGV_RATELIMIT_TIERS_STANDARD_BURST"] = "1000000"
	s := benchService(t, env)
	f := NewFixture(t, s)
	now := time.Now().UTC()
	tracker := model.Tracker{TenantID: f.Tenant.ID, Name: "预算", Keywords: `["预算","price"]`, Affiliation: model.AffiliationAnyone,
		Version: 1, MatchRule: model.TrackerMatchRule, CreatedAt: now, UpdatedAt: now}
	if err := f.DB.Create(&tracker).Error; err != nil {
		t.Fatal(err)
	}
	s.Start()

	// A realistic table: 200 calls over the org with 40-sentence transcripts
	// (metrics and tracker hits computed on ingest).
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	owners := append([]model.User{f.Manager}, f.Reps...)
	var ids []int64
	for i := range 200 {
		id := p.create(fmt.Sprintf("p3-%03d", i), owners[i%len(owners)].ID, now.Add(-time.Duration(i)*time.Hour), 600_000, nil)
		if _, err := p.put(id, transcript(40, fmt.Sprintf("p3-%d", i)), 40); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The manager reads one of rep3's calls (rep3 is in /sales/east/, below
	// the manager's /sales/): the data scope is the department-subtree join.
	manager := f.Manager
	token := f.Token(t, manager)
	target, other := ids[3], ids[8] // owners[3] = rep3, owners[8%5] = rep3
	scope := model.Scope{TenantID: f.Tenant.ID, UserID: manager.ID, Role: model.RoleManager, DepartmentPath: f.Sales.Path}

	// The baseline runs the statements the dao runs, captured for two ids
	// to find where the id goes.
	dsn := s.Env["MGV_DATABASE_DSN"]
	qa, qb := captureGetSQL(t, dsn, scope, target), captureGetSQL(t, dsn, scope, other)
	if len(qa) != 4 || len(qb) != 4 {
		t.Fatalf("captured %d and %d statements, want 4 (conversation, participants, metrics, tracker hits)", len(qa), len(qb))
	}
	b := &bareGet{queries: qa, idArgs: make([][]int, len(qa))}
	for i := range qa {
		if qa[i].SQL != qb[i].SQL || len(qa[i].Vars) != len(qb[i].Vars) {
			t.Fatalf("statement %d depends on the id beyond its arguments:\n%s\n%s", i, qa[i].SQL, qb[i].SQL)
		}
		for j := range qa[i].Vars {
			if !reflect.DeepEqual(qa[i].Vars[j], qb[i].Vars[j]) {
				b.idArgs[i] = append(b.idArgs[i], j)
			}
		}
		if len(b.idArgs[i]) == 0 {
			t.Fatalf("statement %d does not take the conversation id: %s %v", i, qa[i].SQL, qa[i].Vars)
		}
		t.Logf("SQL %d: %s   args %v (id at %v)", i+1, qa[i].SQL, qa[i].Vars, b.idArgs[i])
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, db)
	// The service's pool (config_test.toml: database.max_open_conns 32,
	// max_idle_conns 16, conn_max_lifetime 30m).
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxLifetime(30 * time.Minute)
	b.db = db
	bareAddr := startBareGet(t, b)

	mgvURL := s.URL(fmt.Sprintf("/api/v1/conversations/%d", target))
	bareURL := fmt.Sprintf("http://%s/api/v1/conversations/%d", bareAddr, target)
	// Equivalent answers: the same data, field for field.
	var fromMgv, fromBare controller.ConversationDetailJSON
	if err := errors.Join(json.Unmarshal(getData(t, mgvURL, token), &fromMgv), json.Unmarshal(getData(t, bareURL, token), &fromBare)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromMgv, fromBare) {
		t.Fatalf("the baseline answers differently:\nmgvcore %+v\nbare    %+v", fromMgv, fromBare)
	}
	if fromMgv.Metrics == nil || len(fromMgv.Participants) != 2 || len(fromMgv.TrackerHits) != 1 || fromMgv.Conversation.OwnerUserID != f.Reps[2].ID {
		t.Fatalf("the target is not a full conversation: %+v", fromMgv)
	}
	// Out of scope stays out of scope under the benchmark's token.
	outOfScope := ids[4] // rep4, /support/
	if resp, err := httpGetAuth(s.URL(fmt.Sprintf("/api/v1/conversations/%d", outOfScope)), token); err != nil || resp != http.StatusNotFound {
		t.Fatalf("the manager reads rep4's call: %d %v", resp, err)
	}

	// Warm both, then interleaved rounds, alternating which goes first so
	// that drift in the machine's load weighs on both alike.
	wrkBearer(t, bareURL, token, 2*time.Second)
	wrkBearer(t, mgvURL, token, 2*time.Second)
	const rounds, round = 4, 8 * time.Second
	var mgv, base float64
	var perRound []float64
	for i := 0; i < rounds; i++ {
		var bb, mm float64
		if i%2 == 0 {
			bb = wrkBearer(t, bareURL, token, round)
			mm = wrkBearer(t, mgvURL, token, round)
		} else {
			mm = wrkBearer(t, mgvURL, token, round)
			bb = wrkBearer(t, bareURL, token, round)
		}
		base, mgv = base+bb, mgv+mm
		perRound = append(perRound, mm/bb)
		t.Logf("round %d: mgvcore %.0f req/s, bare %.0f req/s, %.2f", i+1, mm, bb, mm/bb)
	}
	return p3Run{s: s, f: f, mgv: mgv, base: base, perRound: perRound, rounds: rounds, round: round}
}

func TestBenchP3ConversationGet(t *testing.T) {
	r := measureP3(t, nil)
	mgv, base, perRound, rounds, round := r.mgv, r.base, r.perRound, r.rounds, r.round
	ratio := mgv / base
	slices.Sort(perRound)
	record(t, Row{
		ID: "P3", What: fmt.Sprintf("GET /api/v1/conversations/{id} as a manager (JWT, department-subtree data scope, 4 queries on MariaDB) "+
			"vs a net/http handler running the same 4 statements (captured from conversation.Reader.Get on the gorm dao) through database/sql, same pool, same JSON "+
			"(wrk -t2 -c32, %d×%s each, interleaved)", rounds, round),
		Target: "≥ 0.60", Measured: fmt.Sprintf("%.0f req/s", mgv/float64(rounds)), Baseline: fmt.Sprintf("%.0f req/s", base/float64(rounds)),
		Result: fmt.Sprintf("%.2f (rounds %.2f–%.2f)", ratio, perRound[0], perRound[rounds-1]), Pass: ratio >= 0.60, Command: "make bench (TestBenchP3ConversationGet)",
	})
}

func httpGetAuth(url, token string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, resp.Body.Close()
}
