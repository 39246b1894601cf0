//go:build e2e

// Package e2e starts the real mgvcore binary and talks to it over the
// network, as operations and clients do. Run with `make e2e` (part of
// `make test`), which also starts the real dependencies.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/megaview/mgvcore/internal/cert"
)

// binary is the mgvcore executable built once for the package.
var binary string

// root is the repository root, where config/ lives.
var root string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv(r8AttackEnv) != "" {
		// The hostile clients of TestR8HostileLoad need no binary.
		return m.Run()
	}
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	root = filepath.Clean(filepath.Join(wd, "..", ".."))
	dir, err := os.MkdirTemp("", "mgvcore-e2e-bin")
	if err != nil {
		panic(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "removing %s: %v\n", dir, err)
		}
	}()
	binary = filepath.Join(dir, "mgvcore")
	// The binary under test is the one the deploy kit ships: built by
	// `make release` (static, stripped, build info stamped in), so the
	// tests and the benchmarks see its memory and its resolver, not a
	// development build's.
	//
	// It is then installed by copying, as deploy/spug/deploy.sh installs
	// it: a start of the linker's own output file measured up to 4 MB more
	// resident memory (file-backed pages of the binary) than a start of a
	// copy of it, by an amount that varied between builds of one source,
	// where starts of a copy measured alike.
	linked := binary + ".linked"
	build := exec.Command("make", "--no-print-directory", "release", "RELEASE_BIN="+linked)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mgvcore: %v\n%s", err, out)
		return 1
	}
	if err := install(linked, binary); err != nil {
		fmt.Fprintf(os.Stderr, "installing mgvcore: %v\n", err)
		return 1
	}
	return m.Run()
}

// install copies the file from to to, executable, and removes from.
func install(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Remove(from)
}

// syncBuffer collects a process's output for assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Service is one mgvcore installation in a temporary directory: its config,
// certificates, pid file and embedded data.
type Service struct {
	t          *testing.T
	Dir        string
	ConfigPath string
	HTTPAddr   string
	GRPCAddr   string
	AdminAddr  string
	PIDFile    string
	Env        map[string]string
	Stdout     *syncBuffer
	Stderr     *syncBuffer
	// LogFile, when set before Start, receives the logs instead of Stderr
	// (for load tests that log too much to keep in memory).
	LogFile string
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// NewService prepares a service on free loopback ports from the test config
// with the embedded stores; env overrides any key (MGV_*).
func NewService(t *testing.T, env map[string]string) *Service {
	t.Helper()
	dir := t.TempDir()
	base, err := os.ReadFile(filepath.Join(root, "config", "config_test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 3)
	s := &Service{
		t:          t,
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "config.toml"),
		HTTPAddr:   addrs[0],
		GRPCAddr:   addrs[1],
		AdminAddr:  addrs[2],
		PIDFile:    filepath.Join(dir, "run", "mgvcore.pid"),
		Stdout:     &syncBuffer{},
		Stderr:     &syncBuffer{},
	}
	if err := os.WriteFile(s.ConfigPath, base, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Env = map[string]string{
		"MGV_APP_BANNER":       filepath.Join(root, "config", "banner.txt"),
		"MGV_HTTP_ADDR":        s.HTTPAddr,
		"MGV_GRPC_ADDR":        s.GRPCAddr,
		"MGV_ADMIN_ADDR":       s.AdminAddr,
		"MGV_PROCESS_PID_FILE": s.PIDFile,
		"MGV_SSL_DIR":          filepath.Join(dir, "ssl"),
		"MGV_SSL_GENERATE":     "true",
		"MGV_DATABASE_DRIVER":  "sqlite",
		"MGV_DATABASE_DSN":     filepath.Join(dir, "data", "mgvcore.db"),
		"MGV_SEARCH_ENGINE":    "embedded",
		"MGV_SEARCH_PATH":      filepath.Join(dir, "data", "search"),
		"MGV_TRACING_ENABLED":  "false",
		"MGV_CONSUL_ENABLED":   "false",
	}
	for k, v := range env {
		s.Env[k] = v
	}
	t.Cleanup(func() {
		s.Kill()
		s.assertNoSecretsLogged()
	})
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs finds n distinct free loopback ports, holding each open until
// all are found so the kernel cannot hand out one twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer closeOrFail(t, ln)
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// Command runs the binary with args in the service's environment: the
// test's own environment without its MGV_ variables (MGV_TEST_*,
// MGV_BENCH_*, MGV_CACHE_DIR are not settings, and the binary refuses
// them), then s.Env.
func (s *Service) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"--config", s.ConfigPath}, args...)...)
	cmd.Dir = s.Dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "MGV_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// Start launches `mgvcore serve` and waits until it is ready.
func (s *Service) Start() {
	s.t.Helper()
	s.cmd = s.Command("serve")
	s.cmd.Stdout, s.cmd.Stderr = s.Stdout, s.Stderr
	if s.LogFile != "" {
		f, err := os.Create(s.LogFile)
		if err != nil {
			s.t.Fatal(err)
		}
		// The child has its own descriptor of the log from Start on.
		defer closeOrFail(s.t, f)
		s.cmd.Stderr = f
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	// A restarted Service starts a new process: each waiter keeps its own.
	cmd, exited := s.cmd, make(chan struct{})
	s.exited = exited
	go func() {
		s.exitErr = cmd.Wait()
		close(exited)
	}()
	s.WaitReady(15 * time.Second)
}

// WaitReady polls /readyz until it answers 200.
func (s *Service) WaitReady(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.t.Fatalf("mgvcore exited before ready: %v\nstdout:\n%s\nstderr:\n%s", s.exitErr, s.Stdout, s.Stderr)
		default:
		}
		if resp, err := http.Get(s.URL("/readyz")); err == nil {
			closeBody(s.t, resp)
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("mgvcore not ready within %s\nstderr:\n%s", timeout, s.Stderr)
}

// URL is an address on the HTTP server.
func (s *Service) URL(path string) string { return "http://" + s.HTTPAddr + path }

// PID reads the pid file.
func (s *Service) PID() int {
	data, err := os.ReadFile(s.PIDFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// Signal sends sig to the process named by the pid file.
func (s *Service) Signal(sig syscall.Signal) int {
	s.t.Helper()
	pid := s.PID()
	if pid == 0 {
		s.t.Fatal("no pid in the pid file")
	}
	if err := syscall.Kill(pid, sig); err != nil {
		s.t.Fatalf("signal %s to %d: %v", sig, pid, err)
	}
	return pid
}

// secretPatterns match what must never reach a log line: bearer and refresh
// tokens (JWTs), the fixtures' password and app secrets.
var secretPatterns = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ|` + regexp.QuoteMeta(fixturePassword) + `|secret-[0-9a-f]{8}`)

// assertNoSecretsLogged fails the test when the service logged a token,
// password or secret (QUALITY R6).
func (s *Service) assertNoSecretsLogged() {
	if m := secretPatterns.FindString(s.Stderr.String()); m != "" {
		s.t.Errorf("the service logged a secret (%.12s…)", m)
	}
}

// Kill ends every process of the service still running.
func (s *Service) Kill() {
	if pid := s.PID(); pid > 0 && Alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	// An upgrade that a test left half done (a deploy script's rollback,
	// say) may have a process the pid file no longer names: every process
	// running from this service's directory goes too.
	for _, pid := range processesUnder(s.Dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// processesUnder lists the processes whose command line names dir.
func processesUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(cmdline, []byte(dir+"/")) {
			out = append(out, pid)
		}
	}
	return out
}

// Alive reports whether pid runs (a zombie counts as gone).
func Alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	fields, err := procStat(pid)
	return err == nil && len(fields) > 0 && fields[0] != "Z"
}

// procStat is /proc/<pid>/stat split after the parenthesised command name
// (which may hold spaces): the state is fields[0], utime and stime are
// fields[11] and fields[12].
func procStat(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:])), nil
}

// WaitGone waits until pid has exited.
func WaitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TLSConfig trusts the service's development CA.
func (s *Service) TLSConfig(withClientCert bool) *tls.Config {
	s.t.Helper()
	cfg, err := cert.ClientTLS(s.Env["MGV_SSL_DIR"], "localhost", withClientCert)
	if err != nil {
		s.t.Fatal(err)
	}
	return cfg
}

// GRPC dials the gRPC server over TLS with the development CA.
func (s *Service) GRPC() *grpc.ClientConn {
	s.t.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(s.TLSConfig(false))))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { closeOrFail(s.t, conn) })
	return conn
}

// closeBody closes a response body; an error closing it fails the test.
func closeBody(t testing.TB, resp *http.Response) {
	t.Helper()
	closeOrFail(t, resp.Body)
}

// closeOrFail closes c; an error closing it fails the test.
func closeOrFail(t testing.TB, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// GRPCHealth asks grpc.health.v1 for the overall status.
func GRPCHealth(ctx context.Context, conn *grpc.ClientConn) (healthpb.HealthCheckResponse_ServingStatus, error) {
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, err
	}
	return res.Status, nil
}
