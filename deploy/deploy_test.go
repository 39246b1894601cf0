package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
