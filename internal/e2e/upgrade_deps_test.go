//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An upgrade whose new process cannot reach a dependency the running one
// reaches (here a new config naming an Elasticsearch nobody listens on) is
// refused: the running process keeps serving, ready, rather than handing
// over to one that answers 503 to every search. Once the config is right
// again the next upgrade goes through.
func TestUpgradeRefusedWhileTheNewProcessCannotReachItsDependencies(t *testing.T) {
	env := esEnv(t, map[string]string{"MGV_PROCESS_UPGRADE_TIMEOUT": "6s"})
	good := env["MGV_SEARCH_URLS"]
	delete(env, "MGV_SEARCH_URLS")
	s := NewService(t, env)
	setSearchURL := func(u string) {
		t.Helper()
		data, err := os.ReadFile(s.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "urls = ") {
				line = `urls = ["` + u + `"]`
			}
			out = append(out, line)
		}
		if err := os.WriteFile(s.ConfigPath, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setSearchURL(good)
	s.Start()
	getJSON(t, s.URL("/readyz"), http.StatusOK)
	pid := s.PID()

	setSearchURL("http://" + freeAddr(t))
	s.Signal(syscall.SIGUSR2)
	waitLog(t, s, "upgrade failed; this process keeps serving", 15*time.Second)
	if !strings.Contains(s.Stderr.String(), "upgrade: elasticsearch does not answer this process") {
		t.Errorf("the refusal does not name the dependency:\n%s", s.Stderr)
	}
	if s.PID() != pid || !Alive(pid) {
		t.Fatalf("pid file changed or process died: %d → %d", pid, s.PID())
	}
	// Every answer comes from the running process, ready.
	for range 20 {
		if got := healthzPID(t, s); got != pid {
			t.Fatalf("/healthz answered from pid %d, want the running %d", got, pid)
		}
		getJSON(t, s.URL("/readyz"), http.StatusOK)
	}
	assertServing(t, s)

	setSearchURL(good)
	upgradeTakesOver(t, s, pid, 15*time.Second)
	getJSON(t, s.URL("/readyz"), http.StatusOK)
}
