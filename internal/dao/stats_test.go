package dao_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

func TestStatsSQLite(t *testing.T) {
	e := newTrackerEnv(t)
	if err := e.db.Model(&model.Tenant{}).Where("id = ?", e.tenant).Update("timezone", "Asia/Shanghai").Error; err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	withDuration := func(ms int64) func(*conversation.CreateRequest) {
		return func(r *conversation.CreateRequest) { r.DurationMS = ms }
	}
	rep1, rep2, rep3, rep4 := e.reps[0], e.reps[1], e.reps[2], e.reps[3]
	c1 := e.create(t, "c1", rep1, at("2026-03-01T15:30:00Z"), withDuration(60_000)) // Shanghai: 03-01 23:30
	c2 := e.create(t, "c2", rep1, at("2026-03-01T16:30:00Z"), withDuration(30_000)) // 03-02 00:30
	c3 := e.create(t, "c3", rep3, at("2026-03-02T03:00:00Z"), withDuration(90_000)) // 03-02
	c4 := e.create(t, "c4", rep4, at("2026-03-05T03:00:00Z"), withDuration(20_000)) // 03-05
	e.create(t, "c5", rep2, at("2026-03-03T03:00:00Z"), withDuration(45_000))       // no transcript
	c6 := e.create(t, "c6", rep1, at("2026-04-10T03:00:00Z"), withDuration(10_000)) // out of range
	e.say(t, c1, "the price?", "price is high", "ok")
	e.say(t, c2, "a price list", "嗯")
	e.say(t, c3, "price", "price!", "price.", "什么价格")
	e.say(t, c4, "our price")
	e.say(t, c6, "price")
	tr, err := e.trackers.Create(e.as(e.admin), tracker.Input{Name: "p", Keywords: []string{"price"}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain(t, 50)
	from, to := at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z")

	buckets := func(ctx context.Context, groupBy string) []string {
		t.Helper()
		st, err := e.stats.TrackerStats(ctx, stats.TrackerStatsRequest{TrackerID: tr.ID, GroupBy: groupBy, From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range st.Buckets {
			out = append(out, fmt.Sprintf("%s/%s:%d/%d", b.Key, b.Label, b.Hits, b.Conversations))
		}
		return out
	}
	id := func(u model.User) string { return strconv.FormatInt(u.ID, 10) }
	ownerWant := []string{id(rep1) + "/rep1:3/2", id(rep3) + "/rep3:3/1", id(rep4) + "/rep4:1/1"}
	slices.SortStableFunc(ownerWant[:2], strings.Compare) // tie on hits: key ascending
	if got := buckets(e.as(e.admin), "owner"); !slices.Equal(got, ownerWant) {
		t.Errorf("admin by owner: got %q, want %q", got, ownerWant)
	}
	if got, want := buckets(e.as(e.admin), "day"), []string{"2026-03-01/2026-03-01:2/1", "2026-03-02/2026-03-02:4/2", "2026-03-05/2026-03-05:1/1"}; !slices.Equal(got, want) {
		t.Errorf("admin by day: got %q, want %q", got, want)
	}
	if got := buckets(e.as(e.manager), "owner"); !slices.Equal(got, ownerWant[:2]) {
		t.Errorf("manager by owner: got %q", got)
	}
	if got, want := buckets(e.as(rep1), "day"), []string{"2026-03-01/2026-03-01:2/1", "2026-03-02/2026-03-02:1/1"}; !slices.Equal(got, want) {
		t.Errorf("rep1 by day: got %q, want %q", got, want)
	}
	if got := buckets(e.as(rep2), "owner"); len(got) != 0 {
		t.Errorf("rep2 by owner: %q", got)
	}
	if _, err := e.stats.TrackerStats(e.as(e.stranger), stats.TrackerStatsRequest{TrackerID: tr.ID, GroupBy: "day", From: from, To: to}); reason(err) != errs.ReasonTrackerNotFound {
		t.Errorf("other tenant: %v", err)
	}

	// Rep statistics against the stored per-conversation metrics.
	metrics := map[int64]model.ConversationMetrics{}
	var rows []model.ConversationMetrics
	if err := e.db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		metrics[m.ConversationID] = m
	}
	mean := func(ids ...int64) (talk, silence float64) {
		for _, id := range ids {
			talk += metrics[id].TalkRatio
			silence += float64(metrics[id].SilenceMS)
		}
		return talk / float64(len(ids)), silence / float64(len(ids))
	}
	type repRow struct {
		id                        int64
		count, duration, measured int64
		talkRatio, silenceMS      float64
	}
	check := func(ctx context.Context, dept int64, want []repRow, team repRow) {
		t.Helper()
		res, err := e.stats.RepStats(ctx, stats.RepStatsRequest{From: from, To: to, DepartmentID: dept})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Reps) != len(want) {
			t.Fatalf("reps: got %d, want %d: %+v", len(res.Reps), len(want), res.Reps)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
		for i, w := range want {
			r := res.Reps[i]
			if r.User.ID != w.id || r.ConversationCount != w.count || r.TotalDurationMS != w.duration || r.MeasuredCount != w.measured ||
				!near(r.Mean.TalkRatio, w.talkRatio) || !near(r.Mean.SilenceMS, w.silenceMS) {
				t.Errorf("rep %d: got %+v, want %+v", i, r, w)
			}
		}
		tm := res.Team
		if tm.RepCount != int64(len(want)) || tm.ConversationCount != team.count || tm.TotalDurationMS != team.duration ||
			tm.MeasuredCount != team.measured || !near(tm.Mean.TalkRatio, team.talkRatio) || !near(tm.Mean.SilenceMS, team.silenceMS) {
			t.Errorf("team: got %+v, want %+v", tm, team)
		}
	}
	t12, s12 := mean(c1, c2)
	t3, s3 := mean(c3)
	t4, s4 := mean(c4)
	tAll, sAll := mean(c1, c2, c3, c4)
	r1 := repRow{rep1.ID, 2, 90_000, 2, t12, s12}
	r2 := repRow{rep2.ID, 1, 45_000, 0, 0, 0}
	r3 := repRow{rep3.ID, 1, 90_000, 1, t3, s3}
	r4 := repRow{rep4.ID, 1, 20_000, 1, t4, s4}
	check(e.as(e.admin), 0, []repRow{r1, r2, r3, r4}, repRow{count: 5, duration: 245_000, measured: 4, talkRatio: tAll, silenceMS: sAll})
	t123, s123 := mean(c1, c2, c3)
	check(e.as(e.manager), 0, []repRow{r1, r2, r3}, repRow{count: 4, duration: 225_000, measured: 3, talkRatio: t123, silenceMS: s123})
	check(e.as(e.admin), e.east.ID, []repRow{r3}, r3)
	check(e.as(rep2), 0, []repRow{r2}, r2)
	check(e.app(), e.support.ID, []repRow{r4}, r4)
	if _, err := e.stats.RepStats(e.as(e.admin), stats.RepStatsRequest{From: from, To: to, DepartmentID: 999_999}); reason(err) != errs.ReasonDepartmentNotFound {
		t.Errorf("unknown department: %v", err)
	}
}

func errFieldOf(err error) string {
	if err == nil {
		return ""
	}
	return errs.From(err).Metadata["field"]
}

func TestCommentsSQLite(t *testing.T) {
	e := newTrackerEnv(t)
	cs := conversation.NewComments(dao.NewComments(e.db))
	c1 := e.create(t, "c1", e.reps[0], time.Now().UTC(), nil)
	c4 := e.create(t, "c4", e.reps[3], time.Now().UTC(), nil)
	first, err := cs.Create(e.as(e.reps[0]), conversation.CreateCommentRequest{ConversationID: c1, StartMS: 5_000, Text: "nice opener"})
	if err != nil || first.AuthorName != "rep1" {
		t.Fatalf("create: %+v %v", first, err)
	}
	reply, err := cs.Create(e.as(e.manager), conversation.CreateCommentRequest{ConversationID: c1, StartMS: 1_000, Text: "agreed", ReplyTo: &first.ID})
	if err != nil || reply.ReplyTo == nil || *reply.ReplyTo != first.ID {
		t.Fatalf("reply: %+v %v", reply, err)
	}
	page, err := cs.List(e.as(e.admin), conversation.ListCommentsRequest{ConversationID: c1})
	if err != nil || page.Total != 2 || page.Comments[0].ID != reply.ID || page.Comments[1].ID != first.ID || page.Comments[0].AuthorName != "manager" {
		t.Fatalf("list: %+v %v", page, err)
	}
	if _, err := cs.List(e.as(e.reps[3]), conversation.ListCommentsRequest{ConversationID: c1}); reason(err) != errs.ReasonConversationNotFound {
		t.Errorf("rep4 lists c1: %v", err)
	}
	if _, err := cs.Create(e.as(e.reps[0]), conversation.CreateCommentRequest{ConversationID: c4, Text: "x"}); reason(err) != errs.ReasonConversationNotFound {
		t.Errorf("rep1 comments c4: %v", err)
	}
	if _, err := cs.Create(e.as(e.admin), conversation.CreateCommentRequest{ConversationID: c4, Text: "x", ReplyTo: &first.ID}); errFieldOf(err) != "reply_to" {
		t.Errorf("reply across conversations: %v", err)
	}
	if err := cs.Delete(e.as(e.reps[3]), first.ID); reason(err) != errs.ReasonCommentNotFound {
		t.Errorf("rep4 deletes: %v", err)
	}
	if err := cs.Delete(e.as(e.reps[0]), reply.ID); reason(err) != "PERMISSION_DENIED" {
		t.Errorf("rep1 deletes the manager's reply: %v", err)
	}
	if err := cs.Delete(e.as(e.manager), reply.ID); err != nil {
		t.Errorf("author deletes: %v", err)
	}
	if err := cs.Delete(e.as(e.admin), first.ID); err != nil {
		t.Errorf("admin deletes: %v", err)
	}
	if page, _ := cs.List(e.as(e.admin), conversation.ListCommentsRequest{ConversationID: c1}); page.Total != 0 || len(page.Comments) != 0 {
		t.Errorf("after delete: %+v", page)
	}
	if _, err := cs.List(e.as(e.stranger), conversation.ListCommentsRequest{ConversationID: c1}); reason(err) != errs.ReasonConversationNotFound {
		t.Errorf("other tenant: %v", err)
	}
}
