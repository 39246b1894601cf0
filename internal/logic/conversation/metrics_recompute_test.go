package conversation

import (
	"context"
	"slices"
	"testing"

	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// staleRepo holds stale metrics by conversation id; gone are deleted
// conversations, current those a transcript write made current meanwhile.
type staleRepo struct {
	stale         []MetricsKey
	gone, current map[int64]bool
	replaced      []model.ConversationMetrics
	batches       int
}

func (r *staleRepo) StaleMetrics(_ context.Context, tenantID, after int64, version, limit int) ([]MetricsKey, error) {
	r.batches++
	var out []MetricsKey
	for _, k := range r.stale {
		if k.ConversationID > after && (tenantID == 0 || k.TenantID == tenantID) && len(out) < limit && version == interaction.AlgoVersion {
			out = append(out, k)
		}
	}
	return out, nil
}

func (r *staleRepo) MetricsSource(_ context.Context, k MetricsKey) (MetricsSource, error) {
	if r.gone[k.ConversationID] {
		return MetricsSource{}, ErrNotFound
	}
	return MetricsSource{DurationMS: 10_000,
		Speakers: []model.Participant{{SpeakerKey: "rep", Affiliation: model.AffiliationInternal}, {SpeakerKey: "cust", Affiliation: model.AffiliationExternal}},
		Sentences: []model.Sentence{{Seq: 0, SpeakerKey: "rep", StartMS: 0, EndMS: 3000, Text: "预算是多少？"},
			{Seq: 1, SpeakerKey: "cust", StartMS: 3500, EndMS: 4500, Text: "fifty"}}}, nil
}

func (r *staleRepo) ReplaceStaleMetrics(_ context.Context, m model.ConversationMetrics, _ int64) (bool, error) {
	if r.current[m.ConversationID] {
		return false, nil
	}
	r.replaced = append(r.replaced, m)
	r.stale = slices.DeleteFunc(r.stale, func(k MetricsKey) bool { return k.ConversationID == m.ConversationID })
	return true, nil
}

func TestRecomputeMetricsWalksEveryBatch(t *testing.T) {
	repo := &staleRepo{gone: map[int64]bool{4: true}, current: map[int64]bool{6: true}}
	for id := int64(1); id <= 7; id++ {
		repo.stale = append(repo.stale, MetricsKey{ConversationID: id, TenantID: 1 + id%2})
	}
	var seen []RecomputeResult
	res, err := RecomputeMetrics(t.Context(), repo, 0, 3, func(r RecomputeResult) { seen = append(seen, r) })
	if err != nil {
		t.Fatal(err)
	}
	if res != (RecomputeResult{Recomputed: 5, Skipped: 2}) || len(seen) != 3 || seen[2] != res || repo.batches != 4 {
		t.Fatalf("result %+v after %d batches, progress %v", res, repo.batches, seen)
	}
	want := computeMetrics(10_000, map[string]bool{"rep": true}, []model.Sentence{{Seq: 0, SpeakerKey: "rep", StartMS: 0, EndMS: 3000, Text: "预算是多少？"},
		{Seq: 1, SpeakerKey: "cust", StartMS: 3500, EndMS: 4500, Text: "fifty"}})
	for _, m := range repo.replaced {
		if m.AlgoVersion != interaction.AlgoVersion || m.TalkRatio != want.TalkRatio || m.QuestionCountInternal != 1 || m.TenantID != 1+m.ConversationID%2 {
			t.Errorf("replaced with %+v, want the metrics of the transcript (talk ratio %v) of the current version", m, want.TalkRatio)
		}
	}
	// One tenant's only.
	repo = &staleRepo{}
	for id := int64(1); id <= 4; id++ {
		repo.stale = append(repo.stale, MetricsKey{ConversationID: id, TenantID: 1 + id%2})
	}
	if res, err := RecomputeMetrics(t.Context(), repo, 2, 10, func(RecomputeResult) {}); err != nil || res.Recomputed != 2 || len(repo.stale) != 2 {
		t.Fatalf("tenant 2: %+v %v, left %v", res, err, repo.stale)
	}
}
