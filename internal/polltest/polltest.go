// Package polltest waits, in tests, for a condition that other goroutines
// or processes bring about.
package polltest

import (
	"testing"
	"time"
)

// Until calls ok every interval until it reports true, and fails the test,
// naming what it waited for, once timeout has passed first.
func Until(t testing.TB, timeout, interval time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}
