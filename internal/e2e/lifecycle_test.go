//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// requireEnv reads a variable that scripts/testenv.sh exports.
func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the end-to-end tests with `make test` (it starts the real dependencies)", name)
	}
	return v
}

// With console logs (the development default) the start prints the build
// information and the banners of the design notes; with JSON logs stdout
// stays empty and the build information is one log line.
func TestStartupOutput(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_LOG_FORMAT": "console"})
	s.Start()
	out := s.Stdout.String()
	order := []string{
		"Build Info:", "Git Commit Log:", "Git Release Info:", "Build Time:", "Go Version: go",
		"gRPC Version: 1.", "PID: ", "Environment: test",
		`|\   _ \  _   \|\   ____\`,
		"=> grpc server started on: " + s.GRPCAddr,
		"High performance, minimalist Go web framework",
		"⇨ http server started on 127.0.0.1:" + strings.Split(s.HTTPAddr, ":")[1],
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(out[pos:], want)
		if i < 0 {
			t.Fatalf("startup output lacks %q after offset %d:\n%s", want, pos, out)
		}
		pos += i + len(want)
	}

	s = NewService(t, nil)
	s.Start()
	// Logs are JSON lines in the test environment; they are written in
	// batches, so wait for the last expected one.
	waitLog(t, s, `"message":"ready"`, 5*time.Second)
	if out := s.Stdout.String(); out != "" {
		t.Errorf("stdout with JSON logs: %q", out)
	}
	if n := strings.Count(s.Stderr.String(), `"message":"build info"`); n != 1 {
		t.Errorf("%d build info lines, want 1:\n%s", n, s.Stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(s.Stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	if !strings.Contains(s.Stderr.String(), "generated development CA") {
		t.Errorf("no log line about generated certificates:\n%s", s.Stderr)
	}
}

func TestBadStartsRefuseWithOneLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, busy)

	// Settings the service would run wrongly with (text stored garbled,
	// times shifted by hours, every call out of time, a pro file running
	// as dev) are refused by `config check` too, each with one line naming
	// the setting, and the variable when the value came from one. The
	// DSNs' database is never reached.
	mysql := func(params string) map[string]string {
		return map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": "mgv:Sekr3tDbPw@tcp(127.0.0.1:1)/mgvcore?" + params}
	}
	const dsn = "environment MGV_DATABASE_DSN (database.dsn): "
	checked := []badStart{
		{"latin1", mysql("charset=latin1&parseTime=true&loc=UTC"), nil, dsn + "charset=latin1: must be utf8mb4 or left out"},
		{"utf8mb3", mysql("charset=utf8&parseTime=true&loc=UTC"), nil, dsn + "charset=utf8: must be utf8mb4 or left out"},
		{"china time", mysql("charset=utf8mb4&parseTime=true&loc=Asia%2FShanghai"), nil, dsn + "loc=Asia/Shanghai: must be UTC or left out"},
		{"host time", withEnv(mysql("parseTime=true&loc=Local"), "TZ", "Asia/Shanghai"), nil, dsn + "loc=Local (the host's time zone, CST, UTC+08:00): must be UTC or left out"},
		{"utf8mb3 first", mysql("charset=utf8,utf8mb4&parseTime=true"), nil, dsn + "charset=utf8,utf8mb4: must be utf8mb4 or left out"},
		{"no time parsing", mysql("charset=utf8mb4&parseTime=false&loc=UTC"), nil, dsn + "parseTime=false: must be true or left out"},
		{"file without app.env", nil, func(s *Service) { editFile(t, s.ConfigPath, "env = \"test\"\n", "") }, "app.env: is required in every config file unless MGV_APP_ENV is set: one of dev, test, pro"},
		{"request timeout", map[string]string{"MGV_HTTP_REQUEST_TIMEOUT": "1ns"}, nil, "environment MGV_HTTP_REQUEST_TIMEOUT (http.request_timeout): must be at least 100ms (got 1ns)"},
		{"read timeout", map[string]string{"MGV_HTTP_READ_TIMEOUT": "1ns"}, nil, "environment MGV_HTTP_READ_TIMEOUT (http.read_timeout): must be at least 100ms (got 1ns)"},
		{"stream timeout", map[string]string{"MGV_GRPC_STREAM_TIMEOUT": "1ms"}, nil, "environment MGV_GRPC_STREAM_TIMEOUT (grpc.stream_timeout): must be at least 1s (got 1ms)"},
		{"body bound from the environment", map[string]string{"MGV_HTTP_MAX_BODY_BYTES": "-1"}, nil, "environment MGV_HTTP_MAX_BODY_BYTES (http.max_body_bytes): must be greater than 0 (got -1)"},
	}
	cases := append([]badStart{
		{"unknown key", nil, func(s *Service) { editFile(t, s.ConfigPath, "[http]\n", "[http]\nadress = \":1\"\n") }, `unknown key "http.adress"`},
		{"bad value", map[string]string{"MGV_PROCESS_DRAIN_TIMEOUT": "soon"}, nil, `MGV_PROCESS_DRAIN_TIMEOUT (process.drain_timeout): invalid duration "soon"`},
		{"missing file", nil, func(s *Service) { s.ConfigPath += ".missing" }, "config.toml.missing: not found"},
		{"port in use", map[string]string{"MGV_HTTP_ADDR": busy.Addr().String()}, nil, "http.addr: listen on " + busy.Addr().String() + ": bind: address already in use"},
		{"missing certificates in pro", proEnv(nil), func(s *Service) { removeSecretsFromFile(t, s) }, "ssl: missing"},
		// sysfs: no file can be created in it, as root either. Refused
		// before anything listens, not by the upgrader's "can't write PID
		// file" about a temporary name once the service was ready.
		{"pid file in a directory nothing can be written in", map[string]string{"MGV_PROCESS_PID_FILE": "/sys/mgvcore.pid"}, nil, "process.pid_file /sys/mgvcore.pid: cannot write a file in /sys: "},
	}, checked...)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewService(t, tc.env)
			if tc.patch != nil {
				tc.patch(s)
			}
			commands := [][]string{{"serve"}}
			if i >= len(cases)-len(checked) {
				commands = append(commands, []string{"config", "check"})
			}
			for _, args := range commands {
				stderr := refuses(t, s, tc.want, args...)
				if strings.Contains(stderr, "panic") {
					t.Fatalf("%v panicked:\n%s", args, stderr)
				}
				if strings.Contains(stderr, "Sekr3t") {
					t.Errorf("%v printed the DSN's password:\n%s", args, stderr)
				}
			}
		})
	}
}

// withEnv is env with the variable name set to value.
func withEnv(env map[string]string, name, value string) map[string]string {
	env[name] = value
	return env
}

// badStart is a start refused: the service's environment, a change to it,
// and what the last line of stderr says.
type badStart struct {
	name  string
	env   map[string]string
	patch func(s *Service)
	want  string
}

// refuses runs s's command args, fails t unless it exits non-zero with a
// last line of stderr that contains want, and returns the whole stderr.
func refuses(t *testing.T, s *Service, want string, args ...string) string {
	t.Helper()
	cmd := s.Command(args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	err := runWithTimeout(cmd, 20*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("%v: want a non-zero exit, got %v\nstderr:\n%s", args, err, stderr.String())
	}
	if last := lastLine(stderr.String()); !strings.Contains(last, want) {
		t.Fatalf("%v: last stderr line %q does not contain %q\nstderr:\n%s", args, last, want, stderr.String())
	}
	return stderr.String()
}

func TestConfigCheckAndVersion(t *testing.T) {
	s := NewService(t, nil)
	out, err := s.Command("config", "check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is valid (env test)") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	out, err = s.Command("version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Build Info:") {
		t.Fatalf("version: %v\n%s", err, out)
	}
	editFile(t, s.ConfigPath, `client_auth = "none"`, `client_auth = "sometimes"`)
	out, err = s.Command("config", "check").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "grpc.client_auth") {
		t.Fatalf("config check accepted a bad file: %v\n%s", err, out)
	}
}

func TestCertCommand(t *testing.T) {
	s := NewService(t, nil)
	out, err := s.Command("cert").CombinedOutput()
	if err != nil {
		t.Fatalf("cert: %v\n%s", err, out)
	}
	for _, f := range []string{"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"} {
		if _, err := os.Stat(s.Env["MGV_SSL_DIR"] + "/" + f); err != nil {
			t.Errorf("cert did not write %s", f)
		}
	}
	if out, err := s.Command("cert").CombinedOutput(); err == nil || !strings.Contains(string(out), "--force") {
		t.Fatalf("second cert without --force: %v\n%s", err, out)
	}
	if out, err := s.Command("cert", "--force").CombinedOutput(); err != nil {
		t.Fatalf("cert --force: %v\n%s", err, out)
	}
}

func TestStalePIDFileIsOverwritten(t *testing.T) {
	s := NewService(t, nil)
	if err := os.MkdirAll(s.Dir+"/run", 0o755); err != nil {
		t.Fatal(err)
	}
	// A pid that cannot be running: beyond the kernel's pid_max.
	if err := os.WriteFile(s.PIDFile, []byte("99999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Start()
	if got := s.PID(); got != s.cmd.Process.Pid {
		t.Fatalf("pid file names %d, want %d", got, s.cmd.Process.Pid)
	}
	waitLog(t, s, "stale pid file", 5*time.Second)
	s.Signal(syscall.SIGTERM)
	<-s.exited
	if _, err := os.Stat(s.PIDFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind after SIGTERM: %v", err)
	}
}

func TestFailedUpgradeKeepsServing(t *testing.T) {
	// Console logs, so that a new process reads the banner (see below).
	// The upgrade timeout is short, so the held upgrade below times out
	// soon, and long enough for a new process to start on a loaded machine.
	s := NewService(t, map[string]string{"MGV_PROCESS_UPGRADE_TIMEOUT": "5s", "MGV_LOG_FORMAT": "console"})
	ownBanner(t, s)
	s.Start()
	pid := s.PID()
	good, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	editFile(t, s.ConfigPath, "[http]\n", "[http]\nadress = \":1\"\n")
	s.Signal(syscall.SIGUSR2)
	waitLog(t, s, "upgrade failed; this process keeps serving", 10*time.Second)
	if s.PID() != pid || !Alive(pid) {
		t.Fatalf("pid file changed or process died: %d → %d", pid, s.PID())
	}
	assertServing(t, s)

	// A second signal while an upgrade runs is refused. The new process is
	// held in its start by a banner that is a FIFO nobody writes, so the
	// first upgrade is still running when the second signal arrives; it then
	// times out and the old process keeps serving.
	if err := os.WriteFile(s.ConfigPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	holdNewProcesses(t, s)
	s.Signal(syscall.SIGUSR2)
	time.Sleep(500 * time.Millisecond)
	s.Signal(syscall.SIGUSR2)
	waitLog(t, s, "upgrade in progress", 5*time.Second)
	waitLog(t, s, "timed out", 15*time.Second)
	if s.PID() != pid || !Alive(pid) {
		t.Fatalf("pid file changed or process died: %d → %d", pid, s.PID())
	}
	assertServing(t, s)

	// With a readable banner again the next upgrade goes through.
	if err := os.Remove(s.Env["MGV_APP_BANNER"]); err != nil {
		t.Fatal(err)
	}
	ownBanner(t, s)
	upgradeTakesOver(t, s, pid, 10*time.Second)
}

// upgradeTakesOver signals an upgrade of s, running as pid, and checks that
// a new process takes over within timeout: the pid file names it, the old
// one exits, and /healthz answers from the new one, which it returns.
func upgradeTakesOver(t *testing.T, s *Service, pid int, timeout time.Duration) int {
	t.Helper()
	s.Signal(syscall.SIGUSR2)
	next := waitNewPID(t, s, pid, timeout)
	if !WaitGone(pid, 15*time.Second) {
		t.Fatalf("old process %d did not exit", pid)
	}
	if got := healthzPID(t, s); got != next {
		t.Errorf("/healthz answered from pid %d, want the new %d", got, next)
	}
	return next
}

// ownBanner gives s a banner file of its own, a copy of the project's, in
// its directory, so that a test may replace it (the project's is shared).
func ownBanner(t *testing.T, s *Service) {
	t.Helper()
	s.Env["MGV_APP_BANNER"] = filepath.Join(s.Dir, "banner.txt")
	copyFile(t, filepath.Join(root, "config", "banner.txt"), s.Env["MGV_APP_BANNER"])
}

// holdNewProcesses replaces s's own banner (ownBanner) by a FIFO nobody
// writes: a new process of an upgrade, which reads it as it starts with
// console logs, is held in its start.
func holdNewProcesses(t *testing.T, s *Service) {
	t.Helper()
	banner := s.Env["MGV_APP_BANNER"]
	if filepath.Dir(banner) != s.Dir {
		t.Fatalf("the banner %s is not the service's own: call ownBanner before Start", banner)
	}
	if err := os.Remove(banner); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(banner, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadinessNamesTheFailingDependency(t *testing.T) {
	dsn := requireEnv(t, "MGV_TEST_MYSQL_DSN")
	esURL := requireEnv(t, "MGV_TEST_ES_URL")
	s := NewService(t, map[string]string{
		"MGV_DATABASE_DRIVER": "mysql",
		"MGV_DATABASE_DSN":    dsn,
		"MGV_SEARCH_ENGINE":   "elasticsearch",
		"MGV_SEARCH_URLS":     esURL,
	})
	s.Start()
	body := getJSON(t, s.URL("/readyz"), http.StatusOK)
	checks := body["data"].(map[string]any)["checks"].(map[string]any)
	if checks["database"] != "ok" || checks["elasticsearch"] != "ok" {
		t.Fatalf("checks = %v", checks)
	}

	// Elasticsearch on a closed port: the service starts and says why it is not ready.
	down := NewService(t, map[string]string{
		"MGV_DATABASE_DRIVER": "mysql",
		"MGV_DATABASE_DSN":    dsn,
		"MGV_SEARCH_ENGINE":   "elasticsearch",
		"MGV_SEARCH_URLS":     "http://" + freeAddr(t),
	})
	down.cmd = down.Command("serve")
	down.cmd.Stdout, down.cmd.Stderr = down.Stdout, down.Stderr
	if err := down.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	down.exited = make(chan struct{})
	go func() { down.exitErr = down.cmd.Wait(); close(down.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(down.URL("/readyz"))
		if err == nil {
			var b map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&b)
			closeBody(t, resp)
			if resp.StatusCode == http.StatusServiceUnavailable && b["reason"] == "DEPENDENCY_UNAVAILABLE" &&
				b["metadata"].(map[string]any)["dependency"] == "elasticsearch" {
				break
			}
			t.Fatalf("readyz = %d %v, want 503 naming elasticsearch", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from %s: %v", down.URL("/readyz"), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	getJSON(t, down.URL("/healthz"), http.StatusOK)
}

func TestGRPCTransportSecurity(t *testing.T) {
	t.Run("TLS below 1.2 is refused", func(t *testing.T) {
		s := NewService(t, nil)
		s.Start()
		cfg := s.TLSConfig(false)
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		conn, err := tls.Dial("tcp", s.GRPCAddr, cfg)
		if err == nil {
			closeOrFail(t, conn)
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
	t.Run("require refuses clients without a CA-signed certificate", func(t *testing.T) {
		s := NewService(t, map[string]string{"MGV_GRPC_CLIENT_AUTH": "require"})
		s.Start()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		plain := dialGRPC(t, s.GRPCAddr, s.TLSConfig(false))
		if _, err := GRPCHealth(ctx, plain); err == nil {
			t.Fatal("a client without a certificate was served")
		}
		mtls := dialGRPC(t, s.GRPCAddr, s.TLSConfig(true))
		if st, err := GRPCHealth(ctx, mtls); err != nil || st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("a CA-signed client was refused: %v %v", st, err)
		}
	})
	t.Run("reflection only where configured", func(t *testing.T) {
		for _, on := range []bool{true, false} {
			s := NewService(t, map[string]string{"MGV_GRPC_REFLECTION": strconv.FormatBool(on)})
			s.Start()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			stream, err := reflectionpb.NewServerReflectionClient(s.GRPC()).ServerReflectionInfo(ctx)
			if err == nil {
				err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			}
			if err == nil {
				_, err = stream.Recv()
			}
			cancel()
			if on && err != nil {
				t.Errorf("reflection on: %v", err)
			}
			if !on && err == nil {
				t.Error("reflection answered although grpc.reflection = false")
			}
		}
	})
}

func dialGRPC(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeOrFail(t, conn) })
	return conn
}

func assertServing(t *testing.T, s *Service) {
	t.Helper()
	getJSON(t, s.URL("/healthz"), http.StatusOK)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := GRPCHealth(ctx, s.GRPC()); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health = %v, %v", st, err)
	}
}

func healthzPID(t *testing.T, s *Service) int {
	t.Helper()
	body := getJSON(t, s.URL("/healthz"), http.StatusOK)
	return int(body["data"].(map[string]any)["pid"].(float64))
}

func getJSON(t *testing.T, url string, want int) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d %v, want %d", url, resp.StatusCode, body, want)
	}
	if body["request_id"] == "" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET %s: no request id in %v", url, body)
	}
	return body
}

func waitLog(t *testing.T, s *Service, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.Stderr.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within %s:\n%s", text, timeout, s.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// editFile replaces the first old with new in the file at path.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func runWithTimeout(cmd *exec.Cmd, timeout time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		// %v, not %w: the killed process's exit is not the refusal awaited.
		return fmt.Errorf("timed out: the process did not refuse to start (%v)", <-done)
	}
}

// A second mgvcore started with the pid file of one that runs (the same
// configuration: the same data directory, whose embedded stores the first
// holds) refuses to start, naming it, rather than take the pid file over
// and leave the first running with nothing naming it.
func TestASecondInstanceOnTheSamePIDFileRefusesToStart(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	first := s.PID()
	out, err := startBeside(t, s)
	if err == nil || !strings.Contains(out, fmt.Sprintf("names pid %d, another mgvcore that still runs", first)) {
		t.Fatalf("the second instance ended with %v:\n%s", err, out)
	}
	if s.PID() != first || getStatus(t, s.URL("/readyz")) != http.StatusOK {
		t.Fatalf("the first instance: pid file names %d (want %d), or it is not ready", s.PID(), first)
	}
}

// A second mgvcore configured onto the embedded stores of one that runs,
// with a pid file of its own, refuses to start, naming the store and the
// process that holds it: before, it started, and the first one's searches
// timed out on the index the second had taken. An upgrade of the first
// keeps the stores held; once it stops, the second starts.
func TestASecondInstanceOnTheSameEmbeddedStoresRefusesToStart(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	own := []string{"MGV_PROCESS_PID_FILE=" + filepath.Join(t.TempDir(), "other.pid")}
	refused := func(holder int) {
		t.Helper()
		out, err := startBeside(t, s, own...)
		want := fmt.Sprintf("database.dsn %s is in use by another mgvcore: lock %s.lock: held by another process (pid %d)",
			s.Env["MGV_DATABASE_DSN"], s.Env["MGV_DATABASE_DSN"], holder)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("the second instance ended with %v:\n%s\nwant an error saying %q", err, out, want)
		}
		if getStatus(t, s.URL("/readyz")) != http.StatusOK {
			t.Fatal("the first instance is not ready after the second was refused")
		}
	}
	first := s.PID()
	refused(first)
	next := upgradeTakesOver(t, s, first, 15*time.Second)
	refused(next)
	s.Signal(syscall.SIGTERM)
	if !WaitGone(next, 15*time.Second) {
		t.Fatalf("pid %d did not stop", next)
	}
	c := exec.Command(binary, "--config", s.ConfigPath, "serve")
	c.Dir = s.Dir
	c.Env = append(s.Command().Env, own...)
	c.Stdout, c.Stderr = &syncBuffer{}, &syncBuffer{}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.URL("/readyz")); err == nil {
			closeBody(t, resp)
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second instance is not ready 15 s after the first stopped:\n%s", c.Stderr)
		}
	}
}

// startBeside runs a second `mgvcore serve` with s's configuration and
// env (plus env), on ports of its own, and returns its output once it
// exits; it fails the test if it still runs 15 s later.
func startBeside(t *testing.T, s *Service, env ...string) (string, error) {
	t.Helper()
	c := exec.Command(binary, "--config", s.ConfigPath, "serve")
	c.Dir = s.Dir
	c.Env = append(append(s.Command().Env, "MGV_HTTP_ADDR=127.0.0.1:0", "MGV_GRPC_ADDR=127.0.0.1:0", "MGV_ADMIN_ADDR=127.0.0.1:0"), env...)
	done := make(chan error, 1)
	var out syncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(15 * time.Second):
		_ = c.Process.Kill()
		t.Fatalf("the second instance still runs 15 s later (killed: %v):\n%s", <-done, out.String())
		return "", nil
	}
}

// An upgrade whose configuration names the same SQLite file by another
// spelling (relative, then absolute) takes its parent's lock over: the
// lock is known by the store's resolved path. Before, the new process was
// refused by its own parent's lock.
func TestAnUpgradeOntoTheStoreSpelledAnotherWayKeepsTheLock(t *testing.T) {
	s := NewService(t, nil)
	for _, k := range []string{"MGV_DATABASE_DRIVER", "MGV_DATABASE_DSN", "MGV_SEARCH_ENGINE", "MGV_SEARCH_PATH"} {
		delete(s.Env, k)
	}
	base, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(dsn string) {
		c := strings.Replace(string(base), `driver = "mysql"`, `driver = "sqlite"`, 1)
		c = strings.Replace(c, `dsn = "mgv:mgv@tcp(127.0.0.1:3306)/mgvcore_test?charset=utf8mb4&parseTime=true&loc=UTC"`, `dsn = "`+dsn+`"`, 1)
		c = strings.Replace(c, `engine = "elasticsearch"`, `engine = "embedded"`+"\npath = \"data/search\"", 1)
		if err := os.WriteFile(s.ConfigPath, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("data/mgvcore.db")
	s.Start()
	first := s.PID()
	if _, err := os.Stat(filepath.Join(s.Dir, "data", "mgvcore.db.lock")); err != nil {
		t.Fatalf("no lock file: %v", err)
	}
	write(filepath.Join(s.Dir, "data", "mgvcore.db")) // the same file, absolute
	s.Signal(syscall.SIGUSR2)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if pid := s.PID(); pid != first && pid != 0 && Alive(pid) {
			return // upgraded
		}
		if strings.Contains(s.Stderr.String(), "is in use by another mgvcore") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the upgrade to a config naming the same store by its absolute path did not take over; stderr:\n%s", lastBytes(s.Stderr.String(), 3000))
}

// A second service on the same index, named through a symbolic link, with
// a database of its own, is refused as one naming it directly is.
func TestASecondServiceOnTheSameIndexThroughASymlinkRefusesToStart(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	alias := filepath.Join(s.Dir, "alias")
	if err := os.Symlink(s.Env["MGV_SEARCH_PATH"], alias); err != nil {
		t.Fatal(err)
	}
	out, err := startBeside(t, s,
		"MGV_PROCESS_PID_FILE="+filepath.Join(t.TempDir(), "other.pid"),
		"MGV_DATABASE_DSN="+filepath.Join(t.TempDir(), "other.db"),
		"MGV_SEARCH_PATH="+alias)
	if err == nil || !strings.Contains(out, "search.path") || !strings.Contains(out, "in use by another mgvcore") {
		t.Fatalf("the second service on the index through a symlink: %v\n%s", err, lastBytes(out, 2000))
	}
}

// lastBytes is the last n bytes of s, for a long log in a message.
func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestAStopDuringAnUpgradeIsNoFailedUpgrade: SIGTERM while the new process
// is still starting (held by a banner that is a FIFO nobody writes) ends
// the upgrade with the stop; that is logged as an abandoned upgrade, not as
// a failed one at error level (which alerts), and this process stops.
func TestAStopDuringAnUpgradeIsNoFailedUpgrade(t *testing.T) {
	// Console logs, so that a new process reads the banner.
	s := NewService(t, map[string]string{"MGV_LOG_FORMAT": "console"})
	ownBanner(t, s)
	s.Start()
	pid := s.PID()
	holdNewProcesses(t, s)
	s.Signal(syscall.SIGUSR2)
	waitLog(t, s, "upgrade requested: starting a new process", 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	s.Signal(syscall.SIGTERM)
	if !WaitGone(pid, 20*time.Second) {
		t.Fatalf("process %d still runs after SIGTERM", pid)
	}
	waitLog(t, s, "upgrade abandoned: this process is stopping", 5*time.Second)
	if strings.Contains(s.Stderr.String(), "upgrade failed") {
		t.Fatalf("a stop during an upgrade was logged as a failed upgrade:\n%s", s.Stderr.String())
	}
}
