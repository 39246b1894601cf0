//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// apiGet is GET path as token.
func apiGet(t *testing.T, s *Service, path, token string) authResult {
	t.Helper()
	return authCall(t, s, http.MethodGet, path, token, nil)
}

// listAll walks every page of GET /conversations?query as token.
func listAll(t *testing.T, s *Service, token string, query url.Values) []int64 {
	t.Helper()
	var ids []int64
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("page_size", "4")
	for {
		var page controller.ConversationPageJSON
		apiGet(t, s, "/api/v1/conversations?"+q.Encode(), token).want(t, http.StatusOK, "").decode(t, &page)
		for _, c := range page.Conversations {
			ids = append(ids, c.ID)
		}
		if page.NextPageToken == "" {
			if int(page.Total) != len(ids) {
				t.Fatalf("total %d, listed %d", page.Total, len(ids))
			}
			return ids
		}
		q.Set("page_token", page.NextPageToken)
	}
}

func sortedIDs(ids []int64) []int64 { return slices.Sorted(slices.Values(ids)) }

func TestConversationReadsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))

	// Three conversations per rep and one of the manager's, an hour apart,
	// alternating directions and growing durations.
	base := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
	owners := append(slices.Clone(f.Reps), f.Manager)
	dirs := []openv1.Direction{openv1.Direction_DIRECTION_INBOUND, openv1.Direction_DIRECTION_OUTBOUND, openv1.Direction_DIRECTION_UNKNOWN}
	byOwner := map[int64][]int64{}
	var all []int64
	for i := range 13 {
		owner := owners[i%len(owners)]
		id := p.create(fmt.Sprintf("read-%02d", i), owner.ID, base.Add(time.Duration(i)*time.Hour), int64(60_000*(i+1)),
			func(r *openv1.CreateConversationRequest) { r.Direction = dirs[i%3] })
		byOwner[owner.ID] = append(byOwner[owner.ID], id)
		all = append(all, id)
	}
	deal, err := p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "read-deal", Name: "Deal"})
	if err != nil {
		t.Fatal(err)
	}
	withDeal := p.create("read-deal-call", f.Reps[1].ID, base.Add(-time.Hour), 30_000, func(r *openv1.CreateConversationRequest) {
		r.Deal = &openv1.CreateConversationRequest_DealId{DealId: deal.Deal.Id}
	})
	byOwner[f.Reps[1].ID] = append(byOwner[f.Reps[1].ID], withDeal)
	all = append(all, withDeal)
	target := all[0] // rep1's first call
	if _, err := p.put(target, transcript(12, "read"), 5); err != nil {
		t.Fatal(err)
	}
	// A tracker with hits in the target conversation (the tracker matcher
	// writes these on ingest; here they are written straight away).
	tracker := model.Tracker{TenantID: f.Tenant.ID, Name: "预算", Keywords: `["预算"]`, Affiliation: model.AffiliationAnyone, Version: 1,
		MatchRule: model.TrackerMatchRule, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.DB.Create(&tracker).Error; err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int{0, 2, 6} {
		hit := model.TrackerHit{TenantID: f.Tenant.ID, TrackerID: tracker.ID, ConversationID: target, Seq: seq, SpeakerKey: "rep", Phrase: "预算"}
		if err := f.DB.Create(&hit).Error; err != nil {
			t.Fatal(err)
		}
	}

	admin, manager := f.Token(t, f.Admin), f.Token(t, f.Manager)
	rep1, rep4 := f.Token(t, f.Reps[0]), f.Token(t, f.Reps[3])
	stranger := other.Token(t, other.Admin)

	// Data scope of lists.
	if got := listAll(t, s, admin, nil); !slices.Equal(sortedIDs(got), sortedIDs(all)) {
		t.Fatalf("admin lists %v, want %v", got, all)
	}
	if got := listAll(t, s, rep1, nil); !slices.Equal(sortedIDs(got), sortedIDs(byOwner[f.Reps[0].ID])) {
		t.Fatalf("rep1 lists %v, want only theirs %v", got, byOwner[f.Reps[0].ID])
	}
	var sales []int64
	for _, u := range []model.User{f.Manager, f.Reps[0], f.Reps[1], f.Reps[2]} {
		sales = append(sales, byOwner[u.ID]...)
	}
	if got := listAll(t, s, manager, nil); !slices.Equal(sortedIDs(got), sortedIDs(sales)) {
		t.Fatalf("the manager lists %v, want the sales subtree %v", sortedIDs(got), sortedIDs(sales))
	}
	if got := listAll(t, s, stranger, nil); len(got) != 0 {
		t.Fatalf("another tenant lists %v", got)
	}

	// Get and transcript: in scope 200, out of scope and other tenants 404.
	var d controller.ConversationDetailJSON
	apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d", target), rep1).want(t, http.StatusOK, "").decode(t, &d)
	if d.Conversation.ID != target || d.Conversation.OwnerUserID != f.Reps[0].ID || d.Conversation.Status != model.StatusReady ||
		d.Metrics == nil || len(d.Participants) != 2 || d.Participants[1].Name != f.Reps[0].Name {
		t.Fatalf("detail %+v", d)
	}
	if len(d.TrackerHits) != 1 || d.TrackerHits[0].TrackerID != tracker.ID || d.TrackerHits[0].Hits != 3 || d.TrackerHits[0].TrackerName != "预算" {
		t.Fatalf("tracker hits %+v", d.TrackerHits)
	}
	var tr controller.TranscriptJSON
	apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d/transcript?q=%s", target, url.QueryEscape(`"BUT it" 预算`)), manager).
		want(t, http.StatusOK, "").decode(t, &tr)
	if len(tr.Sentences) != 12 || tr.MatchCount != 2 || !tr.Sentences[2].Matches || tr.Sentences[0].Matches {
		t.Fatalf("transcript %+v", tr)
	}
	// Whole words by their stems, as search finds them: "pric" is no word
	// of "but it depends on the pricing.", and its words stand in another
	// order than "depends it"; "it depend" and "PRICING" are there, and
	// "pricing" is also in "We price per seat".
	for q, want := range map[string]int{"pric": 0, `"depends it"`: 0, `"it depend"`: 2, "PRICING depends": 2, "ｐｒｉｃｉｎｇ": 4} {
		var tr controller.TranscriptJSON
		apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d/transcript?q=%s", target, url.QueryEscape(q)), manager).
			want(t, http.StatusOK, "").decode(t, &tr)
		if tr.MatchCount != want {
			t.Errorf("transcript q %q: %d matches, want %d", q, tr.MatchCount, want)
		}
	}
	if r := apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d/transcript?q=%s", target, url.QueryEscape(`?! "…"`)), manager).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "q" {
		t.Errorf("transcript q of no word: field %q (%s), want q", r.Metadata["field"], r.Msg)
	}
	for _, token := range []string{rep4, stranger} { // out of scope; another tenant
		apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d", target), token).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
		apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d/transcript", target), token).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	}
	apiGet(t, s, "/api/v1/conversations/999999999", admin).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	apiGet(t, s, "/api/v1/conversations/abc", admin).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")

	// The same over gRPC as the app, under the same data scope.
	gd, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: target})
	if err != nil || len(gd.TrackerHits) != 1 || gd.TrackerHits[0].Hits != 3 || gd.Metrics.TalkRatio != d.Metrics.TalkRatio {
		t.Fatalf("gRPC get: %v %v", gd, err)
	}
	op := newPartner(t, s.GRPC(), other.AppToken(t))
	_, err = op.conv.GetConversation(op.ctx, &openv1.GetConversationRequest{ConversationId: target})
	wantRPC(t, "get from another tenant's app", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	_, err = op.conv.GetTranscript(op.ctx, &openv1.GetTranscriptRequest{ConversationId: target})
	wantRPC(t, "transcript from another tenant's app", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	if l, err := op.conv.ListConversations(op.ctx, &openv1.ListConversationsRequest{}); err != nil || l.Total != 0 {
		t.Fatalf("another tenant's app lists %v %v", l, err)
	}
	var gAll []int64
	for token := ""; ; {
		l, err := p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{PageSize: 5, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range l.Conversations {
			gAll = append(gAll, c.Id)
		}
		if token = l.NextPageToken; token == "" {
			break
		}
	}
	if want := listAll(t, s, admin, nil); !slices.Equal(gAll, want) {
		t.Fatalf("gRPC lists %v, HTTP %v", gAll, want)
	}

	// Every filter, on both transports.
	rangeFrom, rangeTo := base.Add(2*time.Hour), base.Add(8*time.Hour)
	for _, tc := range []struct {
		name  string
		query url.Values
		proto *openv1.ConversationFilter
		want  []int64
	}{
		{"from incl., to excl.", url.Values{"from": {rangeFrom.Format(time.RFC3339)}, "to": {rangeTo.Format(time.RFC3339)}},
			&openv1.ConversationFilter{StartTime: timestamppb.New(rangeFrom), EndTime: timestamppb.New(rangeTo)}, all[2:8]},
		{"owner", url.Values{"owner_id": {fmt.Sprint(f.Reps[2].ID)}},
			&openv1.ConversationFilter{OwnerIds: []int64{f.Reps[2].ID}}, byOwner[f.Reps[2].ID]},
		{"owners, comma-separated", url.Values{"owner_id": {fmt.Sprintf("%d,%d", f.Reps[2].ID, f.Reps[3].ID)}},
			&openv1.ConversationFilter{OwnerIds: []int64{f.Reps[2].ID, f.Reps[3].ID}}, append(slices.Clone(byOwner[f.Reps[2].ID]), byOwner[f.Reps[3].ID]...)},
		{"owners, repeated", url.Values{"owner_id": {fmt.Sprint(f.Reps[2].ID), fmt.Sprint(f.Reps[3].ID)}},
			&openv1.ConversationFilter{OwnerIds: []int64{f.Reps[2].ID, f.Reps[3].ID}}, append(slices.Clone(byOwner[f.Reps[2].ID]), byOwner[f.Reps[3].ID]...)},
		{"department subtree", url.Values{"department_id": {fmt.Sprint(f.Sales.ID)}},
			&openv1.ConversationFilter{DepartmentId: f.Sales.ID}, sales},
		{"department leaf", url.Values{"department_id": {fmt.Sprint(f.East.ID)}},
			&openv1.ConversationFilter{DepartmentId: f.East.ID}, byOwner[f.Reps[2].ID]},
		{"deal", url.Values{"deal_id": {fmt.Sprint(deal.Deal.Id)}},
			&openv1.ConversationFilter{DealId: deal.Deal.Id}, []int64{withDeal}},
		{"direction", url.Values{"direction": {"inbound"}},
			&openv1.ConversationFilter{Direction: openv1.Direction_DIRECTION_INBOUND}, []int64{all[0], all[3], all[6], all[9], all[12]}},
		{"duration range", url.Values{"min_duration_ms": {"120000"}, "max_duration_ms": {"240000"}},
			&openv1.ConversationFilter{MinDurationMs: ptr(int64(120_000)), MaxDurationMs: ptr(int64(240_000))}, all[1:4]},
		{"tracker", url.Values{"tracker_id": {fmt.Sprint(tracker.ID)}},
			&openv1.ConversationFilter{TrackerId: tracker.ID}, []int64{target}},
		{"all at once", url.Values{"owner_id": {fmt.Sprint(f.Reps[0].ID)}, "direction": {"inbound"}, "tracker_id": {fmt.Sprint(tracker.ID)},
			"from": {fmt.Sprint(base.UnixMilli())}},
			&openv1.ConversationFilter{OwnerIds: []int64{f.Reps[0].ID}, Direction: openv1.Direction_DIRECTION_INBOUND, TrackerId: tracker.ID,
				StartTime: timestamppb.New(base)}, []int64{target}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := listAll(t, s, admin, tc.query); !slices.Equal(sortedIDs(got), sortedIDs(tc.want)) {
				t.Fatalf("HTTP lists %v, want %v", sortedIDs(got), sortedIDs(tc.want))
			}
			l, err := p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{Filter: tc.proto, PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range l.Conversations {
				got = append(got, c.Id)
			}
			if !slices.Equal(sortedIDs(got), sortedIDs(tc.want)) || int(l.Total) != len(tc.want) {
				t.Fatalf("gRPC lists %v (total %d), want %v", sortedIDs(got), l.Total, sortedIDs(tc.want))
			}
		})
	}
	// A filter never widens the data scope.
	if got := listAll(t, s, rep4, url.Values{"department_id": {fmt.Sprint(f.Sales.ID)}}); len(got) != 0 {
		t.Fatalf("rep4 filtering on sales sees %v", got)
	}

	// Another tenant's department is as unknown as none: 404 naming it,
	// as GET /users answers, not an empty page.
	for _, d := range []int64{other.Sales.ID, 999_999_999} {
		a := apiGet(t, s, fmt.Sprintf("/api/v1/conversations?department_id=%d", d), admin).want(t, http.StatusNotFound, "DEPARTMENT_NOT_FOUND")
		if a.Metadata["field"] != "department_id" || !strings.Contains(a.Msg, fmt.Sprint(d)) {
			t.Errorf("department %d: %+v", d, a)
		}
		_, err := p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{Filter: &openv1.ConversationFilter{DepartmentId: d}})
		if code, reason, md := rpcReason(err); code != codes.NotFound || reason != "DEPARTMENT_NOT_FOUND" || md["field"] != "filter.department_id" ||
			!strings.Contains(status.Convert(err).Message(), fmt.Sprint(d)) {
			t.Errorf("gRPC department %d: %v %v", d, err, md)
		}
	}

	// Bad filters: 400 naming the field.
	for q, field := range map[string]string{
		"from=yesterday":          "from",
		"to=2026-13-01T00:00:00Z": "to",
		"from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z": "to",
		"owner_id=abc":                         "owner_id",
		"owner_id=0":                           "owner_id",
		"department_id=-1":                     "department_id",
		"deal_id=x":                            "deal_id",
		"direction=sideways":                   "direction",
		"min_duration_ms=-5":                   "min_duration_ms",
		"min_duration_ms=10&max_duration_ms=9": "max_duration_ms",
		"tracker_id=1.5":                       "tracker_id",
		"page_size=101":                        "page_size",
		"page_size=-1":                         "page_size",
		"page_token=not-a-token":               "page_token",
		// What the route does not take, or takes once, is refused by name
		// rather than answered with the defaults.
		"limit=5":                    "limit",
		"cursor=abc&page_size=4":     "cursor",
		"page_size=4&page_size=100":  "page_size",
		"direction=inbound&offset=8": "offset",
		"owner_id=1&from=%zz":        "query",
	} {
		a := apiGet(t, s, "/api/v1/conversations?"+q, admin).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if a.Metadata["field"] != field {
			t.Errorf("%s names %q, want %q", q, a.Metadata["field"], field)
		}
	}
	_, err = p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{Filter: &openv1.ConversationFilter{
		StartTime: timestamppb.New(rangeTo), EndTime: timestamppb.New(rangeFrom)}})
	if _, _, md := rpcReason(err); md["field"] != "filter.end_time" {
		t.Fatalf("gRPC bad range: %v %v", err, md)
	}
	_, err = p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{PageSize: 101})
	wantRPC(t, "gRPC page size 101", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	apiGet(t, s, "/api/v1/conversations", "").want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
}

func ptr[T any](v T) *T { return &v }

func TestConversationPagesStableUnderInsertsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	base := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	var before []int64
	for i := range 40 {
		// Groups of four share a begin_time: the id breaks the ties.
		before = append(before, p.create(fmt.Sprintf("page-%02d", i), f.Reps[i%4].ID, base.Add(time.Duration(i/4)*time.Minute), 60_000, nil))
	}
	admin := f.Token(t, f.Admin)

	// While the pages are walked, conversations keep arriving: newer ones,
	// older ones and ones at the very begin_times being paged through.
	stop := make(chan struct{})
	var inserted atomic.Int64
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				at := base.Add(time.Duration(i%12-1) * time.Minute)
				p.create(fmt.Sprintf("late-%d-%d", w, i), f.Reps[(w+i)%4].ID, at, 60_000, nil)
				inserted.Add(1)
			}
		})
	}
	seen := map[int64]int{}
	q := url.Values{"page_size": {"3"}}
	pages := 0
	for {
		var page controller.ConversationPageJSON
		apiGet(t, s, "/api/v1/conversations?"+q.Encode(), admin).want(t, http.StatusOK, "").decode(t, &page)
		pages++
		var last controller.ConversationJSON
		for i, c := range page.Conversations {
			seen[c.ID]++
			if i > 0 && (c.BeginTime.After(last.BeginTime) || (c.BeginTime.Equal(last.BeginTime) && c.ID > last.ID)) {
				t.Fatalf("page out of order: %+v after %+v", c, last)
			}
			last = c
		}
		if page.NextPageToken == "" {
			break
		}
		q.Set("page_token", page.NextPageToken)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if inserted.Load() == 0 {
		t.Fatal("nothing was inserted during the walk")
	}
	for _, id := range before {
		if seen[id] != 1 {
			t.Fatalf("conversation %d listed %d times over %d pages (%d inserted meanwhile)", id, seen[id], pages, inserted.Load())
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("conversation %d listed %d times", id, n)
		}
	}
	t.Logf("%d pages, %d conversations inserted during the walk", pages, inserted.Load())
}

// A page token is the client's to forge: one whose position lies outside
// the times the database can compare is a 400 naming page_token. It used to
// reach MariaDB, fail there as an outage (503), and count against the
// database breaker of the operation, so that a rep sending a few of them
// had every user's conversation list refused.
func TestConversationPageTokenForgedTimeOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i := range 2 {
		p.create(fmt.Sprintf("forged-page-%d", i), f.Reps[0].ID, base.Add(time.Duration(i)*time.Minute), 60_000, nil)
	}
	rep, admin := f.Token(t, f.Reps[0]), f.Token(t, f.Admin)
	var page controller.ConversationPageJSON
	apiGet(t, s, "/api/v1/conversations?page_size=1", rep).want(t, http.StatusOK, "").decode(t, &page)
	raw, err := base64.RawURLEncoding.DecodeString(page.NextPageToken)
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("page token %q: %v", page.NextPageToken, err)
	}
	var cursor map[string]any
	if err := json.Unmarshal(raw, &cursor); err != nil {
		t.Fatal(err)
	}
	forged := func(beginMS int64) string {
		c := map[string]any{}
		for k, v := range cursor {
			c[k] = v
		}
		c["b"] = beginMS
		data, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(data)
	}
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	year0 := time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()
	for round := range 4 {
		for _, ms := range []int64{year10000, year0, math.MaxInt64, math.MinInt64} {
			r := apiGet(t, s, "/api/v1/conversations?page_size=1&page_token="+forged(ms), rep)
			if r.Status != http.StatusBadRequest || r.Reason != "INVALID_ARGUMENT" || !strings.Contains(r.Msg, "page_token") {
				t.Errorf("round %d, begin %d ms: %d %s %q, want 400 INVALID_ARGUMENT naming page_token", round, ms, r.Status, r.Reason, r.Msg)
			}
		}
	}
	_, err = p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{PageSize: 1, PageToken: forged(year10000)})
	wantRPC(t, "gRPC ListConversations with a forged page token", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if r := apiGet(t, s, "/api/v1/conversations", admin); r.Status != http.StatusOK {
		t.Fatalf("the admin's list after rep1's forged tokens: %d %s %q", r.Status, r.Reason, r.Msg)
	}
	// The token as issued still works.
	apiGet(t, s, "/api/v1/conversations?page_size=1&page_token="+page.NextPageToken, rep).want(t, http.StatusOK, "")
}

// A gRPC client chooses its call's deadline. Calls that run out of one
// shorter than any call can take are the client's doing: they used to end
// in the middle of their database query (504, or 503 from the connection
// dial timing out), count against the breakers of the operation and of the
// database, and open them, so that one app with a sub-millisecond deadline
// had every user's conversation list refused.
func TestGRPCCallerDeadlineDoesNotOpenTheBreakerOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	withTightDeadlines(p.ctx, func(ctx context.Context) {
		_, _ = p.conv.ListConversations(ctx, &openv1.ListConversationsRequest{PageSize: 1})
	})
	if r := apiGet(t, s, "/api/v1/conversations", f.Token(t, f.Admin)); r.Status != http.StatusOK {
		t.Fatalf("the admin's list after an app's calls with sub-millisecond deadlines: %d %s %q", r.Status, r.Reason, r.Msg)
	}
	if _, err := p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{PageSize: 1}); err != nil {
		t.Fatalf("the app's own call with no deadline: %v", err)
	}
}

// withTightDeadlines makes 1,500 calls of call, each with a deadline of
// 0.4 to 0.7 ms: shorter than a call takes, so that some of them end on the
// server's side of the race with the client's reset.
func withTightDeadlines(parent context.Context, call func(ctx context.Context)) {
	for i := range 1500 {
		ctx, cancel := context.WithTimeout(parent, time.Duration(400+i%3*150)*time.Microsecond)
		call(ctx)
		cancel()
	}
}

// ListConversations and SearchTranscripts check the caller's scope before
// their arguments: an app without read (search) gets PERMISSION_DENIED
// whatever it sends, an unreadable filter timestamp included, and one with
// the scope gets INVALID_ARGUMENT naming the field.
func TestConversationFilterAfterScopeGRPC(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	ingestOnly, _ := orgExtraApp(t, f, "ingest")
	token, err := f.tokens.IssueApp(&ingestOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	noScope, ctx := authBearer(t.Context(), token), authBearer(t.Context(), f.AppToken(t))
	convs, search := openv1.NewConversationServiceClient(s.GRPC()), openv1.NewSearchServiceClient(s.GRPC())
	bad := map[string]*openv1.ConversationFilter{
		"filter.start_time": {StartTime: &timestamppb.Timestamp{Nanos: -1}},
		"filter.end_time":   {EndTime: &timestamppb.Timestamp{Seconds: -1 << 62}},
		"filter.direction":  {Direction: openv1.Direction(9)},
	}
	for field, filter := range bad {
		_, err := convs.ListConversations(noScope, &openv1.ListConversationsRequest{Filter: filter})
		wantRPC(t, "ListConversations without read, bad "+field, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = convs.ListConversations(ctx, &openv1.ListConversationsRequest{Filter: filter})
		if code, _, md := rpcReason(err); code != codes.InvalidArgument || md["field"] != field {
			t.Errorf("ListConversations, bad %s: %v, want INVALID_ARGUMENT naming %s", field, err, field)
		}
		_, err = search.SearchTranscripts(noScope, &openv1.SearchTranscriptsRequest{Query: "price", Filter: filter})
		wantRPC(t, "SearchTranscripts without search, bad "+field, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = search.SearchTranscripts(ctx, &openv1.SearchTranscriptsRequest{Query: "price", Filter: filter})
		if code, _, md := rpcReason(err); code != codes.InvalidArgument || md["field"] != field {
			t.Errorf("SearchTranscripts, bad %s: %v, want INVALID_ARGUMENT naming %s", field, err, field)
		}
	}
}

// The HTTP routes of those reads check the caller's scope before their
// arguments too: an app without read (search) gets 403 whatever it sends,
// and one with the scope gets 400 naming what is wrong.
func TestConversationFilterAfterScopeHTTP(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	ingestOnly, _ := orgExtraApp(t, f, "ingest")
	noScope, err := f.tokens.IssueApp(&ingestOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	app := f.AppToken(t)
	for _, c := range []struct{ method, path, field string }{
		{http.MethodGet, "/api/v1/conversations?from=yesterday", "from"},
		{http.MethodGet, "/api/v1/conversations?page_size=many", "page_size"},
		{http.MethodGet, "/api/v1/conversations?owner_id=x", "owner_id"},
		{http.MethodGet, "/api/v1/stats/reps?from=yesterday&to=today", "from"},
		{http.MethodGet, "/api/v1/stats/reps?department_id=x", "department_id"},
		{http.MethodGet, "/api/v1/trackers/1/stats?group_by=day&from=yesterday", "from"},
		{http.MethodGet, "/api/v1/trackers/x/stats?group_by=day", "id"},
		{http.MethodGet, "/api/v1/trackers?page_size=many", "page_size"},
	} {
		r := authCall(t, s, c.method, c.path, noScope, nil)
		if r.Status != http.StatusForbidden || r.Reason != "PERMISSION_DENIED" {
			t.Errorf("%s %s without read: %d %s (%s), want 403 PERMISSION_DENIED", c.method, c.path, r.Status, r.Reason, r.Msg)
		}
		r = authCall(t, s, c.method, c.path, app, nil)
		if r.Status != http.StatusBadRequest || r.Metadata["field"] != c.field {
			t.Errorf("%s %s: %d %s %v (%s), want 400 naming %s", c.method, c.path, r.Status, r.Reason, r.Metadata, r.Msg, c.field)
		}
	}
	body := map[string]any{"query": "price", "from": "yesterday"}
	if r := authCall(t, s, http.MethodPost, "/api/v1/search", noScope, body); r.Status != http.StatusForbidden {
		t.Errorf("POST /api/v1/search without search, bad from: %d %s (%s), want 403", r.Status, r.Reason, r.Msg)
	}
	if r := authCall(t, s, http.MethodPost, "/api/v1/search", app, body); r.Status != http.StatusBadRequest {
		t.Errorf("POST /api/v1/search, bad from: %d %s (%s), want 400", r.Status, r.Reason, r.Msg)
	}
}
