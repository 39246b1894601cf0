package dao_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// SaveMetrics spells out the columns: they must be every field of the model.
func TestMetricsColumnsCoverTheModel(t *testing.T) {
	s, err := schema.Parse(&model.ConversationMetrics{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.DBNames, dao.MetricsColumns) {
		t.Fatalf("conversation_metrics columns %v, SaveMetrics binds %v", s.DBNames, dao.MetricsColumns)
	}
}

func TestSaveMetricsUpserts(t *testing.T) { daotest.Each(t, testSaveMetrics) }

func testSaveMetrics(t *testing.T, db *gorm.DB) {
	convs := dao.NewConversations(db)
	at := time.Date(2026, 3, 1, 8, 0, 0, 123_000_000, time.UTC)
	first := model.ConversationMetrics{ConversationID: 41, TenantID: 3, AlgoVersion: 1, TalkRatio: 0.25, LongestMonologueMS: 1,
		LongestCustomerStoryMS: 2, Interactivity: 3.5, PatienceMS: 4, QuestionCountInternal: 5, QuestionCountExternal: 6,
		QuestionRate: 0.75, SilenceMS: 7, ComputedAt: at}
	second := model.ConversationMetrics{ConversationID: 41, TenantID: 3, AlgoVersion: 2, TalkRatio: 0.5, LongestMonologueMS: 11,
		LongestCustomerStoryMS: 12, Interactivity: 13.5, PatienceMS: 14, QuestionCountInternal: 15, QuestionCountExternal: 16,
		QuestionRate: 1.75, SilenceMS: 17, ComputedAt: at.Add(time.Hour)}
	other := second
	other.ConversationID = 42
	// One row, then two in one statement: one replaced, one new.
	for _, ms := range [][]model.ConversationMetrics{{first}, {second, other}} {
		if err := dao.NewTransactor(db).InTx(t.Context(), func(ctx context.Context) error { return convs.SaveMetrics(ctx, ms...) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []model.ConversationMetrics{second, other} {
		got, err := convs.Metrics(t.Context(), 3, want.ConversationID)
		if err != nil || got == nil {
			t.Fatalf("metrics of %d: %v %v", want.ConversationID, got, err)
		}
		got.ComputedAt = got.ComputedAt.UTC()
		if *got != want {
			t.Errorf("stored %+v\nwant   %+v", *got, want)
		}
	}
}
