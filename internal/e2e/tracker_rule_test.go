//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// queuedByRule sums the trackers a service logged it queued to be applied
// again for an earlier rule of matching.
func queuedByRule(t *testing.T, s *Service) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(s.Stderr.String(), "\n") {
		if !strings.Contains(line, "an earlier rule of matching found to be applied again") {
			continue
		}
		var rec struct{ Trackers int }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		n += rec.Trackers
	}
	return n
}

// A keyword matches Chinese as search finds it: 好用 not across the comma
// of 很好，用户, 预算 not across 预，算, and a number whole (3 not in 3.5).
// Hits an earlier rule stored are replaced after the upgrade: two instances
// started on the database an earlier version left queue the tracker once
// between them, in place of the job of the earlier kind it left pending,
// and replace its hits; an upgrade after that (USR2, old and new process
// side by side) queues nothing again.
func TestTrackerRuleAppliedAgainAfterUpgradeOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	begin := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	c1 := p.create("rule-1", f.Reps[0].ID, begin, 60_000, nil)
	if _, err := p.put(c1, said("cust", "产品很好，用户都满意", "rep", "这个很好用", "cust", "预，算", "rep", "我们的预算有限", "cust", "打3.5折吧"), 10); err != nil {
		t.Fatal(err)
	}
	var tr controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Ease", "keywords": []string{"好用", "预算", "3"}}).
		want(t, http.StatusCreated, "").decode(t, &tr)
	want := []string{fmt.Sprintf("%d:1:好用", c1), fmt.Sprintf("%d:3:预算", c1)}
	waitHits(t, s, f, tr.ID, want)

	// The database as an earlier version leaves it: the tracker of rule 0,
	// the hits its rule found across the comma, in 预，算 and in 3.5, and a
	// job of its kind still pending.
	pid := s.Signal(syscall.SIGTERM)
	if !WaitGone(pid, 15*time.Second) {
		t.Fatal("the service did not stop")
	}
	if err := f.DB.Exec("UPDATE trackers SET match_rule = 0 WHERE id = ?", tr.ID).Error; err != nil {
		t.Fatal(err)
	}
	for _, h := range []model.TrackerHit{{Seq: 0, Phrase: "好用"}, {Seq: 2, Phrase: "预算"}, {Seq: 4, Phrase: "3"}} {
		h.TenantID, h.TrackerID, h.ConversationID, h.SpeakerKey = f.Tenant.ID, tr.ID, c1, "cust"
		if err := f.DB.Create(&h).Error; err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	legacy := model.OutboxJob{TenantID: f.Tenant.ID, Kind: model.OutboxTrackerApplyRule1, TrackerID: tr.ID, Version: 1,
		NextAttemptAt: now.Add(time.Hour), CreatedAt: now}
	if err := f.DB.Create(&legacy).Error; err != nil {
		t.Fatal(err)
	}

	a, b := NewService(t, env), NewService(t, env)
	a.Start()
	b.Start()
	waitHits(t, a, f, tr.ID, want)
	if n := queuedByRule(t, a) + queuedByRule(t, b); n != 1 {
		t.Errorf("the instances queued %d trackers between them, want 1\na:\n%s\nb:\n%s", n, lastLines(a.Stderr.String(), 20), lastLines(b.Stderr.String(), 20))
	}
	var rule int
	if err := f.DB.Model(&model.Tracker{}).Where("id = ?", tr.ID).Pluck("match_rule", &rule).Error; err != nil || rule != model.TrackerMatchRule {
		t.Errorf("match_rule %d, %v", rule, err)
	}
	var left int64
	if err := f.DB.Model(&model.OutboxJob{}).Where("id = ?", legacy.ID).Count(&left).Error; err != nil || left != 0 {
		t.Errorf("the earlier kind's job is left: %d %v", left, err)
	}

	old := a.Signal(syscall.SIGUSR2)
	waitNewPID(t, a, old, 15*time.Second)
	if !WaitGone(old, 30*time.Second) {
		t.Fatal("the old process did not exit")
	}
	time.Sleep(time.Second)
	var jobs int64
	if err := f.DB.Model(&model.OutboxJob{}).Where("tracker_id = ?", tr.ID).Count(&jobs).Error; err != nil || jobs != 0 {
		t.Errorf("jobs after the upgrade: %d %v", jobs, err)
	}
	if n := queuedByRule(t, a) + queuedByRule(t, b); n != 1 {
		t.Errorf("queued %d trackers after the upgrade, want the 1 before it", n)
	}
	if got := storedHits(t, f, tr.ID); len(got) != len(want) {
		t.Errorf("hits after the upgrade: %q", got)
	}
}
