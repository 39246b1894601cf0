//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// database.slow_query is obeyed: with a threshold every statement passes,
// the binary logs its statements, with their placeholders and never their
// arguments (the account of a sign-in here).
func TestSlowQueryLog(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_DATABASE_SLOW_QUERY": "1ns"})
	s.Start()
	const account = "slow-query-probe@example.test"
	waitLog(t, s, `"message":"slow query"`, 10*time.Second)
	// The start's statements (migrations) take the first second's lines;
	// the sign-in's and the background work's come in the next ones, each
	// with its placeholders.
	time.Sleep(1100 * time.Millisecond)
	authCall(t, s, "POST", "/api/v1/auth/login", "", map[string]string{"account": account, "password": "wrong"})
	for deadline := time.Now().Add(10 * time.Second); !slowWithPlaceholder(s.Stderr.String()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no slow query line with a placeholder:\n%s", s.Stderr)
		}
	}
	time.Sleep(500 * time.Millisecond)
	logged := s.Stderr.String()
	if !strings.Contains(logged, `"component":"database"`) {
		t.Errorf("slow query lines lack their component:\n%s", logged)
	}
	if strings.Contains(logged, account) {
		t.Errorf("the slow query log quotes an argument (%s)", account)
	}

	// Off with "0s": the same calls log nothing.
	off := NewService(t, map[string]string{"MGV_DATABASE_SLOW_QUERY": "0s"})
	off.Start()
	authCall(t, off, "POST", "/api/v1/auth/login", "", map[string]string{"account": account, "password": "wrong"})
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(off.Stderr.String(), "slow query") {
		t.Errorf("slow_query 0s logged slow queries:\n%s", off.Stderr)
	}
}

func slowWithPlaceholder(logged string) bool {
	for _, line := range strings.Split(logged, "\n") {
		if strings.Contains(line, `"message":"slow query"`) && strings.Contains(line, "?") {
			return true
		}
	}
	return false
}
