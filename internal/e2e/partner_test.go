//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// partnerPython is the interpreter with grpcio for gen/test.py: the
// MGV_TEST_PYTHON of scripts/testenv.sh, else the venv it creates.
func partnerPython(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MGV_TEST_PYTHON"); p != "" {
		return p
	}
	cache := os.Getenv("MGV_CACHE_DIR")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "mgvcore")
	}
	p := filepath.Join(cache, "venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Python for gen/test.py: set MGV_TEST_PYTHON or run `scripts/testenv.sh up python` (%v)", err)
	}
	return p
}

// TestPartnerClientOnMariaDB runs gen/test.py, a real partner client on the
// generated Python stubs, against the binary on MariaDB: app token over TLS
// with the development CA, deal, conversation, a streamed transcript read
// back sentence by sentence.
func TestPartnerClientOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	python := partnerPython(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(python, append([]string{filepath.Join(root, "gen", "test.py"),
			"--addr", s.GRPCAddr, "--ca", filepath.Join(s.Env["MGV_SSL_DIR"], "ca.crt")}, args...)...)
		cmd.Env = append(os.Environ(), "MGV_APP_KEY="+f.App.AppKey, "MGV_APP_SECRET="+f.AppSecret)
		out, err := runWithOutput(cmd, 2*time.Minute)
		if err != nil {
			t.Fatalf("gen/test.py %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out, "all checks passed") {
			t.Fatalf("gen/test.py %v:\n%s", args, out)
		}
		return out
	}
	// A 3-hour call against an existing rep, then a short one whose owner
	// the client upserts itself.
	t.Log(run("--owner-user-id", itoa(f.Reps[0].ID), "--sentences", "5000"))
	run("--sentences", "40")

	// Refused credentials make the client fail, not pass.
	cmd := exec.Command(python, filepath.Join(root, "gen", "test.py"), "--addr", s.GRPCAddr,
		"--ca", filepath.Join(s.Env["MGV_SSL_DIR"], "ca.crt"), "--app-key", f.App.AppKey, "--app-secret", "wrong")
	if out, err := runWithOutput(cmd, time.Minute); err == nil {
		t.Fatalf("gen/test.py passed with a wrong secret:\n%s", out)
	}
}

func runWithOutput(cmd *exec.Cmd, timeout time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), exec.ErrWaitDelay
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
