package dao_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

func transcript(c model.Conversation, n int, text func(i int) string) []model.Sentence {
	out := make([]model.Sentence, n)
	for i := range out {
		out[i] = model.Sentence{ConversationID: c.ID, TenantID: c.TenantID, Seq: i, SpeakerKey: fmt.Sprintf("spk%d", i%3),
			StartMS: int64(i) * 3000, EndMS: int64(i)*3000 + 2500, Text: text(i)}
	}
	return out
}

// decodeAll reads parts back as model sentences.
func decodeAll(t *testing.T, parts []model.TranscriptPart) []model.Sentence {
	t.Helper()
	var out []model.Sentence
	for i, p := range parts {
		if p.Part != i {
			t.Fatalf("part %d numbered %d", i, p.Part)
		}
		run, err := dao.DecodePart([]byte(p.Sentences))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range run {
			out = append(out, model.Sentence{ConversationID: p.ConversationID, TenantID: p.TenantID, Seq: s.Seq, SpeakerKey: s.SpeakerKey, StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text})
		}
	}
	return out
}

func TestTranscriptPartsRoundTripAndBounds(t *testing.T) {
	c := model.Conversation{ID: 7, TenantID: 3}
	for _, tc := range []struct {
		name  string
		n     int
		text  func(i int) string
		parts int
	}{
		{"none", 0, nil, 0},
		{"one part", 250, func(i int) string { return fmt.Sprintf("我们今年的预算有限 <%d> & \"quoted\"", i) }, 1},
		{"by count", 2500, func(i int) string { return "ok" }, 3},
		// Text that is all control characters takes six bytes a byte as
		// JSON: parts split by size long before 1000 sentences.
		{"by size", 1000, func(i int) string { return strings.Repeat("\x01", 4096) }, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := transcript(c, tc.n, tc.text)
			parts, err := dao.TranscriptParts(c, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != tc.parts {
				t.Errorf("%d parts, want %d", len(parts), tc.parts)
			}
			for _, p := range parts {
				if len(p.Sentences) > dao.PartBytes {
					t.Errorf("part %d holds %d bytes, over %d", p.Part, len(p.Sentences), dao.PartBytes)
				}
			}
			if got := decodeAll(t, parts); !slices.Equal(got, in) && (len(got) != 0 || len(in) != 0) {
				t.Errorf("round trip differs: %d sentences back of %d", len(got), len(in))
			}
		})
	}
}

func TestDecodePartSortsAndRejects(t *testing.T) {
	run, err := dao.DecodePart([]byte(`[{"seq": 2, "text": "b"}, {"seq": 0, "text": "a"}, {"seq": 1, "text": "c"}]`))
	if err != nil || len(run) != 3 || run[0].Seq != 0 || run[1].Seq != 1 || run[2].Seq != 2 || run[0].Text != "a" {
		t.Fatalf("%+v %v", run, err)
	}
	if _, err := dao.DecodePart([]byte(`[{"seq": 0, "text": "a"`)); err == nil {
		t.Fatal("a truncated part decoded")
	}
}

// Migration 0005 turns sentence rows into parts: every sentence comes back
// through the readers, in seq order, whatever order the rows were written
// in, a transcript of more than 1000 sentences in several parts.
func TestMigrationToTranscriptParts(t *testing.T) {
	daotest.Each(t, testMigrationToParts, daotest.Unmigrated)
}

func testMigrationToParts(t *testing.T, db *gorm.DB) {
	ctx := t.Context()
	m := dao.NewMigrator(db)
	all, err := dao.Migrations(db.Name())
	if err != nil {
		t.Fatal(err)
	}
	// The schema as it was before 0005.
	if err := db.Exec(m.BookkeepingDDL()).Error; err != nil {
		t.Fatal(err)
	}
	for _, mig := range all {
		if mig.Version >= 5 {
			continue
		}
		for _, stmt := range dao.Statements(mig.SQL) {
			if err := db.Exec(stmt).Error; err != nil {
				t.Fatalf("%s: %v", mig.Name, err)
			}
		}
		if err := db.Exec("INSERT INTO "+dao.MigrationsTable+" (version, name, applied_at) VALUES (?, ?, ?)", mig.Version, mig.Name, time.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
	}
	// Rows in reverse seq order, text with quotes, backslashes, control
	// characters and Chinese; one transcript of 2,345 sentences.
	texts := []string{`我们今年的预算有限`, `say "hi" \ bye`, "tab\tnew\nline", "<b>&amp;</b>", strings.Repeat("长", 1365)}
	want := map[int64][]model.Sentence{
		11: transcript(model.Conversation{ID: 11, TenantID: 1}, 5, func(i int) string { return texts[i] }),
		12: transcript(model.Conversation{ID: 12, TenantID: 2}, 2345, func(i int) string { return fmt.Sprintf("sentence %d", i) }),
	}
	for _, ss := range want {
		for i := len(ss) - 1; i >= 0; i-- {
			s := ss[i]
			if err := db.Exec("INSERT INTO sentences (conversation_id, seq, tenant_id, speaker_key, start_ms, end_ms, text) VALUES (?,?,?,?,?,?,?)",
				s.ConversationID, s.Seq, s.TenantID, s.SpeakerKey, s.StartMS, s.EndMS, s.Text).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	applied, err := m.Up(ctx)
	if err != nil || len(applied) == 0 || applied[0].Version != 5 {
		t.Fatalf("up: %v %v", applied, err)
	}
	var parts []model.TranscriptPart
	if err := db.Order("conversation_id, part").Find(&parts).Error; err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1+3 {
		t.Errorf("%d parts, want 1 + 3", len(parts))
	}
	for id, ss := range want {
		got, err := dao.NewConversations(db).Sentences(ctx, ss[0].TenantID, id)
		if err != nil || !slices.Equal(got, ss) {
			t.Errorf("conversation %d: %d sentences back of %d (%v); first %+v", id, len(got), len(ss), err, got[:min(1, len(got))])
		}
	}
	if got, _ := dao.NewConversations(db).Sentences(ctx, 1, 12); len(got) != 0 {
		t.Errorf("another tenant's transcript read: %d sentences", len(got))
	}
	if db.Migrator().HasTable("sentences") {
		t.Error("the sentences table is still there")
	}
}

// On MySQL parts are written by prepared statements (their text is not
// escaped and parsed again), as many in one statement as their size
// allows, inside the caller's transaction, and still roll back with it.
func TestPartsArePreparedOnMariaDB(t *testing.T) {
	db := daotest.OpenMariaDB(t)
	executed := func() int64 {
		t.Helper()
		var name string
		var n int64
		if err := db.Raw("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'").Row().Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	convs := dao.NewConversations(db)
	tx := dao.NewTransactor(db)
	c := model.Conversation{ID: 41, TenantID: 1}
	in := transcript(c, 2500, func(i int) string { return fmt.Sprintf("第 %d 句 'quoted' \\ %d", i, i) })
	before := executed()
	if err := tx.InTx(t.Context(), func(ctx context.Context) error {
		return convs.ReplaceTranscripts(ctx, []conversation.TranscriptRows{{Conversation: c, Sentences: in}})
	}); err != nil {
		t.Fatal(err)
	}
	if n := executed() - before; n < 1 {
		t.Errorf("%d prepared executions for 3 parts", n)
	}
	got, err := convs.Sentences(t.Context(), 1, 41)
	if err != nil || !slices.Equal(got, in) {
		t.Fatalf("read back %d of %d sentences: %v", len(got), len(in), err)
	}
	// A rolled-back transaction leaves no part behind.
	c2 := model.Conversation{ID: 42, TenantID: 1}
	failed := errors.New("rolled back")
	err = tx.InTx(t.Context(), func(ctx context.Context) error {
		if err := convs.ReplaceTranscripts(ctx, []conversation.TranscriptRows{{Conversation: c2, Sentences: transcript(c2, 3, func(int) string { return "x" })}}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("InTx: %v", err)
	}
	if got, _ := convs.Sentences(t.Context(), 1, 42); len(got) != 0 {
		t.Fatalf("a rolled-back transcript was kept: %d sentences", len(got))
	}
}

// Transcripts written together are stored each as written, however their
// parts are split over statements (by count and by size), and a new
// version replaces the old parts.
func TestReplaceTranscriptsStoresEach(t *testing.T) { daotest.Each(t, testReplaceTranscripts) }

func testReplaceTranscripts(t *testing.T, db *gorm.DB) {
	convs := dao.NewConversations(db)
	write := func(ts []conversation.TranscriptRows) {
		t.Helper()
		if err := dao.NewTransactor(db).InTx(t.Context(), func(ctx context.Context) error { return convs.ReplaceTranscripts(ctx, ts) }); err != nil {
			t.Fatal(err)
		}
	}
	// 20 small transcripts (more parts than one statement takes), one of
	// 3 parts, and one whose parts are large (over one statement's size).
	var ts []conversation.TranscriptRows
	for i := range 22 {
		c := model.Conversation{ID: int64(100 + i), TenantID: 1, TranscriptVersion: 1}
		n, text := 3, func(k int) string { return fmt.Sprintf("c%d s%d", i, k) }
		switch i {
		case 20:
			n = 2500
		case 21:
			n, text = 1500, func(k int) string { return strings.Repeat("长", 1300) + strconv.Itoa(k) }
		}
		ts = append(ts, conversation.TranscriptRows{Conversation: c, Sentences: transcript(c, n, text)})
	}
	write(ts)
	// A second version of two of them.
	again := []conversation.TranscriptRows{ts[3], ts[21]}
	for i := range again {
		again[i].Conversation.TranscriptVersion = 2
		again[i].Sentences = transcript(again[i].Conversation, 2, func(k int) string { return fmt.Sprintf("v2 %d", k) })
	}
	write(again)
	ts[3], ts[21] = again[0], again[1]
	for _, want := range ts {
		got, err := convs.Sentences(t.Context(), 1, want.Conversation.ID)
		if err != nil || !slices.Equal(got, want.Sentences) {
			t.Errorf("conversation %d: read back %d of %d sentences: %v", want.Conversation.ID, len(got), len(want.Sentences), err)
		}
	}
}
