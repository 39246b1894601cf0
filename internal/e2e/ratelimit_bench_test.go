//go:build e2e && bench

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// paceRequests sends GET url with token at rate per second for d and
// returns each answer's status and latency.
func paceRequests(url, token string, rate int, d time.Duration) (statuses []int, latencies []time.Duration) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	end := time.Now().Add(d)
	for next := time.Now(); next.Before(end); next = next.Add(interval) {
		time.Sleep(time.Until(next))
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			status := 0
			if err == nil {
				status = resp.StatusCode
				// The status and the latency are what the load records;
				// the body is empty or an error the status already names.
				_ = resp.Body.Close()
			}
			mu.Lock()
			statuses = append(statuses, status)
			latencies = append(latencies, took)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return statuses, latencies
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*99/100]
}

// TestBenchP9TenantIsolation: tenant A limited to 100 req/s is offered 500
// req/s while tenant B runs at 50 req/s, through the real binary.
func TestBenchP9TenantIsolation(t *testing.T) {
	s := NewService(t, nil)
	s.LogFile = s.Dir + "/mgvcore.log"
	editFile(t, s.ConfigPath, "[ratelimit.tiers.standard]", "[ratelimit.tiers.p9]\nrps = 100\nburst = 10\n\n[ratelimit.tiers.standard]")
	a, b := NewFixture(t, s), NewFixture(t, s)
	if err := a.DB.Model(&a.Tenant).Update("rate_tier", "p9").Error; err != nil {
		t.Fatal(err)
	}
	a.Tenant.RateTier = "p9"
	s.Start()
	url := s.URL("/api/v1/ping")
	tokA, tokB := a.Token(t, a.Admin), b.Token(t, b.Admin)
	const d = 10 * time.Second

	_, alone := paceRequests(url, tokB, 50, d)
	var aStatus []int
	var aLat []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		aStatus, aLat = paceRequests(url, tokA, 500, d)
	}()
	bStatus, loaded := paceRequests(url, tokB, 50, d)
	wg.Wait()

	var admitted int
	var rejected []time.Duration
	for i, st := range aStatus {
		switch st {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			rejected = append(rejected, aLat[i])
		default:
			t.Fatalf("tenant A got status %d", st)
		}
	}
	for _, st := range bStatus {
		if st != http.StatusOK {
			t.Fatalf("tenant B got status %d", st)
		}
	}
	rate := float64(admitted) / d.Seconds()
	rejP99, aloneP99, loadedP99 := p99(rejected), p99(alone), p99(loaded)
	ratio := float64(loadedP99) / float64(aloneP99)
	pass := rate >= 95 && rate <= 105 && rejP99 < 5*time.Millisecond && ratio <= 1.2
	record(t, Row{
		ID:     "P9",
		What:   "tenant A (100 req/s tier) offered 500 req/s while tenant B runs 50 req/s, real binary over HTTP (10 s each; B alone first)",
		Target: "A admitted 100/s ±5 %; rejections < 5 ms; B p99 within 20 % of unloaded",
		Measured: fmt.Sprintf("A admitted %.1f/s; rejection p99 %s; B p99 %s loaded vs %s alone",
			rate, rejP99.Round(10*time.Microsecond), loadedP99.Round(10*time.Microsecond), aloneP99.Round(10*time.Microsecond)),
		Baseline: fmt.Sprintf("B alone p99 %s", aloneP99.Round(10*time.Microsecond)),
		Result:   fmt.Sprintf("A %.1f/s, B p99 ×%.2f", rate, ratio),
		Pass:     pass,
		Command:  "make bench (TestBenchP9TenantIsolation)",
	})
}
