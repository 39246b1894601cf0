//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// The tenant-isolation and data-scope suite (PRODUCT §2, QUALITY R6): two
// tenants on one MariaDB database, one conversation with a transcript per
// owner, trackers and comments; then every scopeEndpoint of both transports is
// called as every kind of caller and the exact outcome is asserted.
//
// Tenant A is the fixture tree; tenant B ("B.") is a second fixture with one
// conversation, owned by its rep1:
//
//	A /sales/       manager, rep1, rep2      B /sales/       B.manager, B.rep1, B.rep2
//	A /sales/east/  rep3                     B /sales/east/  B.rep3
//	A /support/     rep4                     B /support/     B.rep4
//	A /HQ/          (a partner department, no users)
//
// Conversations are named after their owner: rep1, rep2, rep3, rep4,
// manager (tenant A) and B.rep1 (tenant B).

// The callers, in the order of the matrix columns.
const (
	colRep1 = iota
	colRep3
	colManager
	colAdmin
	colApp       // app of A with ingest, read and search
	colAppRead   // app of A with read only
	colAppIngest // app of A with ingest only
	colBAdmin    // admin of tenant B
	colBApp      // app of tenant B with every scope
	nCols
)

var colNames = [nCols]string{"rep1", "rep3", "manager", "admin", "app", "app:read", "app:ingest", "B.admin", "B.app"}

// scopeConvs is THE data-scope table: the conversations each caller sees
// (rep: own; manager: department subtree, own included; admin and apps:
// the tenant; nothing across tenants).
var scopeConvs = map[string][]string{
	"rep1":       {"rep1"},
	"rep3":       {"rep3"},
	"manager":    {"manager", "rep1", "rep2", "rep3"},
	"admin":      {"manager", "rep1", "rep2", "rep3", "rep4"},
	"app":        {"manager", "rep1", "rep2", "rep3", "rep4"},
	"app:read":   {"manager", "rep1", "rep2", "rep3", "rep4"},
	"app:ingest": {}, // may not read at all
	"B.admin":    {"B.rep1"},
	"B.app":      {"B.rep1"},
}

// scopeUsers are the users each caller lists (the same rule on users).
var scopeUsers = map[string][]string{
	"rep1":     {"rep1"},
	"rep3":     {"rep3"},
	"manager":  {"manager", "rep1", "rep2", "rep3"},
	"admin":    {"admin", "manager", "rep1", "rep2", "rep3", "rep4"},
	"app":      {"admin", "manager", "rep1", "rep2", "rep3", "rep4"},
	"app:read": {"admin", "manager", "rep1", "rep2", "rep3", "rep4"},
	"B.admin":  {"B.admin", "B.manager", "B.rep1", "B.rep2", "B.rep3", "B.rep4"},
	"B.app":    {"B.admin", "B.manager", "B.rep1", "B.rep2", "B.rep3", "B.rep4"},
}

// scopeRepStats are the reps GET /stats/reps lists for each caller, with
// their conversation counts (role rep only: the manager's call is not in).
var scopeRepStats = map[string][]string{
	"rep1":     {"rep1=1"},
	"rep3":     {"rep3=1"},
	"manager":  {"rep1=1", "rep2=1", "rep3=1"},
	"admin":    {"rep1=1", "rep2=1", "rep3=1", "rep4=1"},
	"app":      {"rep1=1", "rep2=1", "rep3=1", "rep4=1"},
	"app:read": {"rep1=1", "rep2=1", "rep3=1", "rep4=1"},
	"B.admin":  {"B.rep1=1", "B.rep2=0", "B.rep3=0", "B.rep4=0"},
	"B.app":    {"B.rep1=1", "B.rep2=0", "B.rep3=0", "B.rep4=0"},
}

// The tenant-wide tables: the department tree and the trackers.
var (
	tenantADepartments = []string{"East", "HQ", "Sales", "Support"}
	tenantBDepartments = []string{"B.East", "B.Sales", "B.Support"}
	tenantATrackers    = []string{"pricing"}
	tenantBTrackers    = []string{"B.pricing"}
	// salesSubtree are the users of A's /sales/ subtree (for the
	// department filters).
	salesSubtree = []string{"manager", "rep1", "rep2", "rep3"}
)

// scopeCell is an expected outcome in the matrix.
type scopeCell int

const (
	allow  scopeCell = iota + 1 // 2xx; a list answers exactly the caller's row of the tables above
	scoped                      // per target conversation: allowed when the caller sees it, else hidden
	hidden                      // 404 with the row's reason and no data, as for an id that does not exist
	denied                      // 403 PERMISSION_DENIED
)

func (c scopeCell) String() string {
	return map[scopeCell]string{allow: "ok", scoped: "scoped", hidden: "404", denied: "403"}[c]
}

// cells is one row of the matrix, a cell per caller column.
func cells(cs ...scopeCell) [nCols]scopeCell {
	if len(cs) != nCols {
		panic(fmt.Sprintf("a matrix row needs %d cells, got %d", nCols, len(cs)))
	}
	return [nCols]scopeCell(cs)
}

// scopeEndpoint is one row of the matrix.
type scopeEndpoint struct {
	name  string
	cells [nCols]scopeCell
	// reason of the 404 answers.
	reason string
	// created: ok is 201 on HTTP.
	created bool
	// public operations need no token: bad tokens are ignored, not refused.
	public bool
	// sees is what an ok answer lists for the caller; nil: not checked
	// (scoped rows always answer the target).
	sees func(c *scopeCaller) []string
	// call makes the request as c; target names the conversation of scoped
	// rows.
	call func(t *testing.T, c *scopeCaller, target string) scopeAnswer
}

// scopeAnswer is what a call got, transport-neutral: the HTTP status (gRPC codes
// mapped to their HTTP equivalents), the reason, the message, and for ok
// answers the fixture names of what came back.
type scopeAnswer struct {
	status int
	reason string
	msg    string
	names  []string
	// data: an error answer carried data.
	data bool
}

type scopeCaller struct {
	col    int // matrix column; -1 for the bad tokens
	name   string
	token  string
	tenant *Fixture
	user   *model.User // nil for apps
}

func (c *scopeCaller) ctx(t *testing.T) context.Context {
	if c.token == "" {
		return t.Context()
	}
	return authBearer(t.Context(), c.token)
}

// scopeWorld is the data the suite runs on.
type scopeWorld struct {
	s          *Service
	a, b       *Fixture
	conn       *grpc.ClientConn
	tag        string
	base       time.Time
	from, to   time.Time
	conv       map[string]int64 // conversation by name ("ghost": no such id)
	requests   map[string]*openv1.CreateConversationRequest
	sentences  map[string][]*openv1.Sentence
	trackerA   model.Tracker
	trackerB   model.Tracker
	everyone   []int64 // every user of both tenants
	userNames  map[int64]string
	deptNames  map[int64]string
	convNames  map[int64]string
	trackNames map[int64]string
	commentSeq int
}

func scopeName(m map[int64]string, id int64) string {
	if n, ok := m[id]; ok {
		return n
	}
	return fmt.Sprintf("#%d", id)
}

// The suite runs once per search engine: the scope is part of the engine
// query, so each engine must hold it.
func TestScopeAndTenantIsolationOnMariaDB(t *testing.T) {
	testScope(t, mysqlEnv(t), "embedded")
}

func TestScopeAndTenantIsolationOnMariaDBAndElasticsearch(t *testing.T) {
	testScope(t, esEnv(t, mysqlEnv(t)), "elasticsearch")
}

func testScope(t *testing.T, env map[string]string, engine string) {
	// The bad tokens are anonymous callers, limited per client address.
	env["MGV_RATELIMIT_ANON_RPS"], env["MGV_RATELIMIT_ANON_BURST"] = "100000", "100000"
	s := NewService(t, env)
	a, b := NewFixture(t, s), NewFixture(t, s)
	appRead, _ := orgExtraApp(t, a, "read")
	appIngest, _ := orgExtraApp(t, a, "ingest")
	s.Start()
	t.Logf("search engine: %s", engine)
	w := newScopeWorld(t, s, a, b)

	mustToken := func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	callers := []*scopeCaller{
		{col: colRep1, name: "rep1", token: a.Token(t, a.Reps[0]), tenant: a, user: &a.Reps[0]},
		{col: colRep3, name: "rep3", token: a.Token(t, a.Reps[2]), tenant: a, user: &a.Reps[2]},
		{col: colManager, name: "manager", token: a.Token(t, a.Manager), tenant: a, user: &a.Manager},
		{col: colAdmin, name: "admin", token: a.Token(t, a.Admin), tenant: a, user: &a.Admin},
		{col: colApp, name: "app", token: a.AppToken(t), tenant: a},
		{col: colAppRead, name: "app:read", token: mustToken(a.tokens.IssueApp(&appRead, 0)), tenant: a},
		{col: colAppIngest, name: "app:ingest", token: mustToken(a.tokens.IssueApp(&appIngest, 0)), tenant: a},
		{col: colBAdmin, name: "B.admin", token: b.Token(t, b.Admin), tenant: b, user: &b.Admin},
		{col: colBApp, name: "B.app", token: b.AppToken(t), tenant: b},
	}
	// Tokens that must get 401 on every operation that is not public: each
	// would be A's admin (or rep1 promoted to admin) if it were accepted.
	b64 := base64.RawURLEncoding.EncodeToString
	adminParts, repParts := strings.Split(a.Token(t, a.Admin), "."), strings.Split(a.Token(t, a.Reps[0]), ".")
	repPayload, err := base64.RawURLEncoding.DecodeString(repParts[1])
	if err != nil {
		t.Fatal(err)
	}
	promoted := strings.Replace(string(repPayload), `"role":"rep"`, `"role":"admin"`, 1)
	badCallers := []*scopeCaller{
		{col: -1, name: "no token"},
		{col: -1, name: "expired", token: mustToken(identity.NewTokens(testJWTSecret, -time.Minute, time.Hour).IssueAccess(&a.Admin, "", "standard", 0))},
		{col: -1, name: "bad signature", token: mustToken(identity.NewTokens("not-the-secret-of-the-service-0123456789", time.Hour, time.Hour).IssueAccess(&a.Admin, "", "standard", 0))},
		{col: -1, name: "alg none", token: b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + adminParts[1] + "."},
		{col: -1, name: "rep1 promoted to admin after signing", token: repParts[0] + "." + b64([]byte(promoted)) + "." + repParts[2]},
	}
	if promoted == string(repPayload) {
		t.Fatal("rep1's token names no role to tamper with")
	}

	var summary []string
	run := func(phase string, eps []scopeEndpoint) {
		t.Run(phase, func(t *testing.T) {
			for _, ep := range eps {
				t.Run(ep.name, func(t *testing.T) {
					w.check(t, ep, callers, badCallers)
				})
				line := fmt.Sprintf("| %s |", ep.name)
				for _, c := range ep.cells {
					line += " " + c.String() + " |"
				}
				summary = append(summary, line)
			}
		})
	}
	run("reads", w.readEndpoints())
	run("writes", w.writeEndpoints())
	t.Run("isolation after the writes", func(t *testing.T) { w.checkIsolation(t, callers) })

	// R6: what was sent in those calls (tokens, passwords, app secrets)
	// is nowhere in the logs.
	logs := s.Stdout.String() + s.Stderr.String()
	secrets := map[string]string{"A's password": a.Password, "A's app secret": a.AppSecret, "B's app secret": b.AppSecret}
	for _, c := range append(slices.Clone(callers), badCallers...) {
		if c.token != "" {
			secrets["the token of "+c.name] = c.token
			// The signature alone is as good as the token for a forger.
			if sig := c.token[strings.LastIndexByte(c.token, '.')+1:]; len(sig) > 16 {
				secrets["the signature of "+c.name] = sig
			}
		}
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain %s", what)
		}
	}
	if !strings.Contains(logs, `"operation"`) {
		t.Errorf("no request logs to check:\n%s", lastLines(logs, 5))
	}

	header := "| endpoint | " + strings.Join(colNames[:], " | ") + " |"
	t.Logf("matrix (and on every row but the public ones: no token, expired, bad signature, alg none, tampered → 401):\n%s\n%s", header, strings.Join(summary, "\n"))
}

// check runs one row for every caller (and target) and compares.
func (w *scopeWorld) check(t *testing.T, ep scopeEndpoint, callers, bad []*scopeCaller) {
	t.Helper()
	targets := []string{""}
	usesTargets := slices.Contains(ep.cells[:], scoped)
	if usesTargets {
		targets = []string{"rep1", "rep2", "rep3", "rep4", "manager", "B.rep1", "ghost"}
	}
	notFound := map[string]bool{} // the 404 answers of the row, "reason: msg"
	okStatus := http.StatusOK
	if ep.created {
		okStatus = http.StatusCreated
	}
	type expect struct {
		status int
		reason string
		names  []string // nil: not checked
	}
	compare := func(c *scopeCaller, target string, want expect, got scopeAnswer) {
		t.Helper()
		who := c.name
		if target != "" {
			who += " on " + target
		}
		if got.status == http.StatusNotFound {
			notFound[got.reason+": "+got.msg] = true
		}
		switch {
		case got.status != want.status || (want.reason != "" && got.reason != want.reason):
			t.Errorf("%s: got %d %s (%s), want %d %s", who, got.status, got.reason, got.msg, want.status, want.reason)
		case got.status >= 300 && got.data:
			t.Errorf("%s: the %d answer carries data", who, got.status)
		case want.names != nil && !slices.Equal(scopeSorted(got.names), scopeSorted(want.names)):
			t.Errorf("%s: sees %q, want %q", who, scopeSorted(got.names), scopeSorted(want.names))
		}
	}
	for _, c := range callers {
		for _, target := range targets {
			var want expect
			switch ep.cells[c.col] {
			case allow:
				want = expect{status: okStatus}
				if ep.sees != nil {
					want.names = ep.sees(c)
				}
			case scoped:
				if slices.Contains(scopeConvs[c.name], target) {
					want = expect{status: okStatus, names: []string{target}}
				} else {
					want = expect{status: http.StatusNotFound, reason: ep.reason}
				}
			case hidden:
				want = expect{status: http.StatusNotFound, reason: ep.reason}
			case denied:
				want = expect{status: http.StatusForbidden, reason: "PERMISSION_DENIED"}
			default:
				t.Fatalf("no cell for %s", c.name)
			}
			compare(c, target, want, ep.call(t, c, target))
		}
	}
	for _, c := range bad {
		want := expect{status: http.StatusUnauthorized, reason: "UNAUTHENTICATED"}
		if ep.public {
			want = expect{status: okStatus}
		}
		compare(c, "", want, ep.call(t, c, targets[0]))
	}
	// Unknown, out-of-scope and other tenants' ids are told apart by
	// nothing: one reason, one message.
	if len(notFound) > 1 {
		t.Errorf("the 404 answers differ: %q", slices.Sorted(func(yield func(string) bool) {
			for k := range notFound {
				if !yield(k) {
					return
				}
			}
		}))
	}
}

func scopeSorted(n []string) []string {
	out := slices.Clone(n)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

// scopeWithin keeps the names of seen that are in subset ("rep1=1" counts as
// "rep1").
func scopeWithin(seen, subset []string) []string {
	out := []string{}
	for _, n := range seen {
		if name, _, _ := strings.Cut(n, "="); slices.Contains(subset, name) {
			out = append(out, n)
		}
	}
	return out
}

func newScopeWorld(t *testing.T, s *Service, a, b *Fixture) *scopeWorld {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	w := &scopeWorld{
		s: s, a: a, b: b, conn: s.GRPC(), tag: fmt.Sprintf("scope%08x", rand.Uint32()),
		base: now.Add(-48 * time.Hour), from: now.Add(-30 * 24 * time.Hour), to: now.Add(24 * time.Hour),
		conv: map[string]int64{}, requests: map[string]*openv1.CreateConversationRequest{}, sentences: map[string][]*openv1.Sentence{},
		userNames: map[int64]string{}, deptNames: map[int64]string{}, convNames: map[int64]string{}, trackNames: map[int64]string{},
	}
	for _, f := range []*Fixture{a, b} {
		prefix := ""
		if f == b {
			prefix = "B."
		}
		for _, u := range append([]model.User{f.Admin, f.Manager}, f.Reps...) {
			w.userNames[u.ID] = prefix + u.Name
			w.everyone = append(w.everyone, u.ID)
		}
		for _, d := range []model.Department{f.Sales, f.East, f.Support} {
			w.deptNames[d.ID] = prefix + d.Name
		}
	}
	// Trackers first, so that every transcript write records its hits.
	now = time.Now().UTC()
	for _, tr := range []struct {
		f    *Fixture
		dst  *model.Tracker
		name string
	}{{a, &w.trackerA, "pricing"}, {b, &w.trackerB, "B.pricing"}} {
		*tr.dst = model.Tracker{TenantID: tr.f.Tenant.ID, Name: "Pricing", Keywords: `["预算"]`, Affiliation: model.AffiliationAnyone,
			Version: 1, MatchRule: model.TrackerMatchRule, CreatedAt: now, UpdatedAt: now}
		if err := tr.f.DB.Create(tr.dst).Error; err != nil {
			t.Fatal(err)
		}
		w.trackNames[tr.dst.ID] = tr.name
	}

	// One conversation with a transcript per owner, ingested by each
	// tenant's app over gRPC.
	owners := []struct {
		f    *Fixture
		user model.User
		name string
	}{
		{a, a.Reps[0], "rep1"}, {a, a.Reps[1], "rep2"}, {a, a.Reps[2], "rep3"}, {a, a.Reps[3], "rep4"}, {a, a.Manager, "manager"},
		{b, b.Reps[0], "B.rep1"},
	}
	for i, o := range owners {
		req := &openv1.CreateConversationRequest{
			OriginConversationId: "scope-" + o.name,
			Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: o.user.ID},
			Title:                "Call of " + o.name, Channel: openv1.Channel_CHANNEL_CALL, Direction: openv1.Direction_DIRECTION_OUTBOUND,
			BeginTime: timestamppb.New(w.base.Add(time.Duration(i) * time.Hour)), DurationMs: 120_000, Language: "zh-CN",
			Participants: []*openv1.ParticipantInput{
				{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: o.user.ID}},
				{SpeakerKey: "cust", Name: "王总", Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL},
			},
		}
		res, err := openv1.NewConversationServiceClient(w.conn).CreateConversation(authBearer(t.Context(), o.f.AppToken(t)), req)
		if err != nil || !res.Created {
			t.Fatalf("create %s: %v %v", o.name, res, err)
		}
		w.conv[o.name], w.convNames[res.ConversationId], w.requests[o.name] = res.ConversationId, o.name, req
		w.sentences[o.name] = said(
			"rep", "您好，请问今年在培训上的预算大概是多少？ "+w.tag,
			"cust", "预算大概五十万 "+w.tag,
			"rep", "好的，我们可以先试用两周。",
		)
		if _, err := w.put(t, authBearer(t.Context(), o.f.AppToken(t)), w.conv[o.name], w.sentences[o.name]); err != nil {
			t.Fatalf("put %s: %v", o.name, err)
		}
	}
	w.conv["ghost"] = w.conv["B.rep1"] + 1_000_000

	// A comment on every conversation, by its owner.
	for _, o := range owners {
		w.comment(t, o.f, o.name, o.user)
	}
	// A partner department in A (the parent of the gRPC upserts below).
	hq, err := openv1.NewOrgServiceClient(w.conn).UpsertDepartment(authBearer(t.Context(), a.AppToken(t)),
		&openv1.UpsertDepartmentRequest{OriginDepartmentId: "scope-hq", Name: "HQ"})
	if err != nil {
		t.Fatal(err)
	}
	w.deptNames[hq.Department.Id] = "HQ"

	// Everything is searchable before the walk starts.
	waitSearch(t, s, a.Token(t, a.Admin), w.tag, 5, 15*time.Second)
	waitSearch(t, s, b.Token(t, b.Admin), w.tag, 1, 15*time.Second)
	return w
}

// put streams a transcript with ctx's token.
func (w *scopeWorld) put(t *testing.T, ctx context.Context, id int64, sentences []*openv1.Sentence) (*openv1.PutTranscriptResponse, error) {
	st, err := openv1.NewConversationServiceClient(w.conn).PutTranscript(ctx)
	if err != nil {
		return nil, err
	}
	n := int64(len(sentences))
	if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{
		Header: &openv1.TranscriptHeader{ConversationId: id, ExpectedSentenceCount: &n}}}); err == nil {
		_ = st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{
			Chunk: &openv1.SentenceChunk{Sentences: sentences}}})
	}
	return st.CloseAndRecv()
}

// comment writes a comment of author on a conversation straight into the
// database and returns its id.
func (w *scopeWorld) comment(t *testing.T, f *Fixture, conv string, author model.User) int64 {
	t.Helper()
	w.commentSeq++
	c := model.Comment{TenantID: f.Tenant.ID, ConversationID: w.conv[conv], AuthorUserID: author.ID, StartMS: int64(w.commentSeq),
		Text: fmt.Sprintf("note %d by %s", w.commentSeq, author.Name), CreatedAt: time.Now().UTC()}
	if err := f.DB.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// web calls the HTTP API as c; names turns an ok answer into fixture names.
func (w *scopeWorld) web(t *testing.T, c *scopeCaller, method, path string, body any, names func(r authResult) []string) scopeAnswer {
	t.Helper()
	r := authCall(t, w.s, method, path, c.token, body)
	a := scopeAnswer{status: r.Status, reason: r.Reason, msg: r.Msg, data: len(r.Data) > 0 && string(r.Data) != "null"}
	if r.Status/100 == 2 && names != nil {
		a.names = names(r)
	}
	return a
}

// scopeRPCErr is the answer of a failed gRPC call.
func scopeRPCErr(err error) scopeAnswer {
	code, reason, _ := rpcReason(err)
	st := map[codes.Code]int{
		codes.InvalidArgument: http.StatusBadRequest, codes.Unauthenticated: http.StatusUnauthorized,
		codes.PermissionDenied: http.StatusForbidden, codes.NotFound: http.StatusNotFound,
		codes.AlreadyExists: http.StatusConflict, codes.ResourceExhausted: http.StatusTooManyRequests,
		codes.Unavailable: http.StatusServiceUnavailable,
	}[code]
	if st == 0 {
		st = http.StatusInternalServerError
	}
	return scopeAnswer{status: st, reason: reason, msg: status.Convert(err).Message()}
}

func scopeRPCOK(names ...string) scopeAnswer { return scopeAnswer{status: http.StatusOK, names: names} }

func scopeDecode[T any](t *testing.T, r authResult) T {
	t.Helper()
	var v T
	r.decode(t, &v)
	return v
}

func (w *scopeWorld) convPath(target, suffix string) string {
	return fmt.Sprintf("/api/v1/conversations/%d%s", w.conv[target], suffix)
}

func (w *scopeWorld) pageConvNames(r authResult, t *testing.T) []string {
	var out []string
	for _, c := range scopeDecode[controller.ConversationPageJSON](t, r).Conversations {
		out = append(out, scopeName(w.convNames, c.ID))
	}
	return out
}

func (w *scopeWorld) listConvs(query url.Values) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
	return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return w.web(t, c, http.MethodGet, "/api/v1/conversations?"+query.Encode(), nil, func(r authResult) []string {
			p := scopeDecode[controller.ConversationPageJSON](t, r)
			if int(p.Total) != len(p.Conversations) || p.NextPageToken != "" {
				t.Errorf("%s: total %d for %d listed", c.name, p.Total, len(p.Conversations))
			}
			return w.pageConvNames(r, t)
		})
	}
}

func (w *scopeWorld) search(body map[string]any) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
	return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return w.web(t, c, http.MethodPost, "/api/v1/search", body, func(r authResult) []string {
			p := scopeDecode[searchPage](t, r)
			var out, owners []string
			for _, res := range p.Results {
				out = append(out, scopeName(w.convNames, res.Conversation.ID))
			}
			for _, o := range p.OwnerFacets {
				owners = append(owners, scopeName(w.userNames, o.OwnerUserID))
			}
			// Facets count the same conversations as the results (each
			// owner has one conversation, named after them).
			if int(p.Total) != len(out) || !slices.Equal(scopeSorted(owners), scopeSorted(out)) {
				t.Errorf("%s: total %d, owner facets %q for results %q", c.name, p.Total, owners, out)
			}
			return out
		})
	}
}

func (w *scopeWorld) repStatNames(t *testing.T, r authResult) []string {
	var out []string
	for _, rs := range scopeDecode[repStatsJSON](t, r).Reps {
		out = append(out, fmt.Sprintf("%s=%d", scopeName(w.userNames, rs.User.ID), rs.ConversationCount))
	}
	return out
}

func (w *scopeWorld) trackerStats(tracker int64) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
	return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		q := url.Values{"group_by": {"owner"}, "from": {w.from.Format(time.RFC3339)}, "to": {w.to.Format(time.RFC3339)}}
		return w.web(t, c, http.MethodGet, fmt.Sprintf("/api/v1/trackers/%d/stats?%s", tracker, q.Encode()), nil, func(r authResult) []string {
			var out []string
			for _, bk := range scopeDecode[controller.TrackerStatsJSON](t, r).Buckets {
				var id int64
				if _, err := fmt.Sscan(bk.Key, &id); err != nil {
					t.Errorf("owner bucket %q: %v", bk.Key, err)
				}
				out = append(out, scopeName(w.userNames, id))
			}
			return out
		})
	}
}

func (w *scopeWorld) tenantOf(c *scopeCaller, a, b []string) []string {
	if c.tenant == w.a {
		return a
	}
	return b
}

func (w *scopeWorld) readEndpoints() []scopeEndpoint {
	convs := func(c *scopeCaller) []string { return scopeConvs[c.name] }
	users := func(c *scopeCaller) []string { return scopeUsers[c.name] }
	repStats := func(c *scopeCaller) []string { return scopeRepStats[c.name] }
	trackers := func(c *scopeCaller) []string { return w.tenantOf(c, tenantATrackers, tenantBTrackers) }
	depts := func(c *scopeCaller) []string { return w.tenantOf(c, tenantADepartments, tenantBDepartments) }
	inSales := func(table map[string][]string) func(c *scopeCaller) []string {
		return func(c *scopeCaller) []string { return scopeWithin(table[c.name], salesSubtree) }
	}
	everyone := make([]string, len(w.everyone))
	for i, id := range w.everyone {
		everyone[i] = fmt.Sprint(id)
	}
	statsRange := url.Values{"from": {w.from.Format(time.RFC3339)}, "to": {w.to.Format(time.RFC3339)}}
	salesID := fmt.Sprint(w.a.Sales.ID)
	userNames := func(t *testing.T) func(r authResult) []string {
		return func(r authResult) []string {
			var out []string
			for _, u := range scopeDecode[orgUserPage](t, r).Users {
				out = append(out, scopeName(w.userNames, u.ID))
			}
			return out
		}
	}
	convClient := openv1.NewConversationServiceClient(w.conn)
	orgClient := openv1.NewOrgServiceClient(w.conn)
	searchClient := openv1.NewSearchServiceClient(w.conn)
	trackerClient := openv1.NewTrackerServiceClient(w.conn)
	statsClient := openv1.NewStatsServiceClient(w.conn)
	listUsers := func(departmentID int64) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
			res, err := orgClient.ListUsers(c.ctx(t), &openv1.ListUsersRequest{PageSize: 100, DepartmentId: departmentID})
			if err != nil {
				return scopeRPCErr(err)
			}
			var out []string
			for _, u := range res.Users {
				out = append(out, scopeName(w.userNames, u.Id))
			}
			return scopeRPCOK(out...)
		}
	}

	// Columns: rep1, rep3, manager, admin, app, app:read, app:ingest, B.admin, B.app
	return []scopeEndpoint{
		// Organization.
		{name: "GET /me", cells: cells(allow, allow, allow, allow, denied, denied, denied, allow, denied),
			sees: func(c *scopeCaller) []string { return []string{scopeName(w.userNames, c.user.ID)} },
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/me", nil, func(r authResult) []string {
					var me struct {
						User   struct{ ID int64 }
						Tenant struct{ ID int64 }
					}
					r.decode(t, &me)
					if me.Tenant.ID != c.tenant.Tenant.ID {
						t.Errorf("%s: /me names tenant %d", c.name, me.Tenant.ID)
					}
					return []string{scopeName(w.userNames, me.User.ID)}
				})
			}},
		{name: "GET /departments", cells: cells(allow, allow, allow, allow, allow, denied, denied, allow, allow), sees: depts,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/departments", nil, func(r authResult) []string {
					var tree struct{ Departments []scopeDeptNode }
					r.decode(t, &tree)
					var out []string
					var walk func([]scopeDeptNode)
					walk = func(ds []scopeDeptNode) {
						for _, d := range ds {
							out = append(out, scopeName(w.deptNames, d.ID))
							walk(d.Children)
						}
					}
					walk(tree.Departments)
					return out
				})
			}},
		{name: "GET /users", cells: cells(allow, allow, allow, allow, allow, denied, denied, allow, allow), sees: users,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/users", nil, userNames(t))
			}},
		{name: "GET /users?department_id=<A sales>", cells: cells(allow, allow, allow, allow, allow, denied, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND", sees: inSales(scopeUsers),
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/users?department_id="+salesID, nil, userNames(t))
			}},
		{name: "gRPC OrgService.ListUsers", cells: cells(allow, allow, allow, allow, allow, denied, denied, allow, allow), sees: users,
			call: listUsers(0)},
		{name: "gRPC OrgService.ListUsers(department <A sales>)", cells: cells(allow, allow, allow, allow, allow, denied, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND", sees: inSales(scopeUsers), call: listUsers(w.a.Sales.ID)},

		// Conversations: lists.
		{name: "GET /conversations", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: convs,
			call: w.listConvs(url.Values{})},
		{name: "GET /conversations?owner_id=<every user of both tenants>", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: convs,
			call: w.listConvs(url.Values{"owner_id": {strings.Join(everyone, ",")}})},
		{name: "GET /conversations?department_id=<A sales>", cells: cells(allow, allow, allow, allow, allow, allow, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND", sees: inSales(scopeConvs),
			call: w.listConvs(url.Values{"department_id": {salesID}})},
		{name: "GET /conversations?tracker_id=<A tracker>", cells: cells(allow, allow, allow, allow, allow, allow, denied, hidden, hidden),
			reason: "TRACKER_NOT_FOUND", sees: convs,
			call: w.listConvs(url.Values{"tracker_id": {fmt.Sprint(w.trackerA.ID)}})},
		{name: "gRPC ConversationService.ListConversations", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: convs,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				res, err := convClient.ListConversations(c.ctx(t), &openv1.ListConversationsRequest{PageSize: 100,
					Filter: &openv1.ConversationFilter{OwnerIds: w.everyone}})
				if err != nil {
					return scopeRPCErr(err)
				}
				var out []string
				for _, cv := range res.Conversations {
					out = append(out, scopeName(w.convNames, cv.Id))
				}
				if int(res.Total) != len(out) {
					t.Errorf("%s: total %d for %d listed", c.name, res.Total, len(out))
				}
				return scopeRPCOK(out...)
			}},

		// Conversations by id: in scope 200, anything else 404.
		{name: "GET /conversations/{id}", cells: cells(scoped, scoped, scoped, scoped, scoped, scoped, denied, scoped, scoped),
			reason: "CONVERSATION_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, target string) scopeAnswer {
				return w.web(t, c, http.MethodGet, w.convPath(target, ""), nil, func(r authResult) []string {
					d := scopeDecode[controller.ConversationDetailJSON](t, r)
					if len(d.Participants) != 2 || d.Metrics == nil || len(d.TrackerHits) != 1 || d.TrackerHits[0].Hits != 2 {
						t.Errorf("%s on %s: detail %+v", c.name, target, d)
					}
					return []string{scopeName(w.convNames, d.Conversation.ID)}
				})
			}},
		{name: "GET /conversations/{id}/transcript", cells: cells(scoped, scoped, scoped, scoped, scoped, scoped, denied, scoped, scoped),
			reason: "CONVERSATION_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, target string) scopeAnswer {
				return w.web(t, c, http.MethodGet, w.convPath(target, "/transcript?q="+url.QueryEscape("预算")), nil, func(r authResult) []string {
					tr := scopeDecode[controller.TranscriptJSON](t, r)
					if len(tr.Sentences) != 3 || tr.MatchCount != 2 {
						t.Errorf("%s on %s: transcript %+v", c.name, target, tr)
					}
					return []string{scopeName(w.convNames, tr.ConversationID)}
				})
			}},
		{name: "gRPC ConversationService.GetConversation", cells: cells(scoped, scoped, scoped, scoped, scoped, scoped, denied, scoped, scoped),
			reason: "CONVERSATION_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, target string) scopeAnswer {
				res, err := convClient.GetConversation(c.ctx(t), &openv1.GetConversationRequest{ConversationId: w.conv[target]})
				if err != nil {
					return scopeRPCErr(err)
				}
				return scopeRPCOK(scopeName(w.convNames, res.Conversation.Id))
			}},
		{name: "gRPC ConversationService.GetTranscript", cells: cells(scoped, scoped, scoped, scoped, scoped, scoped, denied, scoped, scoped),
			reason: "CONVERSATION_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, target string) scopeAnswer {
				res, err := convClient.GetTranscript(c.ctx(t), &openv1.GetTranscriptRequest{ConversationId: w.conv[target]})
				if err != nil {
					return scopeRPCErr(err)
				}
				if len(res.Sentences) != 3 {
					t.Errorf("%s on %s: %d sentences", c.name, target, len(res.Sentences))
				}
				return scopeRPCOK(scopeName(w.convNames, res.ConversationId))
			}},
		{name: "GET /conversations/{id}/comments", cells: cells(scoped, scoped, scoped, scoped, scoped, scoped, denied, scoped, scoped),
			reason: "CONVERSATION_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, target string) scopeAnswer {
				return w.web(t, c, http.MethodGet, w.convPath(target, "/comments"), nil, func(r authResult) []string {
					p := scopeDecode[controller.CommentPageJSON](t, r)
					var out []string
					for _, cm := range p.Comments {
						if n := scopeName(w.convNames, cm.ConversationID); !slices.Contains(out, n) {
							out = append(out, n)
						}
					}
					return out
				})
			}},

		// Search: the scope is part of the query.
		{name: "POST /search", cells: cells(allow, allow, allow, allow, allow, denied, denied, allow, allow), sees: convs,
			call: w.search(map[string]any{"query": w.tag})},
		{name: "POST /search owner_ids=<every user of both tenants>", cells: cells(allow, allow, allow, allow, allow, denied, denied, allow, allow), sees: convs,
			call: w.search(map[string]any{"query": w.tag, "owner_ids": w.everyone})},
		{name: "POST /search department_id=<A sales>", cells: cells(allow, allow, allow, allow, allow, denied, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND", sees: inSales(scopeConvs),
			call: w.search(map[string]any{"query": w.tag, "department_id": w.a.Sales.ID})},
		{name: "POST /search tracker_id=<A tracker>", cells: cells(allow, allow, allow, allow, allow, denied, denied, hidden, hidden),
			reason: "TRACKER_NOT_FOUND", sees: convs,
			call: w.search(map[string]any{"query": w.tag, "tracker_id": w.trackerA.ID})},
		{name: "gRPC SearchService.SearchTranscripts", cells: cells(allow, allow, allow, allow, allow, denied, denied, allow, allow), sees: convs,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				res, err := searchClient.SearchTranscripts(c.ctx(t), &openv1.SearchTranscriptsRequest{Query: w.tag,
					Filter: &openv1.ConversationFilter{OwnerIds: w.everyone}})
				if err != nil {
					return scopeRPCErr(err)
				}
				var out []string
				for _, r := range res.Results {
					out = append(out, scopeName(w.convNames, r.Conversation.Id))
				}
				return scopeRPCOK(out...)
			}},

		// Trackers and statistics.
		{name: "GET /trackers", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: trackers,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/trackers", nil, func(r authResult) []string {
					var out []string
					for _, tr := range scopeDecode[struct{ Trackers []controller.TrackerJSON }](t, r).Trackers {
						out = append(out, scopeName(w.trackNames, tr.ID))
					}
					return out
				})
			}},
		{name: "gRPC TrackerService.ListTrackers", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: trackers,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				res, err := trackerClient.ListTrackers(c.ctx(t), &openv1.ListTrackersRequest{})
				if err != nil {
					return scopeRPCErr(err)
				}
				var out []string
				for _, tr := range res.Trackers {
					out = append(out, scopeName(w.trackNames, tr.Id))
				}
				return scopeRPCOK(out...)
			}},
		{name: "GET /trackers/{A tracker}/stats?group_by=owner", cells: cells(allow, allow, allow, allow, allow, allow, denied, hidden, hidden),
			reason: "TRACKER_NOT_FOUND", sees: convs, call: w.trackerStats(w.trackerA.ID)},
		{name: "GET /trackers/{B tracker}/stats?group_by=owner", cells: cells(hidden, hidden, hidden, hidden, hidden, hidden, denied, allow, allow),
			reason: "TRACKER_NOT_FOUND", sees: convs, call: w.trackerStats(w.trackerB.ID)},
		{name: "gRPC TrackerService.GetTrackerStats(A tracker)", cells: cells(allow, allow, allow, allow, allow, allow, denied, hidden, hidden),
			reason: "TRACKER_NOT_FOUND", sees: convs,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				res, err := trackerClient.GetTrackerStats(c.ctx(t), &openv1.GetTrackerStatsRequest{TrackerId: w.trackerA.ID,
					GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_OWNER, StartTime: timestamppb.New(w.from), EndTime: timestamppb.New(w.to)})
				if err != nil {
					return scopeRPCErr(err)
				}
				var out []string
				for _, bk := range res.Buckets {
					var id int64
					if _, err := fmt.Sscan(bk.Key, &id); err != nil {
						t.Errorf("owner bucket %q: %v", bk.Key, err)
					}
					out = append(out, scopeName(w.userNames, id))
				}
				return scopeRPCOK(out...)
			}},
		{name: "GET /stats/reps", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: repStats,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/stats/reps?"+statsRange.Encode(), nil, func(r authResult) []string {
					st := scopeDecode[repStatsJSON](t, r)
					want := 0
					for _, n := range scopeConvs[c.name] {
						if n != "manager" {
							want++
						}
					}
					if st.Team.ConversationCount != int64(want) {
						t.Errorf("%s: the team has %d conversations, want %d", c.name, st.Team.ConversationCount, want)
					}
					return w.repStatNames(t, r)
				})
			}},
		{name: "GET /stats/reps?department_id=<A sales>", cells: cells(allow, allow, allow, allow, allow, allow, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND", sees: inSales(scopeRepStats),
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodGet, "/api/v1/stats/reps?department_id="+salesID+"&"+statsRange.Encode(), nil,
					func(r authResult) []string { return w.repStatNames(t, r) })
			}},
		{name: "gRPC StatsService.GetRepStats", cells: cells(allow, allow, allow, allow, allow, allow, denied, allow, allow), sees: repStats,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				res, err := statsClient.GetRepStats(c.ctx(t), &openv1.GetRepStatsRequest{StartTime: timestamppb.New(w.from), EndTime: timestamppb.New(w.to)})
				if err != nil {
					return scopeRPCErr(err)
				}
				var out []string
				for _, r := range res.Reps {
					out = append(out, fmt.Sprintf("%s=%d", scopeName(w.userNames, r.User.Id), r.ConversationCount))
				}
				return scopeRPCOK(out...)
			}},

		// Public operations: a token, good or bad, changes nothing.
		{name: "POST /auth/login (public; A's rep1)", cells: cells(allow, allow, allow, allow, allow, allow, allow, allow, allow), public: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodPost, "/api/v1/auth/login", map[string]string{"account": *w.a.Reps[0].Email, "password": w.a.Password}, nil)
			}},
		{name: "POST /auth/refresh (public; a fresh login of A's rep1)", cells: cells(allow, allow, allow, allow, allow, allow, allow, allow, allow), public: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				fresh := authLogin(t, w.s, *w.a.Reps[0].Email, w.a.Password)
				return w.web(t, c, http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": fresh.RefreshToken}, nil)
			}},
		{name: "gRPC SystemService.Ping (public)", cells: cells(allow, allow, allow, allow, allow, allow, allow, allow, allow), public: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				if _, err := openv1.NewSystemServiceClient(w.conn).Ping(c.ctx(t), &openv1.PingRequest{}); err != nil {
					return scopeRPCErr(err)
				}
				return scopeRPCOK()
			}},
		{name: "gRPC AuthService.CreateAppToken (public; A's app)", cells: cells(allow, allow, allow, allow, allow, allow, allow, allow, allow), public: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				_, err := openv1.NewAuthServiceClient(w.conn).CreateAppToken(c.ctx(t),
					&openv1.CreateAppTokenRequest{AppKey: w.a.App.AppKey, AppSecret: w.a.AppSecret})
				if err != nil {
					return scopeRPCErr(err)
				}
				return scopeRPCOK()
			}},
	}
}

// scopeDeptNode is a node of GET /departments.
type scopeDeptNode struct {
	ID       int64           `json:"id"`
	Children []scopeDeptNode `json:"children"`
}

func (w *scopeWorld) writeEndpoints() []scopeEndpoint {
	convClient := openv1.NewConversationServiceClient(w.conn)
	orgClient := openv1.NewOrgServiceClient(w.conn)
	dealClient := openv1.NewDealServiceClient(w.conn)
	n := 0
	unique := func() string { n++; return fmt.Sprintf("%s-%d", w.tag, n) }
	victimTracker := func(t *testing.T) int64 {
		now := time.Now().UTC()
		tr := model.Tracker{TenantID: w.a.Tenant.ID, Name: "victim " + unique(), Keywords: `["x"]`, Affiliation: model.AffiliationAnyone,
			Version: 1, MatchRule: model.TrackerMatchRule, CreatedAt: now, UpdatedAt: now}
		if err := w.a.DB.Create(&tr).Error; err != nil {
			t.Fatal(err)
		}
		return tr.ID
	}
	deleteComment := func(conv string, author model.User) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
			id := w.comment(t, w.a, conv, author) // a fresh one per call
			return w.web(t, c, http.MethodDelete, fmt.Sprintf("/api/v1/comments/%d", id), nil, nil)
		}
	}

	// Partner writes, asked of both tenants' data.
	upsertDeal := func(origin string, owner int64) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
			_, err := dealClient.UpsertDeal(c.ctx(t), &openv1.UpsertDealRequest{OriginDealId: origin, Name: "Deal",
				Owner: &openv1.UpsertDealRequest_OwnerUserId{OwnerUserId: owner}})
			if err != nil {
				return scopeRPCErr(err)
			}
			return scopeRPCOK()
		}
	}
	createAgain := func(conv string) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
			res, err := convClient.CreateConversation(c.ctx(t), proto.Clone(w.requests[conv]).(*openv1.CreateConversationRequest))
			if err != nil {
				return scopeRPCErr(err)
			}
			if res.Created || res.ConversationId != w.conv[conv] {
				t.Errorf("%s: the same request again answered %v", c.name, res)
			}
			return scopeRPCOK()
		}
	}
	putTranscript := func(conv string) func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
		return func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
			if _, err := w.put(t, c.ctx(t), w.conv[conv], w.sentences[conv]); err != nil {
				return scopeRPCErr(err)
			}
			return scopeRPCOK()
		}
	}

	// Columns: rep1, rep3, manager, admin, app, app:read, app:ingest, B.admin, B.app
	return []scopeEndpoint{
		// Organization (admins of the tenant only).
		{name: "POST /users (department <A east>)", cells: cells(denied, denied, denied, allow, denied, denied, denied, hidden, denied),
			reason: "DEPARTMENT_NOT_FOUND", created: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodPost, "/api/v1/users", map[string]any{"name": "New " + unique(),
					"email": unique() + "@test.mgv", "password": "a good password", "department_id": w.a.East.ID}, nil)
			}},
		{name: "POST /users (department <B east>)", cells: cells(denied, denied, denied, hidden, denied, denied, denied, allow, denied),
			reason: "DEPARTMENT_NOT_FOUND", created: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodPost, "/api/v1/users", map[string]any{"name": "New " + unique(),
					"email": unique() + "@test.mgv", "password": "a good password", "department_id": w.b.East.ID}, nil)
			}},
		{name: "PUT /users/{A rep2}", cells: cells(denied, denied, denied, allow, denied, denied, denied, hidden, denied), reason: "USER_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", w.a.Reps[1].ID), map[string]any{"name": "rep2"}, nil)
			}},

		// Trackers (admins of the tenant only; B's admin writes its own).
		{name: "POST /trackers", cells: cells(denied, denied, denied, allow, denied, denied, denied, allow, denied), created: true,
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodPost, "/api/v1/trackers", map[string]any{"name": "new " + unique(), "keywords": []string{"折扣"}}, nil)
			}},
		{name: "PUT /trackers/{A tracker}", cells: cells(denied, denied, denied, allow, denied, denied, denied, hidden, denied), reason: "TRACKER_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodPut, fmt.Sprintf("/api/v1/trackers/%d", w.trackerA.ID),
					map[string]any{"name": "Pricing", "keywords": []string{"预算"}, "affiliation": "anyone"}, nil)
			}},
		{name: "DELETE /trackers/{a fresh A tracker}", cells: cells(denied, denied, denied, allow, denied, denied, denied, hidden, denied), reason: "TRACKER_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				return w.web(t, c, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", victimTracker(t)), nil, nil)
			}},

		// Comments: users who see the conversation write; the author or an
		// admin deletes; apps do neither.
		{name: "POST /conversations/{id}/comments", cells: cells(scoped, scoped, scoped, scoped, denied, denied, denied, scoped, denied),
			reason: "CONVERSATION_NOT_FOUND", created: true,
			call: func(t *testing.T, c *scopeCaller, target string) scopeAnswer {
				return w.web(t, c, http.MethodPost, w.convPath(target, "/comments"), map[string]any{"start_ms": 1000, "text": "scope " + c.name},
					func(r authResult) []string {
						cm := scopeDecode[controller.CommentJSON](t, r)
						if cm.AuthorUserID != c.user.ID {
							t.Errorf("%s: comment by %d", c.name, cm.AuthorUserID)
						}
						return []string{scopeName(w.convNames, cm.ConversationID)}
					})
			}},
		{name: "DELETE /comments/{the manager's, on rep1's call}", cells: cells(denied, hidden, allow, allow, denied, denied, denied, hidden, denied),
			reason: "COMMENT_NOT_FOUND", call: deleteComment("rep1", w.a.Manager)},
		{name: "DELETE /comments/{rep3's, on rep3's call}", cells: cells(hidden, allow, denied, allow, denied, denied, denied, hidden, denied),
			reason: "COMMENT_NOT_FOUND", call: deleteComment("rep3", w.a.Reps[2])},

		// Partner writes over gRPC: apps with "org" (the org) or "ingest"
		// (the rest) and admins; the other tenant cannot reach A's ids or
		// origin ids.
		{name: "gRPC OrgService.UpsertDepartment (parent: A's scope-hq)", cells: cells(denied, denied, denied, allow, allow, denied, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				_, err := orgClient.UpsertDepartment(c.ctx(t), &openv1.UpsertDepartmentRequest{OriginDepartmentId: "scope-team", Name: "Team", OriginParentId: "scope-hq"})
				if err != nil {
					return scopeRPCErr(err)
				}
				return scopeRPCOK()
			}},
		{name: "gRPC OrgService.UpsertUser (department: A's scope-hq)", cells: cells(denied, denied, denied, allow, allow, denied, denied, hidden, hidden),
			reason: "DEPARTMENT_NOT_FOUND",
			call: func(t *testing.T, c *scopeCaller, _ string) scopeAnswer {
				_, err := orgClient.UpsertUser(c.ctx(t), &openv1.UpsertUserRequest{OriginUserId: "scope-user", Name: "Partner Rep",
					Email: w.tag + ".partner@test.mgv", Role: openv1.Role_ROLE_REP, OriginDepartmentId: "scope-hq"})
				if err != nil {
					return scopeRPCErr(err)
				}
				return scopeRPCOK()
			}},
		{name: "gRPC DealService.UpsertDeal (owner: A's rep1)", cells: cells(denied, denied, denied, allow, allow, denied, allow, hidden, hidden),
			reason: "USER_NOT_FOUND", call: upsertDeal("scope-deal", w.a.Reps[0].ID)},
		{name: "gRPC ConversationService.CreateConversation (rep2's call again)", cells: cells(denied, denied, denied, allow, allow, denied, allow, hidden, hidden),
			reason: "USER_NOT_FOUND", call: createAgain("rep2")},
		{name: "gRPC ConversationService.PutTranscript (rep2's call)", cells: cells(denied, denied, denied, allow, allow, denied, allow, hidden, hidden),
			reason: "CONVERSATION_NOT_FOUND", call: putTranscript("rep2")},
		// The same the other way round: A's partners cannot reach B's ids.
		{name: "gRPC DealService.UpsertDeal (owner: B's rep1)", cells: cells(denied, denied, denied, hidden, hidden, denied, hidden, allow, allow),
			reason: "USER_NOT_FOUND", call: upsertDeal("scope-deal-b", w.b.Reps[0].ID)},
		{name: "gRPC ConversationService.CreateConversation (B.rep1's call again)", cells: cells(denied, denied, denied, hidden, hidden, denied, hidden, allow, allow),
			reason: "USER_NOT_FOUND", call: createAgain("B.rep1")},
		{name: "gRPC ConversationService.PutTranscript (B.rep1's call)", cells: cells(denied, denied, denied, hidden, hidden, denied, hidden, allow, allow),
			reason: "CONVERSATION_NOT_FOUND", call: putTranscript("B.rep1")},
	}
}

// checkIsolation: after every write, each tenant still sees only its own
// rows, as the database has them.
func (w *scopeWorld) checkIsolation(t *testing.T, callers []*scopeCaller) {
	for _, c := range callers {
		if c.col != colAdmin && c.col != colBAdmin {
			continue
		}
		tenant := c.tenant.Tenant.ID
		var wantTrackers, wantUsers []int64
		if err := c.tenant.DB.Model(&model.Tracker{}).Where("tenant_id = ? AND deleted_at IS NULL", tenant).Order("id").Pluck("id", &wantTrackers).Error; err != nil {
			t.Fatal(err)
		}
		if err := c.tenant.DB.Model(&model.User{}).Where("tenant_id = ?", tenant).Order("id").Pluck("id", &wantUsers).Error; err != nil {
			t.Fatal(err)
		}
		var trackers struct{ Trackers []controller.TrackerJSON }
		authCall(t, w.s, http.MethodGet, "/api/v1/trackers", c.token, nil).want(t, http.StatusOK, "").decode(t, &trackers)
		var gotTrackers []int64
		for _, tr := range trackers.Trackers {
			gotTrackers = append(gotTrackers, tr.ID)
		}
		if !slices.Equal(gotTrackers, wantTrackers) {
			t.Errorf("%s lists trackers %v, the tenant has %v", c.name, gotTrackers, wantTrackers)
		}
		if got := orgListIDs(t, w.s, c.token, ""); !slices.Equal(got, wantUsers) {
			t.Errorf("%s lists users %v, the tenant has %v", c.name, got, wantUsers)
		}
		var convs []string
		for _, id := range listAll(t, w.s, c.token, nil) {
			convs = append(convs, scopeName(w.convNames, id))
		}
		if !slices.Equal(scopeSorted(convs), scopeSorted(scopeConvs[c.name])) {
			t.Errorf("%s lists conversations %q after the writes, want %q", c.name, convs, scopeConvs[c.name])
		}
	}
	// The re-put transcript is searchable again, and still only in A.
	waitSearch(t, w.s, w.a.Token(t, w.a.Admin), w.tag, 5, 15*time.Second)
	waitSearch(t, w.s, w.b.Token(t, w.b.Admin), w.tag, 1, 15*time.Second)
}
