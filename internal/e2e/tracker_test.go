//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// said makes a transcript of (speaker, text) pairs, 3 s per line.
func said(lines ...string) []*openv1.Sentence {
	out := make([]*openv1.Sentence, 0, len(lines)/2)
	for i := 0; i+1 < len(lines); i += 2 {
		n := int64(len(out))
		out = append(out, &openv1.Sentence{Seq: n, SpeakerKey: lines[i], StartMs: n * 3000, EndMs: n*3000 + 2500, Text: lines[i+1]})
	}
	return out
}

// storedHits lists a tracker's hits as "conversation:seq:phrase", sorted.
func storedHits(t *testing.T, f *Fixture, trackerID int64) []string {
	t.Helper()
	var hits []model.TrackerHit
	if err := f.DB.Where("tracker_id = ?", trackerID).Find(&hits).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		out = append(out, fmt.Sprintf("%d:%d:%s", h.ConversationID, h.Seq, h.Phrase))
	}
	slices.Sort(out)
	return out
}

// waitHits waits until a tracker's stored hits are want and its
// re-application is over.
func waitHits(t *testing.T, s *Service, f *Fixture, trackerID int64, want []string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pending int64
		if err := f.DB.Model(&model.OutboxJob{}).Where("kind IN ? AND tracker_id = ?", model.OutboxTrackerKinds, trackerID).Count(&pending).Error; err != nil {
			t.Fatal(err)
		}
		got := storedHits(t, f, trackerID)
		if pending == 0 && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker %d: hits %q (jobs pending: %d), want %q\nstderr:\n%s", trackerID, got, pending, want, lastLines(s.Stderr.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}

func listTrackers(t *testing.T, s *Service, token string) []controller.TrackerJSON {
	t.Helper()
	var out struct{ Trackers []controller.TrackerJSON }
	authCall(t, s, http.MethodGet, "/api/v1/trackers", token, nil).want(t, http.StatusOK, "").decode(t, &out)
	return out.Trackers
}

func hitCounts(t *testing.T, s *Service, token string, conversationID int64) map[int64]int64 {
	t.Helper()
	var d controller.ConversationDetailJSON
	apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d", conversationID), token).want(t, http.StatusOK, "").decode(t, &d)
	out := map[int64]int64{}
	for _, h := range d.TrackerHits {
		out[h.TrackerID] = h.Hits
	}
	return out
}

func TestTrackersOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	s := NewService(t, env)
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin, rep1 := f.Token(t, f.Admin), f.Token(t, f.Reps[0])
	begin := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)

	// Transcripts stored before any tracker exists.
	c1 := p.create("trk-1", f.Reps[0].ID, begin, 60_000, nil)
	c2 := p.create("trk-2", f.Reps[1].ID, begin, 60_000, nil)
	c3 := p.create("trk-3", f.Reps[2].ID, begin, 60_000, nil)
	for id, lines := range map[int64][]*openv1.Sentence{
		c1: said("rep", "What is your budget this year?", "cust", "预算大概五十万", "rep", "Our PRICE is per seat, price per seat."),
		c2: said("rep", "This offer is priceless", "cust", "价格 price?", "someone", "the price is right"),
		c3: said("rep", "我们今年的预算有限", "cust", "预计下周签约"),
	} {
		if _, err := p.put(id, lines, 10); err != nil {
			t.Fatal(err)
		}
	}

	// Writes are for admins; reads for everyone in the tenant.
	body := map[string]any{"name": "Pricing", "keywords": []string{"price", "预算"}}
	authCall(t, s, http.MethodPost, "/api/v1/trackers", rep1, body).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodPost, "/api/v1/trackers", f.Token(t, f.Manager), body).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	bad := authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "x", "keywords": []string{"ok", "  "}}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if bad.Metadata["field"] != "keywords[1]" {
		t.Errorf("bad keyword names %q", bad.Metadata["field"])
	}
	nul := authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "nul\u0000x", "keywords": []string{"ok"}}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if nul.Metadata["field"] != "name" || !strings.Contains(nul.Msg, "control characters or line breaks (U+0000") {
		t.Errorf("a NUL in the name: field %q, message %q", nul.Metadata["field"], nul.Msg)
	}
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "x", "keywords": "price"}).want(t, http.StatusBadRequest, "")

	var tr controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, body).want(t, http.StatusCreated, "").decode(t, &tr)
	if tr.ID == 0 || tr.Affiliation != model.AffiliationAnyone || !slices.Equal(tr.Keywords, []string{"price", "预算"}) {
		t.Fatalf("created %+v", tr)
	}
	// The background re-application finds the hits in existing transcripts:
	// word boundaries for English ("priceless" is no hit), substrings for
	// Chinese, one hit per keyword and sentence, unknown speakers included.
	waitHits(t, s, f, tr.ID, []string{
		fmt.Sprintf("%d:1:预算", c1), fmt.Sprintf("%d:2:price", c1),
		fmt.Sprintf("%d:1:price", c2), fmt.Sprintf("%d:2:price", c2),
		fmt.Sprintf("%d:0:预算", c3),
	})
	if list := listTrackers(t, s, rep1); len(list) != 1 || list[0].ID != tr.ID || list[0].Applying {
		t.Errorf("rep's list: %+v", list)
	}
	if got := hitCounts(t, s, rep1, c1); got[tr.ID] != 2 {
		t.Errorf("c1 hit counts: %v", got)
	}

	// A transcript written now gets its hits in the same transaction.
	if _, err := p.put(c2, said("cust", "how about the price?", "rep", "预算 is fine"), 10); err != nil {
		t.Fatal(err)
	}
	if got := storedHits(t, f, tr.ID); !slices.Contains(got, fmt.Sprintf("%d:0:price", c2)) || !slices.Contains(got, fmt.Sprintf("%d:1:预算", c2)) ||
		slices.Contains(got, fmt.Sprintf("%d:2:price", c2)) {
		t.Errorf("hits right after the new transcript of c2: %q", got)
	}

	// New keywords and affiliation replace the hits.
	var updated controller.TrackerJSON
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), admin,
		map[string]any{"name": "Seats", "keywords": []string{"per seat", "budget"}, "affiliation": "internal"}).
		want(t, http.StatusOK, "").decode(t, &updated)
	if updated.Name != "Seats" || updated.Affiliation != "internal" || !updated.Applying {
		t.Errorf("updated %+v", updated)
	}
	waitHits(t, s, f, tr.ID, []string{fmt.Sprintf("%d:0:budget", c1), fmt.Sprintf("%d:2:per seat", c1)})
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), admin,
		map[string]any{"name": "Seats", "keywords": []string{"per seat"}, "affiliation": "everyone"}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")

	// The open platform lists trackers; another tenant sees none of them.
	res, err := openv1.NewTrackerServiceClient(s.GRPC()).ListTrackers(authBearer(t.Context(), f.AppToken(t)), &openv1.ListTrackersRequest{})
	if err != nil || len(res.Trackers) != 1 || res.Trackers[0].Name != "Seats" ||
		res.Trackers[0].Affiliation != openv1.TrackerAffiliation_TRACKER_AFFILIATION_INTERNAL || !slices.Equal(res.Trackers[0].Keywords, []string{"per seat", "budget"}) {
		t.Errorf("gRPC list: %v %v", res, err)
	}
	res, err = openv1.NewTrackerServiceClient(s.GRPC()).ListTrackers(authBearer(t.Context(), other.AppToken(t)), &openv1.ListTrackersRequest{})
	if err != nil || len(res.Trackers) != 0 {
		t.Errorf("other tenant's gRPC list: %v %v", res, err)
	}
	otherAdmin := other.Token(t, other.Admin)
	if list := listTrackers(t, s, otherAdmin); len(list) != 0 {
		t.Errorf("other tenant's list: %+v", list)
	}
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), otherAdmin, body).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), otherAdmin, nil).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), rep1, nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodDelete, "/api/v1/trackers/abc", admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")

	// Delete: the hits stop counting at once and are purged in the background.
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), admin, nil).want(t, http.StatusOK, "")
	if got := hitCounts(t, s, rep1, c1); got[tr.ID] != 0 {
		t.Errorf("hit counts right after delete: %v", got)
	}
	if list := listTrackers(t, s, admin); len(list) != 0 {
		t.Errorf("list after delete: %+v", list)
	}
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), admin, nil).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	waitHits(t, s, f, tr.ID, nil)

	// Durable across restarts: a job committed while no worker runs (as if
	// the process died right after the change) is done by the next process.
	pid := s.Signal(syscall.SIGTERM)
	if !WaitGone(pid, 15*time.Second) {
		t.Fatal("the service did not stop")
	}
	now := time.Now().UTC()
	late := model.Tracker{TenantID: f.Tenant.ID, Name: "late", Keywords: `["price"]`, Affiliation: model.AffiliationExternal,
		Version: 1, MatchRule: model.TrackerMatchRule, CreatedAt: now, UpdatedAt: now}
	if err := f.DB.Create(&late).Error; err != nil {
		t.Fatal(err)
	}
	job := model.OutboxJob{TenantID: f.Tenant.ID, Kind: model.OutboxTrackerApply, TrackerID: late.ID, Version: 1, NextAttemptAt: now, CreatedAt: now}
	if err := f.DB.Create(&job).Error; err != nil {
		t.Fatal(err)
	}
	NewService(t, env).Start()
	waitHits(t, s, f, late.ID, []string{fmt.Sprintf("%d:0:price", c2)})
}

func TestTrackerGRPCErrors(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	client := openv1.NewTrackerServiceClient(s.GRPC())
	ctx := authBearer(t.Context(), f.AppToken(t))
	_, err := client.GetTrackerStats(ctx, &openv1.GetTrackerStatsRequest{TrackerId: 1})
	wantRPC(t, "no group_by", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = client.ListTrackers(t.Context(), &openv1.ListTrackersRequest{})
	wantRPC(t, "no token", err, codes.Unauthenticated, "")
	ingestOnly, _ := orgExtraApp(t, f, "ingest")
	noRead, err := f.tokens.IssueApp(&ingestOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.ListTrackers(authBearer(t.Context(), noRead), &openv1.ListTrackersRequest{})
	wantRPC(t, "app without read", err, codes.PermissionDenied, "PERMISSION_DENIED")

	// The scope comes before the arguments: an app without read learns
	// nothing about them, valid or not.
	from, to := timestamppb.New(time.Now().Add(-time.Hour)), timestamppb.Now()
	bad := map[string]*openv1.GetTrackerStatsRequest{
		"tracker_id": {GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY, StartTime: from, EndTime: to},
		"group_by":   {TrackerId: 1, StartTime: from, EndTime: to},
		"start_time": {TrackerId: 1, GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY, StartTime: &timestamppb.Timestamp{Nanos: -1}, EndTime: to},
		"end_time":   {TrackerId: 1, GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY, StartTime: from},
	}
	for field, req := range bad {
		_, err = client.GetTrackerStats(authBearer(t.Context(), noRead), req)
		wantRPC(t, "app without read, bad "+field, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = client.GetTrackerStats(ctx, req)
		if code, reason, md := rpcReason(err); code != codes.InvalidArgument || reason != "INVALID_ARGUMENT" || md["field"] != field {
			t.Errorf("bad %s: %v, want INVALID_ARGUMENT naming %s", field, err, field)
		}
	}
	// The other stats RPC alike.
	repStats := openv1.NewStatsServiceClient(s.GRPC())
	badRange := &openv1.GetRepStatsRequest{StartTime: from, EndTime: &timestamppb.Timestamp{Seconds: -1 << 62}}
	_, err = repStats.GetRepStats(authBearer(t.Context(), noRead), badRange)
	wantRPC(t, "GetRepStats by an app without read, bad end_time", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = repStats.GetRepStats(ctx, badRange)
	if code, _, md := rpcReason(err); code != codes.InvalidArgument || md["field"] != "end_time" {
		t.Errorf("GetRepStats, bad end_time: %v, want INVALID_ARGUMENT naming end_time", err)
	}
}

// Overlapping keywords ("啊", "啊啊", …) make every sentence of a transcript
// hit every keyword. On the real binary and MariaDB, a conversation keeps
// at most tracker.MaxHitsPerConversation hits of a tracker, both when its
// transcript is written and when a new tracker is applied to it, and its
// detail counts those.
func TestTrackerHitsPerConversationBoundedOnMariaDB(t *testing.T) {
	var kws []string
	for i := 1; i <= 50; i++ {
		kws = append(kws, strings.Repeat("啊", i))
	}
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	var before controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "filler", "keywords": kws}).
		want(t, http.StatusCreated, "").decode(t, &before)
	waitHits(t, s, f, before.ID, []string{})

	// 60 sentences of 50 hits each: 3,000 hits unbounded.
	lines := make([]string, 0, 120)
	for range 60 {
		lines = append(lines, "cust", strings.Repeat("啊", 60))
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	c := p.create("trk-bounded", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 200_000, nil)
	if _, err := p.put(c, said(lines...), 20); err != nil {
		t.Fatal(err)
	}
	if got := len(storedHits(t, f, before.ID)); got != tracker.MaxHitsPerConversation {
		t.Errorf("hits written with the transcript: %d, want %d", got, tracker.MaxHitsPerConversation)
	}

	var after controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "filler again", "keywords": kws[:40]}).
		want(t, http.StatusCreated, "").decode(t, &after)
	deadline := time.Now().Add(10 * time.Second)
	for len(storedHits(t, f, after.ID)) != tracker.MaxHitsPerConversation || listTrackers(t, s, admin)[1].Applying {
		if time.Now().After(deadline) {
			t.Fatalf("hits of the re-applied tracker: %d, want %d", len(storedHits(t, f, after.ID)), tracker.MaxHitsPerConversation)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := map[int64]int64{before.ID: tracker.MaxHitsPerConversation, after.ID: tracker.MaxHitsPerConversation}
	if got := hitCounts(t, s, admin, c); !maps.Equal(got, want) {
		t.Errorf("hit counts of the conversation: %v, want %v", got, want)
	}
}
