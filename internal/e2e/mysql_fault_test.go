//go:build e2e

package e2e

import (
	"net/http"
	"testing"
	"time"
)

// goroutines reads go_goroutines from the service's /metrics.
func goroutines(t *testing.T, s *Service) int {
	t.Helper()
	n := metric(t, s, "go_goroutines")
	if n < 0 {
		t.Fatal("/metrics has no go_goroutines")
	}
	return int(n)
}

// TestR3MySQLStoppedThenStarted stops the real MariaDB under a serving
// process: requests fail fast with 503, the service recovers by itself once
// MariaDB is back, and its goroutine count returns to the baseline.
func TestR3MySQLStoppedThenStarted(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	token := f.Token(t, f.Admin)
	get := func() (int, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/conversations"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		closeBody(t, resp)
		return resp.StatusCode, time.Since(start)
	}
	for i := 0; i < 20; i++ {
		if code, _ := get(); code != http.StatusOK {
			t.Fatalf("warm-up request answered %d", code)
		}
	}
	time.Sleep(time.Second)
	baseline := goroutines(t, s)

	testenv(t, "stop", "mysql")
	restarted := false
	defer func() {
		if !restarted {
			testenv(t, "start", "mysql")
		}
	}()
	for i := 0; i < 30; i++ {
		code, took := get()
		if code != http.StatusServiceUnavailable {
			t.Fatalf("request %d with MySQL down answered %d, want 503", i, code)
		}
		if took > 2*time.Second {
			t.Fatalf("request %d with MySQL down took %s: not failing fast", i, took)
		}
	}

	testenv(t, "start", "mysql")
	restarted = true
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := get(); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the service did not recover within 60 s of MariaDB starting")
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitGoroutines(t, s, baseline)
}

// waitGoroutines waits until the service's goroutine count is back to the
// baseline measured before an outage (a small margin for timers in flight).
func waitGoroutines(t *testing.T, s *Service, baseline int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := goroutines(t, s)
		if n <= baseline+3 {
			t.Logf("goroutines: %d before the outage, %d after recovery", baseline, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before the outage, still %d 20 s after recovery", baseline, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
