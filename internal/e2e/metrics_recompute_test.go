//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// Metrics an earlier algorithm computed are computed again from the stored
// transcripts by `mgvcore metrics recompute`, while the service runs: they
// come back equal to what the current algorithm gives at ingest, and
// metrics already current are left alone.
func TestMetricsRecomputeOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	var ids []int64
	want := map[int64]*openv1.Metrics{}
	for i, n := range []int{6, 13, 40} {
		id := p.create(fmt.Sprintf("recompute-%d", i), f.Reps[i].ID, time.Now().Add(-time.Hour), transcriptMS(n)+1000, nil)
		put, err := p.put(id, transcript(n, "recompute"), 10)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		want[id] = put.Metrics
	}
	// As an earlier release left them: the first two of an older version,
	// with other values; the third is current, and wrong on purpose, so
	// that touching it shows.
	if err := f.DB.Exec("UPDATE conversation_metrics SET algo_version = ?, talk_ratio = 0.999, question_count_internal = 77, patience_ms = 1.5 WHERE conversation_id IN ?",
		3, ids[:2]).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.DB.Exec("UPDATE conversation_metrics SET question_count_external = 55 WHERE conversation_id = ?", ids[2]).Error; err != nil {
		t.Fatal(err)
	}
	out, err := s.Command("metrics", "recompute", "--tenant", fmt.Sprint(f.Tenant.ID)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "recomputed the metrics of 2 conversations to algo_version 4") {
		t.Fatalf("metrics recompute: %v\n%s", err, out)
	}
	for i, id := range ids {
		g, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: id})
		if err != nil {
			t.Fatal(err)
		}
		exp := want[id]
		if i == 2 {
			exp = proto.Clone(exp).(*openv1.Metrics)
			exp.QuestionCountExternal = 55
		}
		if !proto.Equal(g.Metrics, exp) {
			t.Errorf("conversation %d after the recompute: %v, want %v", id, g.Metrics, exp)
		}
	}
	out, err = s.Command("metrics", "recompute").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "recomputed the metrics of 0 conversations") {
		t.Fatalf("metrics recompute again: %v\n%s", err, out)
	}
	out, err = s.Command("metrics", "recompute", "--tenant", "99999").CombinedOutput()
	if err == nil || !strings.Contains(lastLine(string(out)), "--tenant: no tenant has id 99999") {
		t.Errorf("metrics recompute of no tenant: %v\n%s", err, out)
	}
}
