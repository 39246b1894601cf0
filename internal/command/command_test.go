package command

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the command line and returns its exit code and output, with
// no MGV_ variable but MGV_CONFIG in its environment: the test
// environment's own (MGV_TEST_*) are not settings, and the commands refuse
// them as they would in an operator's shell.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(strings.ToUpper(name), "MGV_") && name != "MGV_CONFIG" {
			t.Setenv(name, "") // restores the value after the test
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out, errOut bytes.Buffer
	code := Main(t.Context(), append([]string{"mgvcore"}, args...), &out, &errOut)
	return code, out.String() + errOut.String()
}

// devConfig writes the development config with its database and token
// secret in a temporary directory and returns its path.
func devConfig(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "config_dev.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := strings.Replace(string(data), `dsn = "data/mgvcore.db"`, `dsn = "`+filepath.Join(dir, "mgv.db")+`"`, 1)
	if text == string(data) {
		t.Fatal("the dev config has no sqlite dsn to replace")
	}
	// Its token secret too, which it creates on first use.
	secret := strings.Replace(text, `jwt_secret_file = "data/jwt_secret"`, `jwt_secret_file = "`+filepath.Join(dir, "jwt_secret")+`"`, 1)
	if secret == text {
		t.Fatal("the dev config has no jwt_secret_file to replace")
	}
	text = secret
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every command takes --config before or after its name; the one nearest
// the command wins.
func TestConfigBeforeOrAfterTheCommand(t *testing.T) {
	t.Setenv("MGV_CONFIG", filepath.Join(t.TempDir(), "missing.toml"))
	cfg := devConfig(t)
	for _, args := range [][]string{
		{"config", "check", "--config", cfg},
		{"config", "check", "-c", cfg},
		{"config", "--config", cfg, "check"},
		{"--config", cfg, "config", "check"},
		{"--config", "elsewhere.toml", "config", "check", "--config", cfg},
	} {
		if code, out := run(t, args...); code != 0 || !strings.Contains(out, "config "+cfg+" is valid") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if code, out := run(t, "config", "check", "--config", "nowhere.toml"); code == 0 || !strings.Contains(out, "nowhere.toml") {
		t.Errorf("a missing config after the name: exit %d\n%s", code, out)
	}

	if code, out := run(t, "migrate", "print", "--config", cfg); code != 0 || !strings.Contains(out, "CREATE TABLE") {
		t.Errorf("migrate print --config: exit %d\n%s", code, out)
	}
	if code, out := run(t, "--config", cfg, "migrate", "up"); code != 0 || !strings.Contains(out, "applied 0001_init") {
		t.Errorf("--config migrate up: exit %d\n%s", code, out)
	}
	if code, out := run(t, "migrate", "status", "--config", cfg); code != 0 || strings.Contains(out, "pending") {
		t.Errorf("migrate status --config: exit %d\n%s", code, out)
	}
	if code, out := run(t, "migrate", "--config", cfg, "print"); code != 0 || !strings.Contains(out, "nothing to apply") {
		t.Errorf("migrate --config print: exit %d\n%s", code, out)
	}
}

// `migrate print --dialect mysql` needs neither a config nor a database.
func TestPrintMySQLWithoutADatabase(t *testing.T) {
	t.Setenv("MGV_CONFIG", filepath.Join(t.TempDir(), "missing.toml"))
	code, out := run(t, "migrate", "print", "--dialect", "mysql")
	if code != 0 || !strings.Contains(out, "CREATE TABLE conversations") || !strings.Contains(out, "uniq_conversations_origin") {
		t.Errorf("exit %d\n%s", code, out)
	}
	// Only DDL is to be reviewed; the bookkeeping rows are comments.
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "--") && (strings.Contains(line, "INSERT") || strings.Contains(line, "DROP TABLE")) {
			t.Errorf("printed: %s", line)
		}
	}
	if code, out := run(t, "migrate", "print", "--dialect", "oracle"); code == 0 {
		t.Errorf("--dialect oracle: exit 0\n%s", out)
	}
}

// reindex and metrics recompute --tenant name an existing tenant: an
// unknown or non-positive id would do nothing and say so as if it were
// done.
func TestTenantCommandsRefuseATenantThatIsNone(t *testing.T) {
	cfg := devConfig(t)
	if code, out := run(t, "--config", cfg, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		command []string
		done    string
	}{{[]string{"reindex"}, "queued 0 conversations"}, {[]string{"metrics", "recompute"}, "recomputed the metrics of 0 conversations"}} {
		for id, want := range map[string]string{
			"99999": "--tenant: no tenant has id 99999",
			"-1":    "--tenant: must be a tenant id above 0 (got -1)",
			"0":     "--tenant: must be a tenant id above 0 (got 0)",
		} {
			code, out := run(t, append(append([]string{"--config", cfg}, tc.command...), "--tenant", id)...)
			if code == 0 || !strings.Contains(out, want) || strings.Contains(out, tc.done[:6]) {
				t.Errorf("%v --tenant %s: exit %d, want the error %q\n%s", tc.command, id, code, want, out)
			}
		}
		if code, out := run(t, append([]string{"--config", cfg}, tc.command...)...); code != 0 || !strings.Contains(out, tc.done) {
			t.Errorf("%v of every tenant: exit %d\n%s", tc.command, code, out)
		}
	}
}
