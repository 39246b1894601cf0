//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fleetEnv runs an instance on env registering with Consul at consulAddr
// under name, with quick checks and the standard tier at rps with burst.
func fleetEnv(env map[string]string, consulAddr, name string, rps, burst int) map[string]string {
	out := map[string]string{
		"MGV_CONSUL_ENABLED":                 "true",
		"MGV_CONSUL_ADDR":                    consulAddr,
		"MGV_CONSUL_SERVICE_NAME":            name,
		"MGV_CONSUL_CHECK_INTERVAL":          "1s",
		"MGV_RATELIMIT_TIERS_STANDARD_RPS":   fmt.Sprint(rps),
		"MGV_RATELIMIT_TIERS_STANDARD_BURST": fmt.Sprint(burst),
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// waitMetric waits until s reports name = want.
func waitMetric(t *testing.T, s *Service, name string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := metric(t, s, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %v, want %v", name, got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// R9, limits: two real instances on one MariaDB database, registered in
// the real Consul, share a tenant's tier. The tenant's calls, far more than
// its rate and spread over both, are admitted at the tier's rate across the
// fleet, not twice it; when one instance leaves, the other takes the whole
// tier again.
func TestR9TenantLimitAcrossTwoInstances(t *testing.T) {
	consul := requireEnv(t, "MGV_TEST_CONSUL_ADDR")
	const tier, burst = 40, 4
	name := fmt.Sprintf("mgvcore-r9-%d", time.Now().UnixNano())
	env := fleetEnv(mysqlEnv(t), consul, name, tier, burst)
	one := NewService(t, env)
	f := NewFixture(t, one)
	two := NewService(t, env)
	one.Start()
	two.Start()
	fleet := []*Service{one, two}
	for _, s := range fleet {
		waitMetric(t, s, "mgv_ratelimit_fleet_instances", 2, 30*time.Second)
		if v := metric(t, s, "mgv_ratelimit_fleet_share"); v != 0.5 {
			t.Errorf("mgv_ratelimit_fleet_share = %v with two instances, want 0.5", v)
		}
	}

	// Six callers per instance for the tenant, each calling again at once
	// when admitted and 50 ms after a 429: several times the tier.
	token := f.Token(t, f.Admin)
	const warmup, window = time.Second, 10 * time.Second
	var offered, admitted, refused, other [2]atomic.Int64
	began := time.Now()
	end := began.Add(warmup + window)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for i, s := range fleet {
		for range 6 {
			wg.Go(func() {
				for time.Now().Before(end) {
					req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/me"), nil)
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := client.Do(req)
					done := time.Now()
					counted := done.After(began.Add(warmup)) && done.Before(end)
					if err != nil {
						if counted {
							other[i].Add(1)
						}
						continue
					}
					closeBody(t, resp)
					if counted {
						offered[i].Add(1)
						switch resp.StatusCode {
						case http.StatusOK:
							admitted[i].Add(1)
						case http.StatusTooManyRequests:
							refused[i].Add(1)
						default:
							other[i].Add(1)
						}
					}
					if resp.StatusCode == http.StatusTooManyRequests {
						time.Sleep(50 * time.Millisecond)
					}
				}
			})
		}
	}
	wg.Wait()

	secs := window.Seconds()
	total := float64(admitted[0].Load()+admitted[1].Load()) / secs
	for i := range fleet {
		t.Logf("instance %d: offered %.1f/s, admitted %.1f/s, refused %.1f/s, other %d",
			i+1, float64(offered[i].Load())/secs, float64(admitted[i].Load())/secs, float64(refused[i].Load())/secs, other[i].Load())
	}
	t.Logf("R9 fleet of 2: tier %d/s, offered %.1f/s, admitted %.1f/s across the fleet (%+.1f %%)",
		tier, float64(offered[0].Load()+offered[1].Load())/secs, total, 100*(total-tier)/tier)
	if other[0].Load()+other[1].Load() > 0 {
		t.Errorf("%d answers neither 200 nor 429", other[0].Load()+other[1].Load())
	}
	if offered[0].Load()+offered[1].Load() < int64(3*tier*secs) {
		t.Errorf("only %.1f/s offered; the test needs several times the tier", float64(offered[0].Load()+offered[1].Load())/secs)
	}
	if total < 0.9*tier || total > 1.1*tier {
		t.Errorf("admitted %.1f/s across two instances, want the tier's %d/s ±10 %%", total, tier)
	}

	// One instance leaves (SIGTERM deregisters it): the other is told and
	// takes the whole tier.
	pid := two.Signal(syscall.SIGTERM)
	if !WaitGone(pid, 15*time.Second) {
		t.Fatalf("instance 2 (pid %d) still running after SIGTERM", pid)
	}
	waitMetric(t, one, "mgv_ratelimit_fleet_instances", 1, 15*time.Second)
	if v := metric(t, one, "mgv_ratelimit_fleet_unknown"); v != 0 {
		t.Errorf("mgv_ratelimit_fleet_unknown = %v with Consul answering, want 0", v)
	}
}

// Without an answering Consul each instance admits the whole tier, says so
// once in the log however often it retries, and reports it as a metric.
func TestFleetUnknownWithoutConsul(t *testing.T) {
	s := NewService(t, fleetEnv(nil, freeAddr(t), fmt.Sprintf("mgvcore-nofleet-%d", time.Now().UnixNano()), 40, 4))
	s.Start()
	waitLog(t, s, "cannot list the healthy instances", 10*time.Second)
	// Long enough for several retries (0.5 s, 1 s, 2 s ...).
	time.Sleep(4 * time.Second)
	if n := strings.Count(s.Stderr.String(), "cannot list the healthy instances"); n != 1 {
		t.Errorf("the fallback was logged %d times, want once", n)
	}
	if v := metric(t, s, "mgv_ratelimit_fleet_unknown"); v != 1 {
		t.Errorf("mgv_ratelimit_fleet_unknown = %v, want 1", v)
	}
	if v := metric(t, s, "mgv_ratelimit_fleet_instances"); v != 1 {
		t.Errorf("mgv_ratelimit_fleet_instances = %v, want 1", v)
	}

	off := NewService(t, nil)
	off.Start()
	waitLog(t, off, "consul off: rate limits are per instance", 5*time.Second)
	if v := metric(t, off, "mgv_ratelimit_fleet_unknown"); v != 1 {
		t.Errorf("consul off: mgv_ratelimit_fleet_unknown = %v, want 1", v)
	}
}
