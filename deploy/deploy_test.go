package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// systemdAnalyze finds systemd-analyze, installing systemd with apt-get
// when it is missing; the test is skipped only when that is impossible.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		t.Skip("systemd-analyze is missing and cannot be installed here (needs apt-get as root)")
	}
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "systemd"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("systemd-analyze is missing and apt-get %s failed: %v\n%s", args[0], err, out)
		}
	}
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd installed but systemd-analyze not found")
	}
	return p
}

// The unit must pass `systemd-analyze verify` without a single warning.
// verify also checks that ExecStart's program exists, so the installed path
// is pointed at an executable in a temporary directory; nothing else of the
// unit changes.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := systemdAnalyze(t)
	unit, err := os.ReadFile(UnitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PIDFile=/data/run/mgvcore.pid", "ExecReload=/bin/kill -USR2 $MAINPID", "KillMode=control-group", "Restart=on-failure"} {
		if !strings.Contains(string(unit), want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mgvcore")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mgvcore.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/opt/mgvcore/bin/mgvcore", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestAlertRulesParse(t *testing.T) {
	groups, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: every alert needs a severity label and a summary", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"MgvcoreHTTP5xxRatioHigh", "MgvcoreHTTPLatencyP99High", "MgvcoreGRPCLatencyP99High", "MgvcoreBreakerOpen",
		"MgvcoreSearchIndexLagHigh", "MgvcoreSearchOutboxBacklog", "MgvcoreUpgradeFailed",
		"MgvcoreRateLimitRejections", "MgvcoreCertificateExpiresSoon",
	} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestDashboardQueriesParse(t *testing.T) {
	d, err := ReadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	names, err := MetricNames() // parses every expression
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"grpc_server_handled_total", "mgv_requests_total", "mgv_build_info", "mgv_tls_certificate_expiry_timestamp_seconds"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("neither the dashboard nor the rules use %s", want)
		}
	}
}

// logrotate reads the config without error (the user and the directory of
// the host are swapped for this machine's).
func TestLogrotateConfig(t *testing.T) {
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		t.Skip("logrotate is not installed")
	}
	data, err := os.ReadFile(LogrotateFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\tcopytruncate\n") {
		t.Error("the logrotate config must use copytruncate: mgvcore never reopens its log")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mgvcore.log"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(string(data), "/data/logs/mgvcore", dir)
	conf = strings.ReplaceAll(conf, "su mgvcore mgvcore", "")
	path := filepath.Join(dir, "logrotate.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lr, "-d", "-s", filepath.Join(dir, "state"), path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "error:") {
		t.Fatalf("logrotate -d: %v\n%s", err, out)
	}
}

func TestDeployScriptSyntax(t *testing.T) {
	if out, err := exec.Command("bash", "-n", DeployScript).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", DeployScript, err, out)
	}
}

// runDeploy runs the deploy script against a stand-in for the new binary
// that answers `config check` and prints status for `migrate status`, in
// a home of its own; pidFile is what the pid file holds.
func runDeploy(t *testing.T, status, pidFile string, env ...string) (int, string) {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{"bin", "run", "upload"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	next := filepath.Join(home, "upload", "mgvcore")
	// With NEED_DSN set, the config check passes only when the binary is
	// given that database.dsn.
	stub := "#!/bin/sh\ncase \"$3 $4\" in\n\"config check\") [ -z \"$NEED_DSN\" ] || [ \"$MGV_DATABASE_DSN\" = \"$NEED_DSN\" ] || exit 7; exit 0 ;;\n\"migrate status\") printf '%s\\n' \"$STATUS\" ;;\n*) exit 9 ;;\nesac\n"
	if err := os.WriteFile(next, []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(home, "run", "mgvcore.pid")
	if err := os.WriteFile(pid, []byte(pidFile), 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("bash", DeployScript, next)
	c.Env = append(os.Environ(), "STATUS="+status, "MGV_HOME="+home, "MGV_BIN="+filepath.Join(home, "bin", "mgvcore"),
		"MGV_CONFIG="+filepath.Join(home, "config.toml"), "MGV_PID_FILE="+pid, "MGV_READY_URL=http://127.0.0.1:1/readyz", "MGV_DEPLOY_TIMEOUT=2",
		"MGV_ENV_FILE="+filepath.Join(home, "env"))
	c.Env = append(c.Env, env...)
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// A migration that `migrate up` left partly applied (it failed, or was
// killed) is pending: the review gate stops a deploy that has not reviewed
// it, rather than installing a binary over a half-migrated schema.
func TestDeployScriptTakesAPartlyAppliedMigrationForPending(t *testing.T) {
	status := "0026_erasure_redactions  applied 2026-12-05 10:00:00\n0027_participants_speaker_keys  pending, partly applied (1 of 3 statements)"
	code, out := runDeploy(t, status, "")
	if code != 3 || !strings.Contains(out, "not reviewed: 0027_participants_speaker_keys") {
		t.Fatalf("exit %d, want 3 naming the partly applied migration:\n%s", code, out)
	}
}

// The secrets pro takes only from the environment reach the deploy's config
// check and migrations from the unit's EnvironmentFile (MGV_ENV_FILE), read
// as systemd reads it, not sourced: a DSN in quotes, with parentheses and
// ampersands, arrives as written. Before, the script ran the binary
// without them, and every pro deploy stopped at the config check.
func TestDeployScriptReadsTheUnitsEnvironmentFile(t *testing.T) {
	const dsn = "mgv:p@ss w'rd@tcp(127.0.0.1:3306)/mgvcore?charset=utf8mb4&parseTime=true"
	file := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(file, []byte("# secrets\n\nMGV_DATABASE_DSN=\""+dsn+"\"\nMGV_AUTH_JWT_SECRET='x'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	applied := "0027_participants_speaker_keys  applied 2026-12-05 10:00:00"
	if code, out := runDeploy(t, applied, "", "NEED_DSN="+dsn, "MGV_ENV_FILE="+file); code != 4 {
		t.Fatalf("with the environment file: exit %d, want 4 (checked, nothing running):\n%s", code, out)
	}
	if code, out := runDeploy(t, applied, "", "NEED_DSN="+dsn); code != 2 {
		t.Fatalf("without it: exit %d, want 2 (the config check failed):\n%s", code, out)
	}
	if err := os.WriteFile(file, []byte("MGV_DATABASE_DSN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runDeploy(t, applied, "", "MGV_ENV_FILE="+file); code != 2 || !strings.Contains(out, "line 1: not KEY=VALUE") || strings.Contains(out, "MGV_DATABASE_DSN") {
		t.Fatalf("a line that is not KEY=VALUE: exit %d, want 2 naming its line and not its text:\n%s", code, out)
	}
}

// A stale pid file naming another program's process, or a program of the
// same name run from elsewhere (the uploaded binary, say): the script must
// not send it SIGUSR2 (it would kill it), but say that no mgvcore runs.
func TestDeployScriptSignalsOnlyMgvcore(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	namesake := filepath.Join(t.TempDir(), "mgvcore")
	if err := os.WriteFile(namesake, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, program := range []string{sleep, namesake} {
		other := exec.Command(program, "30")
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
		code, out := runDeploy(t, "0027_participants_speaker_keys  applied 2026-12-05 10:00:00", strconv.Itoa(other.Process.Pid))
		if code != 4 || !strings.Contains(out, "not a live mgvcore") {
			t.Fatalf("%s: exit %d, want 4 (no mgvcore running):\n%s", program, code, out)
		}
		if err := other.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("%s: the process the stale pid file named is gone: %v", program, err)
		}
	}
}
