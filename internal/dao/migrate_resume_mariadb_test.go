package dao_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
)

// statementRows lists the rows of the statements table as "version/statement".
func statementRows(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var rows []struct{ Version, Statement int }
	if err := db.Raw("SELECT version, statement FROM " + dao.StatementsTable + " ORDER BY version, statement").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d/%d", r.Version, r.Statement))
	}
	return out
}

// recorded lists the versions in the migrations table.
func recorded(t *testing.T, db *gorm.DB) []int {
	t.Helper()
	var out []int
	if err := db.Raw("SELECT version FROM " + dao.MigrationsTable + " ORDER BY version").Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// A migration of several statements that fails at its second statement on
// MySQL (which commits each DDL statement by itself) leaves its first one
// applied and recorded as such: status and print say so, and the next
// `migrate up` goes on from the second statement; the migration is then
// recorded and its statement rows are gone.
func TestMigrationResumesAfterAFailedStatementOnMariaDB(t *testing.T) {
	ctx := t.Context()
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	migrateTo(t, db, 13)
	// Statement 2 of 3 of 0014 adds tenants.retention_days: there already, it fails.
	if err := db.Exec("ALTER TABLE tenants ADD COLUMN retention_days INT NOT NULL DEFAULT 0").Error; err != nil {
		t.Fatal(err)
	}
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err == nil || len(applied) != 0 || !strings.Contains(err.Error(), "migration 0014_privacy_erasures: statement 2 of 3") ||
		strings.Contains(err.Error(), "may already be applied") {
		t.Fatalf("up with statement 2 of 0014 failing: %v %v", applied, err)
	}
	if got := statementRows(t, db); !slices.Equal(got, []string{"14/1"}) {
		t.Errorf("statement rows after the failure: %v", got)
	}
	states, err := dao.NewMigrator(db).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if want := map[bool]int{true: 1}[s.Version == 14]; s.StatementsDone != want || s.AppliedAt.IsZero() != (s.Version >= 14) {
			t.Errorf("status of %s: applied %v, %d statements done", s.Name, s.AppliedAt, s.StatementsDone)
		}
	}
	var out bytes.Buffer
	if n, err := dao.NewMigrator(db).Print(ctx, &out); err != nil || n != 19 ||
		!strings.Contains(out.String(), "-- migration 0014_privacy_erasures, from statement 2 of 3 ") ||
		strings.Contains(out.String(), "CREATE TABLE privacy_erasures") || !strings.Contains(out.String(), "CREATE TABLE retention_runs") ||
		strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS") {
		t.Errorf("print after the failure: %d %v\n%s", n, err, out.String())
	}

	if err := db.Exec("ALTER TABLE tenants DROP COLUMN retention_days").Error; err != nil {
		t.Fatal(err)
	}
	applied, err = dao.NewMigrator(db).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), []int{14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}) {
		t.Fatalf("up after the failure: %v %v", applied, err)
	}
	if got := recorded(t, db); len(got) != 31 || got[len(got)-1] != 32 {
		t.Errorf("recorded: %v", got)
	}
	if got := statementRows(t, db); len(got) != 0 {
		t.Errorf("statement rows left: %v", got)
	}
	if !db.Migrator().HasColumn("tenants", "retention_days") || !db.Migrator().HasTable("retention_runs") {
		t.Error("0014 is not applied")
	}
}

// A `migrate up` stopped between a statement and its record (kill -9) leaves
// the statement applied and unrecorded: the next run fails on it, saying
// which migration and statement, that it may already be applied and how to
// record it; recorded so, the next run goes on.
func TestUnrecordedStatementIsReportedOnMariaDB(t *testing.T) {
	ctx := t.Context()
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	migrateTo(t, db, 13)
	all, err := dao.Migrations("mysql")
	if err != nil {
		t.Fatal(err)
	}
	mig := all[slices.IndexFunc(all, func(m dao.Migration) bool { return m.Version == 14 })]
	if err := db.Exec(dao.Statements(mig.SQL)[0]).Error; err != nil {
		t.Fatal(err)
	}
	_, err = dao.NewMigrator(db).Up(ctx)
	if err == nil {
		t.Fatal("up ran statement 1 of 0014 again without an error")
	}
	msg := err.Error()
	for _, want := range []string{"migration 0014_privacy_erasures: statement 1 of 3", "already exists", "may already be applied", "SHOW CREATE TABLE",
		"INSERT INTO " + dao.StatementsTable + " (version, name, statement, applied_at) VALUES (14, '0014_privacy_erasures', 1, CURRENT_TIMESTAMP(3));"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	for _, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "INSERT INTO") {
			if err := db.Exec(strings.TrimSpace(line)).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), []int{14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}) {
		t.Fatalf("up after recording statement 1: %v %v", applied, err)
	}
	if got := statementRows(t, db); len(got) != 0 {
		t.Errorf("statement rows left: %v", got)
	}
}

// A new install whose baseline fails part-way goes on from the failed
// statement too, and ends as a new install does.
func TestBaselineResumesOnMariaDB(t *testing.T) {
	ctx := t.Context()
	all, err := dao.Migrations("mysql")
	if err != nil {
		t.Fatal(err)
	}
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	if err := db.Exec("CREATE TABLE events (id INT PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err == nil || len(applied) != 0 || !strings.Contains(err.Error(), "migration baseline_0032_schema: statement ") ||
		!strings.Contains(err.Error(), "'events' already exists") {
		t.Fatalf("up with the baseline failing: %v %v", applied, err)
	}
	done := len(statementRows(t, db))
	if done < 2 {
		t.Fatalf("statement rows after the failure: %d", done)
	}
	var out bytes.Buffer
	if _, err := dao.NewMigrator(db).Print(ctx, &out); err != nil || !strings.Contains(out.String(), "-- migration baseline_0032_schema, from statement ") ||
		strings.Contains(out.String(), "CREATE TABLE tenants") || !strings.Contains(out.String(), "CREATE TABLE events") {
		t.Errorf("print after the failure: %v\n%s", err, out.String())
	}
	if err := db.Exec("DROP TABLE events").Error; err != nil {
		t.Fatal(err)
	}
	applied, err = dao.NewMigrator(db).Up(ctx)
	if err != nil || !slices.Equal(versions(applied), versions(all)) {
		t.Fatalf("up after the failure: %v %v", applied, err)
	}
	if got := statementRows(t, db); len(got) != 0 {
		t.Errorf("statement rows left: %v", got)
	}
	fresh := daotest.OpenMariaDB(t)
	want, got := schemaOf(t, fresh), schemaOf(t, db)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("table %s\nnew install:\n%s\nresumed:\n%s", name, w, got[name])
		}
	}
	if len(want) != len(got) {
		t.Errorf("tables: new install %d, resumed %d", len(want), len(got))
	}
}

// A new install by an earlier version whose baseline (then
// baseline_0028_schema) stopped part-way is not taken up by this version's
// baseline, which has another name: it would start over and fail on the
// tables made, and recording its statements by hand would leave the
// earlier schema under later migrations recorded applied. The start, print
// and up refuse with one line saying so and what to do, and change nothing.
func TestEarlierVersionsStoppedBaselineIsRefusedOnMariaDB(t *testing.T) {
	ctx := t.Context()
	base, err := dao.Baseline("mysql")
	if err != nil || base == nil {
		t.Fatalf("baseline: %v %v", base, err)
	}
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	for _, ddl := range []string{dao.NewMigrator(db).BookkeepingDDL(), dao.StatementsDDL()} {
		if err := db.Exec(ddl).Error; err != nil {
			t.Fatal(err)
		}
	}
	stmts := dao.Statements(base.SQL)
	for i, stmt := range stmts[:2] {
		if err := db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("INSERT INTO "+dao.StatementsTable+" (version, name, statement) VALUES (28, 'baseline_0028_schema', ?)", i+1).Error; err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.Raw("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	tables := count()
	const want = "migrate: a `migrate up` of an earlier version stopped part-way through baseline_0028_schema (2 statements applied, recorded in " +
		dao.StatementsTable + "), which this version does not have: finish it with the version that started it"
	applied, err := dao.NewMigrator(db).Up(ctx)
	if err == nil || len(applied) != 0 || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "drop the database, create it again empty") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("up after an earlier version's baseline stopped: %v %v", applied, err)
	}
	if _, err := dao.NewMigrator(db).Print(ctx, new(bytes.Buffer)); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("print: %v", err)
	}
	if _, err := dao.NewMigrator(db).Pending(ctx); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("pending: %v", err)
	}
	if got := count(); got != tables {
		t.Errorf("tables: %d before up, %d after", tables, got)
	}
	if got := statementRows(t, db); !slices.Equal(got, []string{"28/1", "28/2"}) {
		t.Errorf("statement rows: %v", got)
	}
	if got := recorded(t, db); len(got) != 0 {
		t.Errorf("recorded: %v", got)
	}
}
