//go:build e2e

package e2e

import (
	"strings"
	"testing"

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
