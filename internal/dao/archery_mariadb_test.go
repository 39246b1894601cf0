package dao_test

import (
	"bytes"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// oldBookkeeping is the migrations table as releases before 0006 made it.
const oldBookkeeping = "CREATE TABLE IF NOT EXISTS " + dao.MigrationsTable + " (\n" +
	"  version    INT          NOT NULL,\n" +
	"  name       VARCHAR(255) NOT NULL,\n" +
	"  applied_at DATETIME(3)  NOT NULL,\n" +
	"  PRIMARY KEY (version)\n" +
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

// migrateAsReleased builds the schema a release before 0006 left: the old
// migrations table and every migration up to version 5, one by one.
func migrateAsReleased(t *testing.T, db *gorm.DB) { migrateTo(t, db, 5) }

// migrateTo builds the schema of a release at migration version: every
// migration up to it, one by one, as `migrate up` of that release ran them
// (on MySQL with the migrations table of releases before 0006).
func migrateTo(t *testing.T, db *gorm.DB, version int) {
	t.Helper()
	dialect := db.Name()
	all, err := dao.Migrations(dialect)
	if err != nil {
		t.Fatal(err)
	}
	bookkeeping := dao.NewMigrator(db).BookkeepingDDL()
	if dialect == "mysql" {
		bookkeeping = oldBookkeeping
	}
	if err := db.Exec(bookkeeping).Error; err != nil {
		t.Fatal(err)
	}
	for _, mig := range all {
		if mig.Version > version {
			break
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
}

var (
	autoIncRe   = regexp.MustCompile(` AUTO_INCREMENT=\d+`)
	tableCharRe = regexp.MustCompile(` DEFAULT CHARSET=\w+| COLLATE=\w+`)
)

// schemaOf is every table's SHOW CREATE TABLE, with what may differ
// between a new and an upgraded database taken out: the next
// auto-increment value, the table's collation (transcript_parts was made
// utf8mb4_bin by 0005, the baseline takes the database's) and the order of
// the index lines (an index rebuilt by 0006 comes last).
func schemaOf(t *testing.T, db *gorm.DB) map[string]string {
	t.Helper()
	var tables []string
	if err := db.Raw("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range tables {
		var row struct {
			Table       string `gorm:"column:Table"`
			CreateTable string `gorm:"column:Create Table"`
		}
		if err := db.Raw("SHOW CREATE TABLE " + name).Scan(&row).Error; err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(tableCharRe.ReplaceAllString(autoIncRe.ReplaceAllString(row.CreateTable, ""), ""), "\n")
		var cols, keys []string
		for _, l := range lines {
			l = strings.TrimSuffix(strings.TrimSpace(l), ",")
			if strings.Contains(l, "KEY `") {
				keys = append(keys, l)
			} else {
				cols = append(cols, l)
			}
		}
		slices.Sort(keys)
		out[name] = strings.Join(append(cols, keys...), "\n")
	}
	return out
}

// versions lists the versions of migrations.
func versions(migs []dao.Migration) []int {
	var out []int
	for _, m := range migs {
		out = append(out, m.Version)
	}
	return out
}

// A new install (the baseline) and databases of the releases at 0005 and
// at 0006, upgraded by the migrations they lack, end with the same schema.
// `migrate print` writes nothing on the empty database, and has nothing to
// print afterwards.
func TestBaselineEqualsUpgradedSchemaOnMariaDB(t *testing.T) {
	ctx := t.Context()
	all, err := dao.Migrations("mysql")
	if err != nil {
		t.Fatal(err)
	}
	fresh := daotest.OpenMariaDB(t, daotest.Unmigrated)
	var out bytes.Buffer
	if n, err := dao.NewMigrator(fresh).Print(ctx, &out); err != nil || n != len(all) || !strings.Contains(out.String(), "CREATE TABLE conversations") ||
		strings.Contains(out.String(), "ALTER TABLE") {
		t.Fatalf("print on an empty database: %d migrations, %v\n%s", n, err, out.String())
	}
	if fresh.Migrator().HasTable(dao.MigrationsTable) {
		t.Fatal("print created the migrations table")
	}
	applied, err := dao.NewMigrator(fresh).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), versions(all)) {
		t.Fatalf("up on an empty database: %v %v", applied, err)
	}

	upgrades := []struct {
		at      int
		names   []string
		applied []int
	}{
		{5, []string{"0006_archery", "0007_patience_fraction", "0008_signin_throttle", "0009_token_versions", "0010_apps_managed", "0011_events", "0012_webhooks", "0013_audit_logs", "0014_privacy_erasures", "0015_outbox_tenant", "0016_erasure_bound", "0017_participants_lookup", "0018_webhook_work", "0019_origin_ids_exact", "0020_webhook_secret_rotation", "0021_speaker_keys_exact", "0022_signin_throttle_kinds", "0023_outbox_failures", "0024_audit_seal", "0025_token_revisions", "0026_erasure_redactions", "0027_participants_speaker_keys", "0028_tracker_match_rule", "0029_accounts_exact", "0030_app_names_exact", "0031_outbox_tenant_due", "0032_webhook_redeliver_at"}, []int{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}},
		{6, []string{"0007_patience_fraction", "0008_signin_throttle", "0009_token_versions", "0010_apps_managed", "0011_events", "0012_webhooks", "0013_audit_logs", "0014_privacy_erasures", "0015_outbox_tenant", "0016_erasure_bound", "0017_participants_lookup", "0018_webhook_work", "0019_origin_ids_exact", "0020_webhook_secret_rotation", "0021_speaker_keys_exact", "0022_signin_throttle_kinds", "0023_outbox_failures", "0024_audit_seal", "0025_token_revisions", "0026_erasure_redactions", "0027_participants_speaker_keys", "0028_tracker_match_rule", "0029_accounts_exact", "0030_app_names_exact", "0031_outbox_tenant_due", "0032_webhook_redeliver_at"}, []int{7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}},
	}
	dbs := []*gorm.DB{fresh}
	want := schemaOf(t, fresh)
	for _, up := range upgrades {
		old := daotest.OpenMariaDB(t, daotest.Unmigrated)
		migrateTo(t, old, up.at)
		out.Reset()
		n, err := dao.NewMigrator(old).Print(ctx, &out)
		if err != nil || n != len(up.names) || strings.Contains(out.String(), "CREATE TABLE conversations") {
			t.Fatalf("print on a database at %04d: %d migrations, %v\n%s", up.at, n, err, out.String())
		}
		for _, name := range up.names {
			if !strings.Contains(out.String(), "-- migration "+name+"\n") {
				t.Errorf("print on a database at %04d does not show %s", up.at, name)
			}
		}
		applied, err = dao.NewMigrator(old).Up(ctx)
		if err != nil || !slices.Equal(versions(applied), up.applied) {
			t.Fatalf("up on a database at %04d: %v %v", up.at, applied, err)
		}

		got := schemaOf(t, old)
		if len(want) != len(got) {
			t.Errorf("tables: new install %d, upgraded from %04d %d", len(want), up.at, len(got))
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("table %s\nnew install:\n%s\nupgraded from %04d:\n%s", name, w, up.at, got[name])
			}
		}
		dbs = append(dbs, old)
	}
	for _, db := range dbs {
		states, err := dao.NewMigrator(db).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.AppliedAt.IsZero() {
				t.Errorf("%s is not recorded as applied", s.Name)
			}
		}
	}
}

// snapshot is every row of the tables, as text, in primary key order.
func snapshot(t *testing.T, db *gorm.DB, tables []string) map[string][][]sql.NullString {
	t.Helper()
	out := map[string][][]sql.NullString{}
	for _, table := range tables {
		rows, err := db.Raw("SELECT * FROM " + table + " ORDER BY 1, 2").Rows()
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], vals)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		if len(out[table]) == 0 {
			t.Fatalf("table %s has no rows", table)
		}
	}
	return out
}

// A database of a release before 0006, with rows in every table, is
// upgraded by 0006 to 0010: every row is still there as it was, and the
// dao reads and writes it.
func TestUpgradeKeepsEveryRowOnMariaDB(t *testing.T) {
	ctx := t.Context()
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	migrateAsReleased(t, db)

	const conv = int64(1) << 40
	now := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.UTC)
	comment := strings.Repeat("好", 2000)
	inserts := []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO tenants VALUES (7, '演示公司', 'Asia/Shanghai', 'standard', ?, ?), (8, 'Other', 'UTC', 'gold', ?, ?)", []any{now, now, now, now}},
		{"INSERT INTO departments VALUES (3, 7, NULL, 'd-root', '销售部', '/3/', ?, ?), (4, 7, 3, NULL, 'East', '/3/4/', ?, ?)", []any{now, now, now, now}},
		{"INSERT INTO users VALUES (11, 7, 4, '张三', 'zs@example.com', '13800000000', 'admin', 'active', 'u-1', 'hash', ?, ?), (12, 7, NULL, 'Rep', NULL, NULL, 'rep', 'disabled', NULL, '', ?, ?)", []any{now, now, now, now}},
		{"INSERT INTO apps VALUES (5, 7, 'crm', 'key-1', 'secret-hash', 'ingest read', 'standard', ?)", []any{now}},
		{"INSERT INTO refresh_tokens VALUES (9, 7, 11, ?, ?, ?, NULL, ?, ?)", []any{strings.Repeat("f", 32), strings.Repeat("h", 64), now.Add(24 * time.Hour), now, now}},
		{"INSERT INTO deals VALUES (21, 7, 'deal-1', 'Big deal', 'ACME', 'won', 123456, 11, ?, ?)", []any{now, now}},
		{"INSERT INTO conversations VALUES (?, 7, 'c-1', 11, 21, '首次沟通', 'call', 'outbound', ?, 60000, 'zh', 'ready', ?, ?, 3, 3, ?, ?), (?, 7, 'c-2', 12, NULL, '', 'meeting', 'unknown', ?, 0, '', 'pending', NULL, '', 0, 0, ?, ?)",
			[]any{conv, now, `{"source": "演示", "n": 1}`, strings.Repeat("r", 64), now, now, conv + 1, now, now, now}},
		{"INSERT INTO participants VALUES (31, 7, ?, 'spk0', 11, '张三', 'internal'), (32, 7, ?, 'spk1', NULL, 'Client', 'external')", []any{conv, conv}},
		{"INSERT INTO conversation_metrics VALUES (?, 7, 1, 0.5, 1000, 2000, 0.75, 300, 2, 1, 1.5, 400, ?)", []any{conv, now}},
		{"INSERT INTO trackers VALUES (41, 7, 'Price', ?, 'anyone', 2, ?, ?, NULL)", []any{`["price", "价格"]`, now, now}},
		{"INSERT INTO tracker_hits VALUES (51, 7, 41, ?, 1, 3000, 'spk1', '价格')", []any{conv}},
		{"INSERT INTO comments VALUES (61, 7, ?, 11, 1500, ?, NULL, ?, NULL)", []any{conv, comment, now}},
		{"INSERT INTO outbox VALUES (71, 7, 'transcript', ?, 0, 3, 0, ?, '', ?), (72, 7, 'tracker_apply', 0, 41, 2, 1, ?, 'boom', ?)", []any{conv, now, now, now, now}},
	}
	for _, in := range inserts {
		if err := db.Exec(in.sql, in.args...).Error; err != nil {
			t.Fatalf("%s: %v", in.sql, err)
		}
	}
	sentences := transcript(model.Conversation{ID: conv, TenantID: 7}, 3, func(i int) string { return []string{"你好", `say "hi"`, "价格多少"}[i] })
	parts, err := dao.TranscriptParts(model.Conversation{ID: conv, TenantID: 7}, sentences)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&parts).Error; err != nil {
		t.Fatal(err)
	}

	tables := []string{"tenants", "departments", "users", "apps", "refresh_tokens", "deals", "conversations", "participants",
		"conversation_metrics", "trackers", "tracker_hits", "comments", "outbox", "transcript_parts", dao.MigrationsTable}
	before := snapshot(t, db, tables)
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), []int{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}) {
		t.Fatalf("up: %v %v", applied, err)
	}
	after := snapshot(t, db, tables)
	for _, table := range tables {
		b, a := before[table], after[table]
		if table == dao.MigrationsTable {
			a = a[:len(a)-len(applied)] // and the rows of the migrations applied
		}
		// Columns a migration adds come after the old ones (apps.status in
		// 0010, tenants.retention_days in 0014): those there before keep their
		// values.
		kept := func(x, y []sql.NullString) bool { return len(y) >= len(x) && slices.Equal(x, y[:len(x)]) }
		if !slices.EqualFunc(b, a, kept) {
			t.Errorf("%s changed:\nbefore %v\nafter  %v", table, b, a)
		}
	}

	// The dao reads what was there.
	scope := model.Scope{TenantID: 7, UserID: 11, Role: model.RoleAdmin}
	convs := dao.NewConversations(db)
	c, err := convs.Get(ctx, scope, conv)
	if err != nil || c.CustomData != `{"source": "演示", "n": 1}` || c.DealID == nil || *c.DealID != 21 || c.Title != "首次沟通" {
		t.Errorf("conversation: %+v %v", c, err)
	}
	if got, err := convs.Sentences(ctx, 7, conv); err != nil || !slices.Equal(got, sentences) {
		t.Errorf("sentences: %v %v", got, err)
	}
	if list, err := dao.NewTrackers(db).ListTrackers(ctx, 7); err != nil || len(list) != 1 || list[0].Keywords != `["price", "价格"]` {
		t.Errorf("trackers: %+v %v", list, err)
	}
	if list, total, err := dao.NewComments(db).ListComments(ctx, 7, conv, nil, 10); err != nil || total != 1 || len(list) != 1 || list[0].Text != comment {
		t.Errorf("comments: %d %v", total, err)
	}
	if u, err := dao.NewUsers(db).ByEmail(ctx, "zs@example.com"); err != nil || u.ID != 11 || u.Name != "张三" {
		t.Errorf("user: %+v %v", u, err)
	}

	// And writes: new ids follow the old ones.
	nc := model.Conversation{TenantID: 7, OriginConversationID: "c-3", OwnerUserID: 11, Channel: model.ChannelCall,
		Direction: model.DirectionInbound, Status: model.StatusPending, BeginTime: now}
	if err := convs.Create(ctx, &nc, []model.Participant{{SpeakerKey: "spk0", Affiliation: model.AffiliationInternal}}); err != nil || nc.ID <= conv+1 {
		t.Errorf("create conversation: id %d, %v", nc.ID, err)
	}
	if err := convs.Create(ctx, &model.Conversation{TenantID: 7, OriginConversationID: "c-1", OwnerUserID: 11, BeginTime: now}, nil); err == nil {
		t.Error("a second conversation with origin id c-1 was created: the unique index is gone")
	}
	tr := model.Tracker{TenantID: 7, Name: "Budget", Keywords: `["budget"]`, Affiliation: model.AffiliationAnyone}
	if err := dao.NewTrackers(db).CreateTracker(ctx, &tr, 0); err != nil || tr.ID <= 41 {
		t.Errorf("create tracker: id %d, %v", tr.ID, err)
	}
	cm := model.Comment{TenantID: 7, ConversationID: conv, AuthorUserID: 11, Text: "ok", CreatedAt: now}
	if err := dao.NewComments(db).CreateComment(ctx, &cm); err != nil || cm.ID <= 61 {
		t.Errorf("create comment: id %d, %v", cm.ID, err)
	}
}
