//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/megaview/mgvcore/internal/dao/daotest"
)

// NewDatabase creates an empty database on the test MariaDB for one test and
// drops it afterwards; it returns the DSN.
func NewDatabase(t *testing.T) string {
	t.Helper()
	return daotest.ScratchMariaDB(t, requireEnv(t, "MGV_TEST_MYSQL_ADMIN_DSN"))
}

// mysqlEnv points a service at a fresh MariaDB database.
func mysqlEnv(t *testing.T) map[string]string {
	return map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": NewDatabase(t)}
}

// The DSN of the driver's examples (loc=Local, a charset fallback list
// that starts with utf8mb4) on a host whose zone is UTC, and a file that
// leaves app.env to MGV_APP_ENV, start: times are stored as UTC there and
// text as utf8mb4. Each is checked by `config check` and the start.
func TestDriverExampleDSNStartsOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	base, _, _ := strings.Cut(env["MGV_DATABASE_DSN"], "?")
	env["MGV_DATABASE_DSN"] = base + "?charset=utf8mb4,utf8&parseTime=True&loc=Local"
	env["TZ"] = "UTC"
	env["MGV_APP_ENV"] = "test"
	s := NewService(t, env)
	editFile(t, s.ConfigPath, "env = \"test\"\n", "")
	if out, err := s.Command("config", "check").CombinedOutput(); err != nil || !strings.Contains(string(out), "is valid (env test)") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	s.Start()
}

// A new install whose baseline stopped part-way under an earlier version,
// whose baseline had another name (baseline_0028_schema), is refused by
// `migrate up` and the start with one line saying what to do, instead of
// starting this version's baseline over on the tables made.
func TestEarlierVersionsStoppedBaselineIsRefusedOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_DATABASE_AUTO_MIGRATE"] = "false"
	s := NewService(t, env)
	db := daotest.Connect(t, "mysql", env["MGV_DATABASE_DSN"], daotest.Unmigrated)
	// The baseline stops where it would make events; the rows it leaves are
	// then made the earlier version's.
	if err := db.Exec("CREATE TABLE events (id INT PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
	if out, err := s.Command("migrate", "up").CombinedOutput(); err == nil || !strings.Contains(string(out), "'events' already exists") {
		t.Fatalf("migrate up with events there: %v\n%s", err, out)
	}
	for _, q := range []string{"DROP TABLE events", "UPDATE schema_migration_statements SET version = 28, name = 'baseline_0028_schema'"} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	const want = "a `migrate up` of an earlier version stopped part-way through baseline_0028_schema ("
	refuses(t, s, want, "migrate", "up")
	delete(s.Env, "MGV_DATABASE_AUTO_MIGRATE")
	refuses(t, s, want, "serve")
}

func TestMigrateOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_DATABASE_AUTO_MIGRATE"] = "false"
	s := NewService(t, env)
	run := func(args ...string) string {
		t.Helper()
		out, err := s.Command(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("migrate", "status"); !strings.Contains(out, "0001_init") || !strings.Contains(out, "pending") {
		t.Fatalf("status before up:\n%s", out)
	}
	printed := run("migrate", "print")
	for _, want := range []string{"CREATE TABLE IF NOT EXISTS schema_migrations", "CREATE TABLE conversations", "INSERT INTO schema_migrations"} {
		if !strings.Contains(printed, want) {
			t.Fatalf("print lacks %q:\n%s", want, printed)
		}
	}
	if out := run("migrate", "up"); !strings.Contains(out, "applied 0001_init") {
		t.Fatalf("up:\n%s", out)
	}
	if out := run("migrate", "up"); !strings.Contains(out, "up to date") {
		t.Fatalf("second up:\n%s", out)
	}
	if out := run("migrate", "print"); !strings.Contains(out, "nothing to apply") {
		t.Fatalf("print after up:\n%s", out)
	}
	if out := run("migrate", "status"); !strings.Contains(out, "applied 20") {
		t.Fatalf("status after up:\n%s", out)
	}
}

// withDSN returns dsn changed by edit.
func withDSN(t *testing.T, dsn string, edit func(c *mysql.Config)) string {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	return c.FormatDSN()
}

// TestMySQLDSNWithoutParseTimeServes: a DSN that leaves parseTime out (as
// gorm's examples do not) starts and reads its times back, in UTC.
func TestMySQLDSNWithoutParseTimeServes(t *testing.T) {
	good := NewDatabase(t)
	bare := withDSN(t, good, func(c *mysql.Config) { c.ParseTime = false; delete(c.Params, "charset") })
	if strings.Contains(bare, "parseTime") {
		t.Fatalf("the DSN still has parseTime: %s", bare)
	}
	s := NewService(t, map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": bare})
	if out, err := s.Command("config", "check").CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	begin := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	id := p.create("no-parse-time-1", f.Reps[0].ID, begin, 60_000, nil)
	var stored time.Time
	if err := daotest.Connect(t, "mysql", good).Raw("SELECT begin_time FROM conversations WHERE id = ?", id).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if !stored.Equal(begin) {
		t.Errorf("begin_time %s reads %s", begin, stored.UTC())
	}
}
