//go:build e2e

package e2e

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A holder of a revoked token is rate limited as its address, on the real
// binary: before, auth refused it ahead of the rate limit, 5,000 searches
// in half a second were answered 401 without one 429, and each was an
// audit record.
func TestARevokedTokensCallsAreRateLimited(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_RATELIMIT_ANON_RPS": "2", "MGV_RATELIMIT_ANON_BURST": "2"})
	f := NewFixture(t, s)
	s.Start()
	token := f.Token(t, f.Reps[0])
	authCall(t, s, http.MethodPost, "/api/v1/auth/logout", token, nil).want(t, http.StatusOK, "")
	var statuses sync.Map
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for next.Add(1) <= 400 {
				req, _ := http.NewRequest(http.MethodPost, s.URL("/api/v1/search"), strings.NewReader(`{"query":"x"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = resp.Body.Close()
				n, _ := statuses.LoadOrStore(resp.StatusCode, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	wg.Wait()
	count := func(status int) int64 {
		if n, ok := statuses.Load(status); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	refused, limited := count(http.StatusUnauthorized), count(http.StatusTooManyRequests)
	if limited < 300 || refused+limited != 400 {
		t.Fatalf("400 searches with a revoked token: %d refused (401), %d limited (429); want most limited", refused, limited)
	}
	time.Sleep(time.Second) // the audit queue's flush
	var records int64
	if err := f.DB.Table("audit_logs").Where("tenant_id = ? AND result = ?", f.Tenant.ID, "TOKEN_REVOKED").Count(&records).Error; err != nil {
		t.Fatal(err)
	}
	if records != refused {
		t.Fatalf("%d audit records of the revoked token's calls, want one per 401 (%d): none for the 429s", records, refused)
	}
}
