package dao_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
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

// patience_ms is a mean with a fraction: it is stored as it was computed,
// bit for bit, and the rep statistics sum it without rounding.
func TestPatienceKeepsItsFraction(t *testing.T) { daotest.Each(t, testPatienceFraction) }

func testPatienceFraction(t *testing.T, db *gorm.DB) {
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tenant := model.Tenant{Name: "t", Timezone: "UTC", RateTier: "standard"}
	if err := db.Create(&tenant).Error; err != nil {
		t.Fatal(err)
	}
	rep := model.User{TenantID: tenant.ID, Name: "rep", Role: model.RoleRep, Status: "active"}
	if err := db.Create(&rep).Error; err != nil {
		t.Fatal(err)
	}
	// Gaps of 1 ms and 0 ms, a mean over three gaps, and a large value.
	patience := []float64{0.5, 1.0 / 3, 1 << 40 / 3.0}
	convs := dao.NewConversations(db)
	var sum float64
	for i, p := range patience {
		c := model.Conversation{TenantID: tenant.ID, OriginConversationID: fmt.Sprint("c", i), OwnerUserID: rep.ID,
			Channel: model.ChannelCall, Direction: model.DirectionInbound, Status: model.StatusPending, BeginTime: at}
		if err := convs.Create(ctx, &c, nil); err != nil {
			t.Fatal(err)
		}
		m := model.ConversationMetrics{ConversationID: c.ID, TenantID: tenant.ID, AlgoVersion: 2, PatienceMS: p, ComputedAt: at}
		if err := convs.SaveMetrics(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, err := convs.Metrics(ctx, tenant.ID, c.ID)
		if err != nil || got == nil || got.PatienceMS != p {
			t.Errorf("patience %v stored, %+v read back (%v)", p, got, err)
		}
		sum += p
	}
	scope := model.Scope{TenantID: tenant.ID, UserID: rep.ID, Role: model.RoleAdmin}
	aggs, err := dao.NewStats(db).RepAggregates(ctx, scope, "", at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil || len(aggs) != 1 || aggs[0].Measured != 3 {
		t.Fatalf("aggregates: %+v %v", aggs, err)
	}
	if got := aggs[0].PatienceMS; math.Abs(got-sum) > 1e-9*sum {
		t.Errorf("sum of patience %v, want %v", got, sum)
	}
}

// A database of the release at 0006 (0005 on SQLite, which has no 0006)
// with metrics rows is upgraded by 0007: patience_ms keeps the integral
// values stored before, and takes fractions afterwards.
func TestPatienceUpgradeKeepsValues(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		migrateTo(t, db, 6)
		at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		const large = int64(1) << 40
		if err := db.Exec("INSERT INTO conversation_metrics VALUES (?, 7, 1, 0.5, 1000, 2000, 0.75, 1501, 2, 1, 1.5, 400, ?), (?, 7, 1, 0, 0, 0, 0, ?, 0, 0, 0, 0, ?)",
			41, at, 42, large, at).Error; err != nil {
			t.Fatal(err)
		}
		applied, err := dao.NewMigrator(db).Up(ctx)
		if err != nil || len(applied) == 0 || applied[0].Version != 7 {
			t.Fatalf("up: %v %v", applied, err)
		}
		if db.Name() == "sqlite" {
			var types []string
			if err := db.Raw("SELECT DISTINCT typeof(patience_ms) FROM conversation_metrics").Scan(&types).Error; err != nil || !slices.Equal(types, []string{"real"}) {
				t.Errorf("patience_ms is stored as %v (%v), want real", types, err)
			}
		}
		convs := dao.NewConversations(db)
		for id, want := range map[int64]float64{41: 1501, 42: float64(large)} {
			m, err := convs.Metrics(ctx, 7, id)
			if err != nil || m == nil || m.PatienceMS != want || m.AlgoVersion != 1 {
				t.Errorf("metrics of %d after the upgrade: %+v %v, want patience %v", id, m, err, want)
			}
		}
		if m, err := convs.Metrics(ctx, 7, 41); err != nil || m.TalkRatio != 0.5 || m.LongestCustomerStoryMS != 2000 ||
			m.Interactivity != 0.75 || m.QuestionCountInternal != 2 || m.QuestionRate != 1.5 || m.SilenceMS != 400 || !m.ComputedAt.Equal(at) {
			t.Errorf("metrics of 41 after the upgrade: %+v %v", m, err)
		}
		m := model.ConversationMetrics{ConversationID: 41, TenantID: 7, AlgoVersion: 2, PatienceMS: 0.5, ComputedAt: at}
		if err := convs.SaveMetrics(ctx, m); err != nil {
			t.Fatal(err)
		}
		if got, err := convs.Metrics(ctx, 7, 41); err != nil || got.PatienceMS != 0.5 {
			t.Errorf("patience 0.5 saved after the upgrade, read %+v %v", got, err)
		}
	}, daotest.Unmigrated)
}

// The metrics of an earlier algorithm are found in id order, and replaced;
// metrics of the current one (a transcript written since) never are.
func TestReplaceStaleMetrics(t *testing.T) { daotest.Each(t, testReplaceStaleMetrics) }

func testReplaceStaleMetrics(t *testing.T, db *gorm.DB) {
	ctx := t.Context()
	convs := dao.NewConversations(db)
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	// Conversations 41, 42 and 44 of one tenant, 43 of another, each with
	// its first transcript (version 1).
	ids := map[int64]int64{}
	for _, tc := range []struct{ id, tenant int64 }{{41, 3}, {42, 3}, {43, 5}, {44, 3}} {
		tenantID, ok := ids[tc.tenant]
		if !ok {
			tenant := model.Tenant{Name: fmt.Sprint("t", tc.tenant), Timezone: "UTC", RateTier: "standard"}
			if err := db.Create(&tenant).Error; err != nil {
				t.Fatal(err)
			}
			tenantID, ids[tc.tenant] = tenant.ID, tenant.ID
		}
		c := model.Conversation{ID: tc.id, TenantID: tenantID, OriginConversationID: fmt.Sprint("c", tc.id), OwnerUserID: 1,
			Channel: model.ChannelCall, Direction: model.DirectionInbound, Status: model.StatusReady, BeginTime: at, TranscriptVersion: 1,
			CreatedAt: at, UpdatedAt: at}
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
	}
	a, b := ids[3], ids[5]
	row := func(id, tenant int64, version int, ratio float64) model.ConversationMetrics {
		return model.ConversationMetrics{ConversationID: id, TenantID: tenant, AlgoVersion: version, TalkRatio: ratio, LongestMonologueMS: id,
			LongestCustomerStoryMS: 2, Interactivity: 3, PatienceMS: 4.5, QuestionCountInternal: 5, QuestionCountExternal: 6,
			QuestionRate: 0.5, SilenceMS: 7, ComputedAt: at}
	}
	if err := convs.SaveMetrics(ctx, row(41, a, 3, 0.1), row(42, a, 4, 0.2), row(43, b, 1, 0.3), row(44, a, 2, 0.4)); err != nil {
		t.Fatal(err)
	}
	list := func(tenant, after int64, limit int) []int64 {
		t.Helper()
		keys, err := convs.StaleMetrics(ctx, tenant, after, 4, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, k := range keys {
			if k.TenantID == 0 {
				t.Errorf("conversation %d listed without its tenant", k.ConversationID)
			}
			out = append(out, k.ConversationID)
		}
		return out
	}
	for _, tc := range []struct {
		tenant, after int64
		limit         int
		want          []int64
	}{{0, 0, 10, []int64{41, 43, 44}}, {a, 0, 10, []int64{41, 44}}, {0, 41, 1, []int64{43}}, {b, 43, 10, nil}} {
		if got := list(tc.tenant, tc.after, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("stale metrics of tenant %d after %d (at most %d): %v, want %v", tc.tenant, tc.after, tc.limit, got, tc.want)
		}
	}
	src, err := convs.MetricsSource(ctx, conversation.MetricsKey{ConversationID: 41, TenantID: a})
	if err != nil || src.TranscriptVersion != 1 {
		t.Fatalf("source of 41: %+v %v", src, err)
	}

	fresh := row(41, a, 4, 0.9)
	fresh.ComputedAt = at.Add(time.Hour)
	for _, tc := range []struct {
		m          model.ConversationMetrics
		transcript int64
		want       bool
	}{
		{row(44, a, 4, 0.8), 2, false}, // its transcript was written again since it was read
		{fresh, 1, true},
		{row(42, a, 4, 0.8), 1, false}, // current already
		{row(99, a, 4, 0.8), 1, false}, // gone
		{row(44, b, 4, 0.8), 1, false}, // another tenant's
	} {
		done, err := convs.ReplaceStaleMetrics(ctx, tc.m, tc.transcript)
		if err != nil || done != tc.want {
			t.Errorf("replacing the metrics of %d (tenant %d, transcript %d): %v %v, want %v", tc.m.ConversationID, tc.m.TenantID, tc.transcript, done, err, tc.want)
		}
	}
	for _, want := range []model.ConversationMetrics{fresh, row(42, a, 4, 0.2), row(44, a, 2, 0.4)} {
		got, err := convs.Metrics(ctx, want.TenantID, want.ConversationID)
		if err != nil || got == nil {
			t.Fatalf("metrics of %d: %v %v", want.ConversationID, got, err)
		}
		got.ComputedAt = got.ComputedAt.UTC()
		if *got != want {
			t.Errorf("stored %+v\nwant   %+v", *got, want)
		}
	}
}
