//go:build e2e

package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// strongSecret passes every check pro makes of auth.jwt_secret.
const strongSecret = "q3T9vXk2LmP8wZr4YbN6cH1sJd7Fg0Ue5Ai"

// proEnv is a pro start that is safe but for what extra changes; the
// file's jwt_secret and DSN password must be removed as well (removeSecretsFromFile).
func proEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"MGV_APP_ENV": "pro", "MGV_SSL_GENERATE": "false", "MGV_DATABASE_AUTO_MIGRATE": "false",
		"MGV_AUTH_JWT_SECRET": strongSecret, "MGV_GRPC_REFLECTION": "false", "MGV_ADMIN_PPROF": "false",
		"MGV_WEBHOOKS_ALLOW_LOOPBACK": "false",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func removeSecretsFromFile(t *testing.T, s *Service) {
	t.Helper()
	editFile(t, s.ConfigPath, `jwt_secret = "`+testJWTSecret+`"`, "")
	// The test file's MySQL DSN has a password; the service's DSN comes
	// from the environment.
	editFile(t, s.ConfigPath, "\ndsn = \"mgv:mgv@", "\n# dsn = \"mgv:mgv@")
}

// anonPing sends one anonymous API call with the headers given and
// returns its status.
func anonPing(t *testing.T, s *Service, c *http.Client, headers map[string]string) int {
	req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/ping"), nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	closeBody(t, resp)
	return resp.StatusCode
}

func anonEnv(extra map[string]string) map[string]string {
	env := map[string]string{"MGV_RATELIMIT_ENABLED": "true", "MGV_RATELIMIT_ANON_RPS": "20", "MGV_RATELIMIT_ANON_BURST": "20"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// R8: 500 anonymous calls, each with its own forged X-Forwarded-For, from
// one untrusted peer are limited as one client, and the log records the
// peer, never a forged address.
func TestForgedForwardedForIsNotBelieved(t *testing.T) {
	s := NewService(t, anonEnv(nil))
	s.Start()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	var limited, ok atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > 500 {
					return
				}
				forged := fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)
				h := map[string]string{"X-Forwarded-For": forged}
				if i%2 == 0 {
					h = map[string]string{"X-Real-IP": forged}
				}
				switch anonPing(t, s, c, h) {
				case http.StatusTooManyRequests:
					limited.Add(1)
				case http.StatusOK:
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("500 calls with 500 forged addresses: %d admitted, %d limited", ok.Load(), limited.Load())
	if limited.Load() < 400 {
		t.Errorf("only %d of 500 limited: the forged addresses escaped the limit", limited.Load())
	}
	if keys := metric(t, s, "mgv_ratelimit_keys"); keys != 1 {
		t.Errorf("%g rate-limit keys, want 1 (the peer)", keys)
	}
	logs := s.Stdout.String() + s.Stderr.String()
	if strings.Contains(logs, "198.51.") {
		t.Error("a forged address reached the log")
	}
	if !strings.Contains(logs, `"client_ip":"127.0.0.1"`) {
		t.Error("the access log does not record the peer 127.0.0.1")
	}
}

// Behind a trusted proxy, its X-Forwarded-For (right-most address not
// itself trusted) and X-Real-IP are the client address, for the limit and
// the log.
func TestTrustedProxyForwardedForIsBelieved(t *testing.T) {
	s := NewService(t, anonEnv(map[string]string{"MGV_HTTP_TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8"}))
	s.Start()
	c := &http.Client{}
	for i := range 60 {
		h := map[string]string{"X-Forwarded-For": fmt.Sprintf("6.6.6.6, 198.51.100.%d, 10.1.2.3", i+1)}
		if i%3 == 0 {
			h = map[string]string{"X-Real-IP": fmt.Sprintf("198.51.100.%d", i+1)}
		}
		if code := anonPing(t, s, c, h); code != http.StatusOK {
			t.Fatalf("call %d from its own client: %d", i, code)
		}
	}
	if keys := metric(t, s, "mgv_ratelimit_keys"); keys != 60 {
		t.Errorf("%g rate-limit keys, want one per forwarded client (60)", keys)
	}
	// The access log is written after the answer: wait for the last line.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) &&
		!strings.Contains(s.Stdout.String()+s.Stderr.String(), `"client_ip":"198.51.100.60"`); {
		time.Sleep(20 * time.Millisecond)
	}
	logs := s.Stdout.String() + s.Stderr.String()
	for _, want := range []string{`"client_ip":"198.51.100.1"`, `"client_ip":"198.51.100.2"`, `"client_ip":"198.51.100.60"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(logs, "6.6.6.6") || strings.Contains(logs, `"client_ip":"10.1.2.3"`) {
		t.Error("an address left of the client, or the trusted hop, was taken as the client")
	}
	// One client through the proxy is still limited as one: of 100 calls
	// at once, at most the 20 allowed to wait and a few paced go through.
	var limited atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if anonPing(t, s, c, map[string]string{"X-Forwarded-For": "198.51.100.200"}) == http.StatusTooManyRequests {
				limited.Add(1)
			}
		})
	}
	wg.Wait()
	if limited.Load() < 50 {
		t.Errorf("only %d of 100 calls at once of one forwarded client were limited", limited.Load())
	}
}

// An IPv6 client is limited as its /64 network: a host given a whole /64,
// as hosts commonly are, would otherwise take a fresh anonymous budget, and
// a fresh sign-in address budget, with each of its 2⁶⁴ addresses. Here 100
// calls at once, each from its own address of one /64, behind a trusted
// proxy, are limited as one client; another /64 is another client.
func TestIPv6ClientIsItsNetwork(t *testing.T) {
	env := anonEnv(map[string]string{"MGV_HTTP_TRUSTED_PROXIES": "127.0.0.1/32"})
	s := NewService(t, env)
	s.Start()
	c := &http.Client{}
	var limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			h := map[string]string{"X-Forwarded-For": fmt.Sprintf("2001:db8:1:2:%x::%x", i, i+1)}
			if anonPing(t, s, c, h) == http.StatusTooManyRequests {
				limited.Add(1)
			}
		})
	}
	wg.Wait()
	if limited.Load() < 50 {
		t.Errorf("only %d of 100 calls at once from one /64 were limited", limited.Load())
	}
	if code := anonPing(t, s, c, map[string]string{"X-Forwarded-For": "2001:db8:1:3::1"}); code != http.StatusOK {
		t.Errorf("a call from another /64: %d", code)
	}
	// One key per /64 (an idle key may have been evicted already).
	if keys := metric(t, s, "mgv_ratelimit_keys"); keys > 2 {
		t.Errorf("%g rate-limit keys, want one per /64 (at most 2)", keys)
	}
}

func heapInUse(t *testing.T, s *Service) float64 {
	return metric(t, s, "go_memstats_heap_inuse_bytes")
}

// 300 calls with a distinct header of almost 1 MB each, through a trusted
// proxy (the hardest case: the header is read), keep no memory: the heap
// comes back down, the keys are the forwarded addresses, the log holds
// none of the header.
func TestHugeForwardedHeaderIsNotKept(t *testing.T) {
	s := NewService(t, anonEnv(map[string]string{"MGV_HTTP_TRUSTED_PROXIES": "127.0.0.1"}))
	s.Start()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	before := heapInUse(t, s)
	junk := strings.Repeat("x", 1<<20-8192)
	var peak atomic.Int64
	var afterFirst float64
	for round := range 2 {
		hugeRound(t, s, c, junk, &peak)
		if round == 0 {
			afterFirst = heapInUse(t, s)
		}
	}
	after := heapInUse(t, s)
	keys := metric(t, s, "mgv_ratelimit_keys")
	t.Logf("heap in use %.1f MB before, %.1f MB after 300 headers of 1 MB, %.1f MB after 300 more; peak RSS %d MB; %g keys",
		before/1e6, afterFirst/1e6, after/1e6, peak.Load()>>10, keys)
	// Kept, the headers would hold 600 MB after both rounds (235 MB were
	// held after 300 before); what stays is garbage not yet collected
	// (gc_percent 200).
	if after-before > 96e6 {
		t.Errorf("heap grew by %.1f MB, then %.1f MB more", (afterFirst-before)/1e6, (after-afterFirst)/1e6)
	}
	if peak.Load() > 300<<10 {
		t.Errorf("RSS peaked at %d MB", peak.Load()>>10)
	}
	if keys > 201 {
		t.Errorf("%g keys, want at most the 200 forwarded addresses and the proxy", keys)
	}
	if strings.Contains(s.Stdout.String()+s.Stderr.String(), "xxxxxxxx") {
		t.Error("the header reached the log")
	}
}

func hugeRound(t *testing.T, s *Service, c *http.Client, junk string, peak *atomic.Int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > 300 {
					return
				}
				// Junk left of the client: the proxy appended the real one.
				h := map[string]string{"X-Forwarded-For": junk + strconv.Itoa(int(i)) + ", 203.0.113." + strconv.Itoa(int(i%200)+1)}
				if i%3 == 0 {
					h = map[string]string{"X-Real-IP": junk + strconv.Itoa(int(i))}
				}
				anonPing(t, s, c, h)
				if i%50 == 0 {
					if rss := rssKiB(s.PID()); rss > peak.Load() {
						peak.Store(rss)
					}
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(time.Second)
	for range 20 { // ordinary traffic lets the collector run
		anonPing(t, s, c, nil)
	}
}

func rssKiB(pid int) int64 { return rss(pid) / 1024 }

// pro refuses to start, and `config check` refuses the config, with each
// unsafe setting named on the one line it prints.
func TestProRefusesUnsafeSettings(t *testing.T) {
	cases := []struct {
		name       string
		env        map[string]string
		keepInFile bool
		want       []string
	}{
		{"development secret", map[string]string{"MGV_AUTH_JWT_SECRET": testJWTSecret}, false, []string{"auth.jwt_secret: is the development secret"}},
		{"short secret", map[string]string{"MGV_AUTH_JWT_SECRET": "s3cr3t-but-short"}, false, []string{"auth.jwt_secret: must be at least 32 bytes"}},
		{"32 times a", map[string]string{"MGV_AUTH_JWT_SECRET": strings.Repeat("a", 32)}, false, []string{"auth.jwt_secret: has only 1 distinct characters"}},
		{"secret in the file", nil, true, []string{"auth.jwt_secret: is written in the config file"}},
		{"reflection", map[string]string{"MGV_GRPC_REFLECTION": "true"}, false, []string{"grpc.reflection: must be false in pro"}},
		{"pprof", map[string]string{"MGV_ADMIN_PPROF": "true", "MGV_ADMIN_ADDR": "127.0.0.1:0"}, false, []string{"admin.pprof: must be false in pro"}},
		{"all at once", map[string]string{"MGV_AUTH_JWT_SECRET": strings.Repeat("a", 32), "MGV_GRPC_REFLECTION": "true", "MGV_ADMIN_PPROF": "true", "MGV_ADMIN_ADDR": "127.0.0.1:0"}, true,
			[]string{"auth.jwt_secret: is written", "auth.jwt_secret: has only 1", "database.dsn: has a password written in the config file", "grpc.reflection", "admin.pprof"}},
		{"dsn password in the file", map[string]string{"MGV_DATABASE_DSN": "mgv:" + fixturePassword + "@tcp(127.0.0.1:3306)/mgvcore_x"}, false,
			[]string{"database.dsn: has a password written in the config file; pro takes credentials only from the environment (MGV_DATABASE_DSN)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewService(t, proEnv(tc.env))
			if !tc.keepInFile {
				removeSecretsFromFile(t, s)
			}
			if strings.HasPrefix(tc.name, "dsn password") {
				// Only the DSN's password is in the file, the
				// environment's DSN notwithstanding.
				editFile(t, s.ConfigPath, "\n# dsn = \"mgv:mgv@", "\ndsn = \"mgv:mgv@")
			}
			for _, args := range [][]string{{"config", "check"}, {"serve"}} {
				cmd := s.Command(args...)
				var stderr syncBuffer
				cmd.Stdout, cmd.Stderr = &stderr, &stderr
				err := runWithTimeout(cmd, 20*time.Second)
				var exit *exec.ExitError
				if !asExit(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("%v: want a non-zero exit, got %v\n%s", args, err, stderr.String())
				}
				out := strings.TrimSpace(stderr.String())
				if strings.Count(out, "\n") != 0 {
					t.Errorf("%v: more than one line:\n%s", args, out)
				}
				for _, w := range append([]string{"pro refuses unsafe settings"}, tc.want...) {
					if !strings.Contains(out, w) {
						t.Errorf("%v: %q lacks %q", args, out, w)
					}
				}
				if strings.Contains(out, strongSecret) || strings.Contains(out, testJWTSecret) || strings.Contains(out, strings.Repeat("a", 32)) ||
					strings.Contains(out, "mgv:mgv@") || strings.Contains(out, fixturePassword) {
					t.Errorf("%v: the secret itself was printed", args)
				}
			}
		})
	}
	// The same pro settings, made safe, pass the check.
	s := NewService(t, proEnv(nil))
	removeSecretsFromFile(t, s)
	if out, err := s.Command("config", "check").CombinedOutput(); err != nil {
		t.Fatalf("a safe pro config: %v\n%s", err, out)
	}
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// A fresh embedded start creates its database, index, pid directory and
// development certificates private to the user (0600 files, 0700
// directories); a restart tightens files made readable since, and says so
// for a key.
func TestFreshStartCreatesPrivateFiles(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	// The first write creates the WAL files too.
	if code := anonPing(t, s, &http.Client{}, nil); code != http.StatusOK {
		t.Fatalf("ping: %d", code)
	}
	check := func() {
		t.Helper()
		for _, top := range []string{"data", "run", "ssl"} {
			n := 0
			err := filepath.WalkDir(filepath.Join(s.Dir, top), func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				fi, err := d.Info()
				if err != nil {
					return nil // a file removed while walking (WAL checkpoint)
				}
				want := fs.FileMode(0o600)
				if d.IsDir() {
					want = 0o700
				}
				if fi.Mode().Perm() != want {
					t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
				}
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n < 2 {
				t.Errorf("%s: only %d entries", top, n)
			}
		}
		for _, f := range []string{"data/mgvcore.db", "data/search/index_meta.json", "ssl/server.key", "ssl/ca.key", "run/mgvcore.pid"} {
			if _, err := os.Stat(filepath.Join(s.Dir, f)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	check()

	s.Kill()
	for _, f := range []string{"data/mgvcore.db", "data/search/index_meta.json", "ssl/server.key", "ssl/client.key"} {
		if err := os.Chmod(filepath.Join(s.Dir, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.Start()
	check()
	// Logs reach stderr in batches, within the flush interval.
	waitLog(t, s, "private key was readable by other users; made it 0600", 5*time.Second)
}

// The development configuration listens on every interface, so it must not
// sign tokens with a secret the repository publishes: on first start it
// creates data/jwt_secret (0600) with a random secret, keeps it across
// restarts, and refuses an admin token forged with the repository's
// development secret.
func TestDevStartSignsWithItsOwnSecret(t *testing.T) {
	s := NewService(t, nil)
	dev, err := os.ReadFile(filepath.Join(root, "config", "config_dev.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.ConfigPath, dev, 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFixture(t, s)
	s.Start()
	secretFile := filepath.Join(s.Dir, "data", "jwt_secret")
	fi, err := os.Stat(secretFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data/jwt_secret after the first start: %v %v", fi, err)
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil || strings.Contains(string(secret), testJWTSecret) {
		t.Fatalf("data/jwt_secret holds the repository's secret (%v)", err)
	}
	waitLog(t, s, "created a random secret to sign tokens with", 5*time.Second)

	forged := f.Token(t, f.Admin) // signed with the repository's development secret
	authCall(t, s, http.MethodGet, "/api/v1/me", forged, nil).want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	pair := authLogin(t, s, *f.Admin.Email, f.Password)
	if authMeID(t, s, pair.AccessToken) != f.Admin.ID {
		t.Fatal("a signed-in admin's token is not theirs")
	}

	s.Kill()
	s.Start()
	if authMeID(t, s, pair.AccessToken) != f.Admin.ID {
		t.Fatal("a token signed before a restart is refused after it")
	}
	if again, err := os.ReadFile(secretFile); err != nil || string(again) != string(secret) {
		t.Fatalf("the restart changed the secret (%v)", err)
	}
}

// TestSeedRefusesAProConfig: the demo tenant (its admin's password typed on
// the command line, its app's secret printed) is not loaded into a pro
// database unless the operator says so.
func TestSeedRefusesAProConfig(t *testing.T) {
	s := NewService(t, proEnv(nil))
	removeSecretsFromFile(t, s)
	out, err := s.Command("seed", "--password", "demo-pass-123").CombinedOutput()
	var exit *exec.ExitError
	if !asExit(err, &exit) || !strings.Contains(string(out), "the config is pro") || !strings.Contains(string(out), "--into-production") {
		t.Fatalf("seed with a pro config: %v\n%s", err, out)
	}
	if out, err := s.Command("migrate", "up").CombinedOutput(); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	out, err = s.Command("seed", "--password", "demo-pass-123", "--into-production").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "admin@demo.mgv") {
		t.Fatalf("seed --into-production: %v\n%s", err, out)
	}
}
