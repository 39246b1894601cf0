//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// partnerPython is an interpreter with the mgv-open-client package (gen/,
// installed) for gen/test.py: the venv of scripts/testenv.sh named by env
// (MGV_TEST_PYTHON: the pinned newest grpcio and protobuf;
// MGV_TEST_PYTHON_FLOOR: exactly the floors of gen/pyproject.toml), else
// that venv in the cache directory.
func partnerPython(t *testing.T, env, venv string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	cache := os.Getenv("MGV_CACHE_DIR")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "mgvcore")
	}
	p := filepath.Join(cache, venv, "bin", "python")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Python for gen/test.py: set %s or run `scripts/testenv.sh up python` (%v)", env, err)
	}
	return p
}

// partnerCommand runs gen/test.py isolated (-I): neither gen/ (the
// script's directory) nor PYTHONPATH is on the import path, so the stubs
// come from the package installed in python's venv.
func partnerCommand(python string, args ...string) *exec.Cmd {
	cmd := exec.Command(python, append([]string{"-I", filepath.Join(root, "gen", "test.py")}, args...)...)
	cmd.Dir = os.TempDir()
	return cmd
}

// TestPartnerClientOnMariaDB runs gen/test.py, a real partner client on the
// generated Python stubs installed as a package, against the binary on
// MariaDB: app token over TLS with the development CA, deal, conversation,
// a streamed transcript read back sentence by sentence. It runs on the
// newest grpcio and protobuf the tests pin and on exactly the floors the
// package declares.
func TestPartnerClientOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	newest := partnerPython(t, "MGV_TEST_PYTHON", "venv-client")
	floor := partnerPython(t, "MGV_TEST_PYTHON_FLOOR", "venv-client-floor")
	run := func(python string, args ...string) string {
		t.Helper()
		// The search check asks whether a new transcript is found at all;
		// how fast is the search tests' and the benchmarks' question, so a
		// loaded machine gets a generous wait.
		cmd := partnerCommand(python, append([]string{"--addr", s.GRPCAddr, "--search-wait", "30",
			"--ca", filepath.Join(s.Env["MGV_SSL_DIR"], "ca.crt")}, args...)...)
		cmd.Env = append(os.Environ(), "MGV_APP_KEY="+f.App.AppKey, "MGV_APP_SECRET="+f.AppSecret)
		out, err := runWithOutput(cmd, 2*time.Minute)
		if err != nil {
			t.Fatalf("gen/test.py %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out, "all checks passed") {
			t.Fatalf("gen/test.py %v:\n%s", args, out)
		}
		// The first line names the stubs' directory: the installed package.
		first, _, _ := strings.Cut(out, "\n")
		if !strings.HasPrefix(first, "stubs mgv-open-client ") || !strings.Contains(first, "site-packages") ||
			strings.Contains(first, filepath.Join(root, "gen")) {
			t.Fatalf("gen/test.py did not run on the installed package: %q", first)
		}
		return out
	}
	// A 3-hour call against an existing rep, then a short one whose owner
	// the client upserts itself.
	t.Log(run(newest, "--owner-user-id", itoa(f.Reps[0].ID), "--sentences", "5000"))
	run(newest, "--sentences", "40")

	// The same client on the oldest grpcio and protobuf the package accepts.
	out := run(floor, "--sentences", "400")
	first, _, _ := strings.Cut(out, "\n")
	pyproject, err := os.ReadFile(filepath.Join(root, "gen", "pyproject.toml"))
	if err != nil {
		t.Fatal(err)
	}
	floors := regexp.MustCompile(`"(grpcio|protobuf)>=([0-9.]+)`).FindAllStringSubmatch(string(pyproject), -1)
	if len(floors) != 2 {
		t.Fatalf("gen/pyproject.toml: want the grpcio and protobuf floors, found %q", floors)
	}
	for _, m := range floors {
		if !strings.Contains(first, m[1]+" "+m[2]+",") && !strings.HasSuffix(first, m[1]+" "+m[2]) {
			t.Fatalf("the floor venv does not run %s %s: %q", m[1], m[2], first)
		}
	}
	t.Logf("floor: %s", first)

	// Refused credentials make the client fail, not pass.
	cmd := partnerCommand(newest, "--addr", s.GRPCAddr,
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
		return out.String(), fmt.Errorf("%w: killed after %s: %v", exec.ErrWaitDelay, timeout, <-done)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
