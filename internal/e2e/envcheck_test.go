//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMisspeltEnvStopsTheBinary starts the real binary with two misspelt
// overrides: `serve` (named or the default) and `config check` exit 1 with
// both variables and what they were meant to be on stderr, before anything
// is opened. Its three ports are held by the test meanwhile, so a binary
// that tried to listen first would fail with another message; nor is a pid
// file, certificate or database left behind. With the variables spelt right
// it starts, the test's own MGV_ variables notwithstanding.
func TestMisspeltEnvStopsTheBinary(t *testing.T) {
	t.Setenv("MGV_BENCH_ROUND", "not a setting, kept from the binary by the harness")
	s := NewService(t, map[string]string{"MGV_RATE_LIMIT_ANON_RPS": "1", "mgv_http_adr": "127.0.0.1:1"})
	for _, addr := range []string{s.HTTPAddr, s.GRPCAddr, s.AdminAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("holding %s: %v", addr, err)
		}
		defer closeOrFail(t, ln)
	}
	const want = "mgvcore: environment: MGV_RATE_LIMIT_ANON_RPS is not a setting (did you mean MGV_RATELIMIT_ANON_RPS?); " +
		"mgv_http_adr is not a setting (did you mean MGV_HTTP_ADDR?)\n"
	for _, args := range [][]string{{"serve"}, nil, {"config", "check"}} {
		cmd := s.Command(args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v: still running after 60s with misspelt variables\nstderr:\n%s", args, stderr.String())
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%v: exit %v, want status 1", args, err)
		}
		if stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("%v: stderr %q, stdout %q\nwant stderr %q", args, stderr.String(), stdout.String(), want)
		}
		t.Logf("%v refused in %s", args, time.Since(start).Round(time.Millisecond))
	}
	for _, path := range []string{s.PIDFile, s.Env["MGV_SSL_DIR"], filepath.Dir(s.Env["MGV_DATABASE_DSN"]), s.Env["MGV_SEARCH_PATH"]} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused start left %s behind (%v)", path, err)
		}
	}

	delete(s.Env, "MGV_RATE_LIMIT_ANON_RPS")
	delete(s.Env, "mgv_http_adr")
	s.Env["MGV_HTTP_ADDR"] = freeAddr(t)
	s.HTTPAddr = s.Env["MGV_HTTP_ADDR"]
	s.Env["MGV_GRPC_ADDR"], s.Env["MGV_ADMIN_ADDR"] = freeAddr(t), freeAddr(t)
	s.Start()
	if out, err := s.Command("config", "check").CombinedOutput(); err != nil || !strings.Contains(string(out), "is valid") {
		t.Fatalf("config check with the names spelt right: %v\n%s", err, out)
	}
}
