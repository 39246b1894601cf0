package command

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// The demo tenant on the embedded database: a second run the same day adds
// nothing, and the conversations vary as the demo needs.
func TestSeedTheDemoTenant(t *testing.T) {
	db := daotest.Open(t)
	ctx := context.Background()
	first := newDemoSeed(db, "demo-pass-123", false)
	if err := first.run(ctx); err != nil || first.conversations != demoConversations {
		t.Fatalf("seed: %d conversations, %v", first.conversations, err)
	}
	again := newDemoSeed(db, "demo-pass-123", false)
	if err := again.run(ctx); err != nil || again.conversations != 0 {
		t.Fatalf("seed again: %d conversations, %v", again.conversations, err)
	}

	var convs []model.Conversation
	db.Where("tenant_id = ?", first.tenant.ID).Find(&convs)
	langs, owners, dirs := map[string]int{}, map[int64]int{}, map[string]int{}
	now := time.Now()
	repo := dao.NewConversations(db)
	var questions, backChannels int
	for _, c := range convs {
		langs[c.Language]++
		owners[c.OwnerUserID]++
		dirs[c.Direction]++
		if c.SentenceCount < 20 || c.SentenceCount > 200 || c.Status != model.StatusReady {
			t.Errorf("conversation %s: %d sentences, %s", c.OriginConversationID, c.SentenceCount, c.Status)
		}
		if age := now.Sub(c.BeginTime); age < 0 || age > 92*24*time.Hour {
			t.Errorf("conversation %s begins %s", c.OriginConversationID, c.BeginTime)
		}
		sentences, err := repo.Sentences(ctx, c.TenantID, c.ID)
		if err != nil || len(sentences) != c.SentenceCount {
			t.Fatalf("conversation %d: %d stored sentences of %d, %v", c.ID, len(sentences), c.SentenceCount, err)
		}
		stored, err := repo.Metrics(ctx, c.TenantID, c.ID)
		if err != nil || stored == nil {
			t.Fatalf("conversation %d: metrics %v", c.ID, err)
		}
		if want := metricsOf(t, repo, c, sentences); stored.TalkRatio != want.TalkRatio || stored.SilenceMS != want.SilenceMS {
			t.Errorf("conversation %d: stored metrics %+v, computed %+v", c.ID, stored, want)
		}
		questions += stored.QuestionCountInternal + stored.QuestionCountExternal
		for _, s := range sentences {
			if slices.Contains([]string{"嗯", "对", "好的", "ok", "right", "yeah sure"}, s.Text) {
				backChannels++
			}
		}
	}
	if len(convs) != demoConversations || langs["zh-CN"] == 0 || langs["en-US"] == 0 || len(owners) < 4 || len(dirs) < 2 {
		t.Fatalf("variety: %d conversations, languages %v, owners %v, directions %v", len(convs), langs, owners, dirs)
	}
	if questions == 0 || backChannels == 0 {
		t.Fatalf("questions %d, back-channels %d", questions, backChannels)
	}
}

// metricsOf computes a conversation's metrics from its stored transcript.
func metricsOf(t *testing.T, repo *dao.Conversations, c model.Conversation, sentences []model.Sentence) interaction.Metrics {
	t.Helper()
	parts, err := repo.Participants(context.Background(), c.TenantID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	internal := map[string]bool{}
	for _, p := range parts {
		internal[p.SpeakerKey] = p.Affiliation == model.AffiliationInternal
	}
	ms := make([]interaction.Sentence, len(sentences))
	for i, s := range sentences {
		side := interaction.SideExternal
		if internal[s.SpeakerKey] {
			side = interaction.SideInternal
		}
		ms[i] = interaction.Sentence{Seq: int(s.Seq), StartMS: s.StartMS, EndMS: s.EndMS, Side: side, Text: s.Text}
	}
	return interaction.Compute(c.DurationMS, ms)
}
