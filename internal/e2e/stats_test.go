//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// repStatsJSON is GET /stats/reps as the apps read it.
type repStatsJSON struct {
	Reps []controller.RepStatsJSON
	Team controller.TeamStatsJSON
}

// pricingTracker creates the tenant's first tracker, of the keyword
// "price", as admin, and waits until it has been applied to the stored
// conversations.
func pricingTracker(t *testing.T, s *Service, admin string) controller.TrackerJSON {
	t.Helper()
	var tr controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Pricing", "keywords": []string{"price"}}).
		want(t, http.StatusCreated, "").decode(t, &tr)
	deadline := time.Now().Add(10 * time.Second)
	for listTrackers(t, s, admin)[0].Applying {
		if time.Now().After(deadline) {
			t.Fatal("the tracker is still being applied")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return tr
}

func TestStatsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s) // time zone Asia/Shanghai
	other := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	at := func(v string) time.Time {
		ts, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	rep1, rep2, rep3, rep4 := f.Reps[0], f.Reps[1], f.Reps[2], f.Reps[3]
	type call struct {
		owner    model.User
		begin    string
		duration int64
		lines    []string
	}
	calls := []call{
		{rep1, "2026-03-01T15:30:00Z", 60_000, []string{"rep", "our price is fair", "cust", "嗯", "cust", "the price is too high for us", "rep", "我们可以谈谈折扣吗？"}}, // Shanghai 03-01
		{rep1, "2026-03-01T16:30:00Z", 30_000, []string{"rep", "here is the price list", "cust", "ok"}},                                                        // 03-02
		{rep3, "2026-03-02T03:00:00Z", 90_000, []string{"cust", "price?", "rep", "price per seat", "cust", "what price for 100 seats?", "rep", "好的"}},
		{rep4, "2026-03-05T03:00:00Z", 20_000, []string{"cust", "price", "rep", "let me check with my manager and call you back"}},
		{rep2, "2026-03-03T03:00:00Z", 45_000, nil}, // no transcript yet
		{f.Manager, "2026-03-04T03:00:00Z", 40_000, []string{"rep", "the price is final"}},
		{rep1, "2026-04-10T03:00:00Z", 10_000, []string{"rep", "price"}}, // outside the range
	}
	ids := make([]int64, len(calls))
	for i, c := range calls {
		ids[i] = p.create(fmt.Sprintf("stats-%d", i), c.owner.ID, at(c.begin), c.duration, nil)
		if c.lines != nil {
			if _, err := p.put(ids[i], said(c.lines...), 10); err != nil {
				t.Fatal(err)
			}
		}
	}
	admin, manager := f.Token(t, f.Admin), f.Token(t, f.Manager)
	tr := pricingTracker(t, s, admin)

	from, to := "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"
	trackerStats := func(token, groupBy string) []string {
		t.Helper()
		q := url.Values{"group_by": {groupBy}, "from": {from}, "to": {to}}
		var st controller.TrackerStatsJSON
		apiGet(t, s, fmt.Sprintf("/api/v1/trackers/%d/stats?%s", tr.ID, q.Encode()), token).want(t, http.StatusOK, "").decode(t, &st)
		out := []string{}
		for _, b := range st.Buckets {
			out = append(out, fmt.Sprintf("%s %s %d/%d", b.Key, b.Label, b.Hits, b.Conversations))
		}
		return out
	}
	owner := func(u model.User, hits, convs int) string {
		return fmt.Sprintf("%d %s %d/%d", u.ID, u.Name, hits, convs)
	}
	// Most hits first, ties by key ascending.
	byHitsThenKey := func(rows []string) []string {
		slices.SortStableFunc(rows, func(a, b string) int {
			ha, _ := strconv.Atoi(strings.Split(strings.Fields(a)[2], "/")[0])
			hb, _ := strconv.Atoi(strings.Split(strings.Fields(b)[2], "/")[0])
			if ha != hb {
				return hb - ha
			}
			return strings.Compare(strings.Fields(a)[0], strings.Fields(b)[0])
		})
		return rows
	}
	checkStats := func(who, token, groupBy string, want []string) {
		t.Helper()
		if got := trackerStats(token, groupBy); !slices.Equal(got, want) {
			t.Errorf("%s by %s: got %q\nwant %q", who, groupBy, got, want)
		}
	}
	adminByOwner := byHitsThenKey([]string{owner(rep1, 3, 2), owner(rep3, 3, 1), owner(rep4, 1, 1), owner(f.Manager, 1, 1)})
	checkStats("admin", admin, "owner", adminByOwner)
	checkStats("admin", admin, "day", []string{"2026-03-01 2026-03-01 2/1", "2026-03-02 2026-03-02 4/2", "2026-03-04 2026-03-04 1/1", "2026-03-05 2026-03-05 1/1"})
	checkStats("manager", manager, "owner", byHitsThenKey([]string{owner(rep1, 3, 2), owner(rep3, 3, 1), owner(f.Manager, 1, 1)}))
	checkStats("rep1", f.Token(t, rep1), "day", []string{"2026-03-01 2026-03-01 2/1", "2026-03-02 2026-03-02 1/1"})
	checkStats("rep2", f.Token(t, rep2), "owner", []string{})
	checkStats("rep4", f.Token(t, rep4), "owner", []string{owner(rep4, 1, 1)})

	// The same over gRPC for the open platform.
	trackers := openv1.NewTrackerServiceClient(s.GRPC())
	appCtx := authBearer(t.Context(), f.AppToken(t))
	res, err := trackers.GetTrackerStats(appCtx, &openv1.GetTrackerStatsRequest{TrackerId: tr.ID,
		GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_OWNER, StartTime: timestamppb.New(at(from)), EndTime: timestamppb.New(at(to))})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range res.Buckets {
		got = append(got, fmt.Sprintf("%s %s %d/%d", b.Key, b.Label, b.Hits, b.Conversations))
	}
	if !slices.Equal(got, adminByOwner) {
		t.Errorf("gRPC by owner: got %q, want %q", got, adminByOwner)
	}

	// Bad requests and other tenants.
	statsPath := func(q string) string { return fmt.Sprintf("/api/v1/trackers/%d/stats?%s", tr.ID, q) }
	for q, field := range map[string]string{
		"group_by=owner&to=" + to:                                "from",
		"group_by=week&from=" + from + "&to=" + to:               "group_by",
		"group_by=day&from=" + from + "&to=2027-06-01T00:00:00Z": "to",
		"group_by=day&from=" + from + "&to=" + from:              "to",
		"group_by=day&from=yesterday&to=" + to:                   "from",
	} {
		if a := apiGet(t, s, statsPath(q), admin).want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); a.Metadata["field"] != field {
			t.Errorf("%s: field %q, want %q", q, a.Metadata["field"], field)
		}
	}
	apiGet(t, s, statsPath("group_by=day&from="+from+"&to="+to), other.Token(t, other.Admin)).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	apiGet(t, s, "/api/v1/trackers/999999/stats?group_by=day&from="+from+"&to="+to, admin).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	_, err = trackers.GetTrackerStats(appCtx, &openv1.GetTrackerStatsRequest{TrackerId: tr.ID,
		GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY, StartTime: timestamppb.New(at(from))})
	if code, reason, md := rpcReason(err); code != codes.InvalidArgument || reason != "INVALID_ARGUMENT" || md["field"] != "end_time" {
		t.Errorf("gRPC without end_time: %v", err)
	}
	_, err = trackers.GetTrackerStats(authBearer(t.Context(), other.AppToken(t)), &openv1.GetTrackerStatsRequest{TrackerId: tr.ID,
		GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY, StartTime: timestamppb.New(at(from)), EndTime: timestamppb.New(at(to))})
	wantRPC(t, "other tenant's stats", err, codes.NotFound, "TRACKER_NOT_FOUND")

	// Rep statistics, against the stored per-conversation metrics.
	metrics := map[int64]model.ConversationMetrics{}
	var rows []model.ConversationMetrics
	if err := f.DB.Where("tenant_id = ?", f.Tenant.ID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		metrics[m.ConversationID] = m
	}
	type want struct {
		id                        int64
		count, duration, measured int64
		convs                     []int64 // the measured ones
	}
	meanOf := func(convs []int64) (talk, patience, questions float64) {
		if len(convs) == 0 {
			return 0, 0, 0
		}
		for _, id := range convs {
			talk += metrics[id].TalkRatio
			patience += metrics[id].PatienceMS
			questions += float64(metrics[id].QuestionCountInternal)
		}
		n := float64(len(convs))
		return talk / n, patience / n, questions / n
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	r1 := want{rep1.ID, 2, 90_000, 2, []int64{ids[0], ids[1]}}
	r2 := want{rep2.ID, 1, 45_000, 0, nil}
	r3 := want{rep3.ID, 1, 90_000, 1, []int64{ids[2]}}
	r4 := want{rep4.ID, 1, 20_000, 1, []int64{ids[3]}}
	checkReps := func(who, token, query string, reps []want) {
		t.Helper()
		var st repStatsJSON
		apiGet(t, s, "/api/v1/stats/reps?from="+from+"&to="+to+query, token).want(t, http.StatusOK, "").decode(t, &st)
		if len(st.Reps) != len(reps) {
			t.Fatalf("%s: %d reps, want %d: %+v", who, len(st.Reps), len(reps), st.Reps)
		}
		var team want
		for i, w := range reps {
			r := st.Reps[i]
			talk, patience, questions := meanOf(w.convs)
			if r.User.ID != w.id || r.ConversationCount != w.count || r.TotalDurationMS != w.duration || r.MeasuredCount != w.measured ||
				!near(r.Mean.TalkRatio, talk) || !near(r.Mean.PatienceMS, patience) || !near(r.Mean.QuestionCountInternal, questions) {
				t.Errorf("%s: rep %d = %+v, want %+v (talk %v)", who, i, r, w, talk)
			}
			team.count += w.count
			team.duration += w.duration
			team.measured += w.measured
			team.convs = append(team.convs, w.convs...)
		}
		talk, patience, questions := meanOf(team.convs)
		tm := st.Team
		if tm.RepCount != int64(len(reps)) || tm.ConversationCount != team.count || tm.TotalDurationMS != team.duration ||
			tm.MeasuredCount != team.measured || !near(tm.Mean.TalkRatio, talk) || !near(tm.Mean.PatienceMS, patience) ||
			!near(tm.Mean.QuestionCountInternal, questions) {
			t.Errorf("%s: team = %+v, want %+v (talk %v)", who, tm, team, talk)
		}
	}
	checkReps("admin", admin, "", []want{r1, r2, r3, r4})
	checkReps("manager", manager, "", []want{r1, r2, r3})
	checkReps("admin, east", admin, fmt.Sprintf("&department_id=%d", f.East.ID), []want{r3})
	checkReps("manager, support", manager, fmt.Sprintf("&department_id=%d", f.Support.ID), nil)
	checkReps("rep2", f.Token(t, rep2), "", []want{r2})
	apiGet(t, s, "/api/v1/stats/reps?from="+from+"&to="+to+fmt.Sprintf("&department_id=%d", other.Sales.ID), admin).
		want(t, http.StatusNotFound, "DEPARTMENT_NOT_FOUND")
	apiGet(t, s, "/api/v1/stats/reps?from="+from, admin).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	var otherStats repStatsJSON
	apiGet(t, s, "/api/v1/stats/reps?from="+from+"&to="+to, other.Token(t, other.Admin)).want(t, http.StatusOK, "").decode(t, &otherStats)
	if len(otherStats.Reps) != 4 || otherStats.Team.ConversationCount != 0 {
		t.Errorf("other tenant: %+v", otherStats)
	}

	// gRPC GetRepStats gives the admin's numbers to the app.
	var httpStats repStatsJSON
	apiGet(t, s, "/api/v1/stats/reps?from="+from+"&to="+to, admin).want(t, http.StatusOK, "").decode(t, &httpStats)
	rpc, err := openv1.NewStatsServiceClient(s.GRPC()).GetRepStats(appCtx, &openv1.GetRepStatsRequest{
		StartTime: timestamppb.New(at(from)), EndTime: timestamppb.New(at(to))})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rpc.Reps {
		if i < len(httpStats.Reps) && r.MeasuredCount != httpStats.Reps[i].MeasuredCount {
			t.Errorf("rep %d: measured_count %d over gRPC, %d over HTTP", r.User.Id, r.MeasuredCount, httpStats.Reps[i].MeasuredCount)
		}
	}
	if len(rpc.Reps) != 4 || rpc.Team.ConversationCount != httpStats.Team.ConversationCount || !near(rpc.Team.Mean.TalkRatio, httpStats.Team.Mean.TalkRatio) ||
		rpc.Team.MeasuredCount != httpStats.Team.MeasuredCount || rpc.Team.MeasuredCount == 0 ||
		rpc.Reps[0].User.Id != rep1.ID || rpc.Reps[0].User.Role != openv1.Role_ROLE_REP || rpc.Reps[0].TotalDurationMs != 90_000 {
		t.Errorf("gRPC rep stats: %v", rpc)
	}
	_, err = openv1.NewStatsServiceClient(s.GRPC()).GetRepStats(appCtx, &openv1.GetRepStatsRequest{
		StartTime: timestamppb.New(at(from)), EndTime: timestamppb.New(at(from).AddDate(1, 1, 0))})
	if code, _, md := rpcReason(err); code != codes.InvalidArgument || md["field"] != "end_time" {
		t.Errorf("gRPC range over 366 days: %v", err)
	}

	// patience_ms keeps its fraction end to end, in the other tenant: gaps of
	// 1 ms and 0 ms give 0.5 (not 1), a single gap of 1 ms gives 1, and the
	// rep's mean of the two is 0.75 (not 1), over HTTP and gRPC alike.
	op := newPartner(t, s.GRPC(), other.AppToken(t))
	fracRep := other.Reps[0]
	line := func(seq, start, end int64, speaker, text string) *openv1.Sentence {
		return &openv1.Sentence{Seq: seq, SpeakerKey: speaker, StartMs: start, EndMs: end, Text: text}
	}
	fractional := []struct {
		duration  int64
		sentences []*openv1.Sentence
		patience  float64
	}{
		{10_000, []*openv1.Sentence{
			line(0, 0, 2000, "cust", "the price is too high for us"),
			line(1, 2001, 4000, "rep", "let me check with my manager"),
			line(2, 5000, 7000, "cust", "we need to think about it"),
			line(3, 7000, 9000, "rep", "我们可以给您一些折扣"),
		}, 0.5},
		{5000, []*openv1.Sentence{
			line(0, 0, 2000, "cust", "what is the price per seat"),
			line(1, 2001, 4000, "rep", "it depends on the team size"),
		}, 1},
	}
	otherAdmin := other.Token(t, other.Admin)
	for i, c := range fractional {
		id := op.create(fmt.Sprintf("patience-%d", i), fracRep.ID, at("2026-03-10T03:00:00Z"), c.duration, nil)
		put, err := op.put(id, c.sentences, 10)
		if err != nil || put.Metrics == nil || put.Metrics.PatienceMs != c.patience {
			t.Fatalf("put transcript %d: %v %v, want patience_ms %v", i, put, err, c.patience)
		}
		g, err := op.conv.GetConversation(op.ctx, &openv1.GetConversationRequest{ConversationId: id})
		if err != nil || g.Metrics.GetPatienceMs() != c.patience || g.Metrics.GetAlgoVersion() != 4 {
			t.Errorf("gRPC get %d: %v %v, want patience_ms %v", i, g.GetMetrics(), err, c.patience)
		}
		var raw struct {
			Metrics map[string]json.RawMessage `json:"metrics"`
		}
		apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d", id), otherAdmin).want(t, http.StatusOK, "").decode(t, &raw)
		if got, want := string(raw.Metrics["patience_ms"]), strconv.FormatFloat(c.patience, 'f', -1, 64); got != want {
			t.Errorf("HTTP get %d: patience_ms %s, want %s", i, got, want)
		}
	}
	var fracStats repStatsJSON
	apiGet(t, s, "/api/v1/stats/reps?from="+from+"&to="+to, otherAdmin).want(t, http.StatusOK, "").decode(t, &fracStats)
	seen := 0
	for _, r := range fracStats.Reps {
		if r.User.ID == fracRep.ID {
			seen++
			if r.MeasuredCount != 2 || r.Mean.PatienceMS != 0.75 {
				t.Errorf("HTTP rep stats: %+v, want patience_ms 0.75 over 2", r)
			}
		}
	}
	if fracStats.Team.MeasuredCount != 2 || fracStats.Team.Mean.PatienceMS != 0.75 {
		t.Errorf("HTTP team stats: %+v, want patience_ms 0.75 over 2", fracStats.Team)
	}
	fracRPC, err := openv1.NewStatsServiceClient(s.GRPC()).GetRepStats(op.ctx, &openv1.GetRepStatsRequest{
		StartTime: timestamppb.New(at(from)), EndTime: timestamppb.New(at(to))})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fracRPC.Reps {
		if r.User.Id == fracRep.ID {
			seen++
			if r.ConversationCount != 2 || r.Mean.GetPatienceMs() != 0.75 {
				t.Errorf("gRPC rep stats: %v, want patience_ms 0.75 over 2", r)
			}
		}
	}
	if seen != 2 {
		t.Errorf("the rep with the fractional patience is in %d of the 2 rep statistics", seen)
	}
	if fracRPC.Team.Mean.GetPatienceMs() != 0.75 {
		t.Errorf("gRPC team stats: %v, want patience_ms 0.75", fracRPC.Team)
	}
}
