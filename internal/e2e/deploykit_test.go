//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/megaview/mgvcore/deploy"
)

// TestDeployKit runs deploy/spug/deploy.sh against a real installation the
// way Spug does: a deploy with unreviewed migrations is refused, a good
// binary is upgraded to with SIGUSR2, and a binary that cannot start is
// rolled back while the previous process keeps serving. The service runs
// as in pro: JSON logs, /metrics only on the admin listener; every metric
// the alert rules and the dashboard name is one it exports, and the scrape
// is promlint clean.
func TestDeployKit(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_ADMIN_METRICS": "true", "MGV_LOG_FORMAT": "json"})
	installed := filepath.Join(s.Dir, "bin", "mgvcore")
	installBinary(t, binary, installed)
	next := filepath.Join(s.Dir, "upload", "mgvcore")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/megaview/mgvcore/global.GitRelease=deploy-next", "-o", next, "./cmd/mgvcore")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the next release: %v\n%s", err, out)
	}

	cmd := exec.Command(installed, "--config", s.ConfigPath, "serve")
	cmd.Dir, cmd.Env = s.Dir, s.Command().Env
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	s.WaitReady(15 * time.Second)
	first := s.PID()

	t.Run("JSON logs: the build info is one line, no banner", func(t *testing.T) {
		if out := s.Stdout.String(); out != "" {
			t.Errorf("stdout in JSON mode: %q", out)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(s.Stderr.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			if rec["message"] == "build info" {
				n++
				for _, k := range []string{"git_commit", "go_version", "grpc_version", "env", "pid"} {
					if _, ok := rec[k]; !ok {
						t.Errorf("build info line lacks %s: %s", k, line)
					}
				}
			}
		}
		if n != 1 {
			t.Errorf("%d build info lines, want 1", n)
		}
	})

	t.Run("metrics on the admin listener only", func(t *testing.T) {
		if code := getStatus(t, s.URL("/metrics")); code != http.StatusNotFound {
			t.Errorf("public /metrics answered %d, want 404", code)
		}
		names := scrape(t, "http://"+s.AdminAddr+"/metrics")
		used, err := deploy.MetricNames()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range used {
			if !names[n] && !deploy.ScrapeSeries[n] {
				t.Errorf("the rules or the dashboard use %s, which the binary does not export", n)
			}
		}
	})

	run := func(env map[string]string, newBinary string) (int, string) {
		c := exec.Command(filepath.Join(root, "deploy", deploy.DeployScript), newBinary)
		c.Env = append(s.Command().Env, "MGV_HOME="+s.Dir, "MGV_BIN="+installed, "MGV_CONFIG="+s.ConfigPath,
			"MGV_PID_FILE="+s.PIDFile, "MGV_READY_URL="+s.URL("/readyz"), "MGV_DEPLOY_TIMEOUT=15")
		for k, v := range env {
			c.Env = append(c.Env, k+"="+v)
		}
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}

	t.Run("unreviewed migrations refuse the deploy", func(t *testing.T) {
		// A database at no migration: every one is pending, none reviewed.
		code, out := run(map[string]string{"MGV_DATABASE_DSN": filepath.Join(s.Dir, "empty.db")}, next)
		if code != 3 || !strings.Contains(out, "not reviewed") {
			t.Fatalf("exit %d, want 3:\n%s", code, out)
		}
		if !sameFile(t, installed, binary) || s.PID() != first {
			t.Fatal("a refused deploy changed the binary or the process")
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		code, out := run(nil, next)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if s.PID() == first || !sameFile(t, installed, next) || !sameFile(t, installed+".prev", binary) {
			t.Fatalf("not upgraded (pid %d, was %d):\n%s", s.PID(), first, out)
		}
		if !WaitGone(first, 15*time.Second) {
			t.Errorf("old process %d still runs", first)
		}
		if m := metricText(t, s); !strings.Contains(m, `version="deploy-next"`) {
			t.Error("the new process does not report version deploy-next in mgv_build_info")
		}
	})

	t.Run("a binary that cannot start is rolled back", func(t *testing.T) {
		serving := s.PID()
		broken := filepath.Join(s.Dir, "upload", "broken")
		script := "#!/bin/sh\ncase \" $* \" in *\" serve \"*) echo 'cannot start' >&2; exit 1;; esac\nexec " + next + " \"$@\"\n"
		if err := os.WriteFile(broken, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		code, out := run(nil, broken)
		if code != 1 || !strings.Contains(out, "keeps serving") {
			t.Fatalf("exit %d, want 1 (rolled back):\n%s", code, out)
		}
		if !sameFile(t, installed, next) || s.PID() != serving {
			t.Fatalf("after the rollback: pid %d (want %d), binary restored: %v", s.PID(), serving, sameFile(t, installed, next))
		}
		if getStatus(t, s.URL("/readyz")) != http.StatusOK {
			t.Error("not ready after the rollback")
		}
		if m := metricText(t, s); !strings.Contains(m, `mgv_upgrades_total{result="failed"} 1`) {
			t.Error("the failed upgrade is not counted in mgv_upgrades_total")
		}
		// The restored binary upgrades cleanly again.
		s.Signal(syscall.SIGUSR2)
		waitNewPID(t, s, serving, 15*time.Second)
	})
}

func installBinary(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	da, errA := os.ReadFile(a)
	db, errB := os.ReadFile(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	closeBody(t, resp)
	return resp.StatusCode
}

func metricText(t *testing.T, s *Service) string {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// scrape reads a /metrics page, fails on promlint problems, and returns the
// series names it holds (a histogram's _bucket, _sum and _count).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	closeBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d", url, resp.StatusCode)
	}
	problems, err := promlint.New(bytes.NewReader(data)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name, mf := range families {
		names[name] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}
