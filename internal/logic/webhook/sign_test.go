package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSignMatchesAnIndependentHMAC(t *testing.T) {
	secret, body := []byte("whsec_test"), []byte(`{"id":7}`)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1700000000.{\"id\":7}"))
	want := "v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, 1700000000, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	now := time.Unix(1700000000, 0)
	if !Verify(secret, "1700000000", want, body, now.Add(time.Minute), 5*time.Minute) {
		t.Fatal("a fresh signature does not verify")
	}
	for name, ok := range map[string]bool{
		"stale":        Verify(secret, "1700000000", want, body, now.Add(6*time.Minute), 5*time.Minute),
		"future":       Verify(secret, "1700000000", want, body, now.Add(-6*time.Minute), 5*time.Minute),
		"other body":   Verify(secret, "1700000000", want, []byte(`{"id":8}`), now, 5*time.Minute),
		"other secret": Verify([]byte("x"), "1700000000", want, body, now, 5*time.Minute),
		"other time":   Verify(secret, "1700000001", want, body, now, 5*time.Minute),
		"bad time":     Verify(secret, "17e8", want, body, now, 5*time.Minute),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestBodyAndHeaders(t *testing.T) {
	ev := Event{ID: 42, Type: "transcript.ready", TenantID: 3, OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.FixedZone("x", 3600)),
		Data: []byte(`{"conversation_id":9}`)}
	body, err := Body(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != float64(42) || got["type"] != "transcript.ready" || got["tenant_id"] != float64(3) ||
		got["occurred_at"] != "2026-01-02T02:04:05.006Z" || got["data"].(map[string]any)["conversation_id"] != float64(9) {
		t.Fatalf("body %s", body)
	}
	again, _ := Body(ev)
	if string(again) != string(body) {
		t.Fatal("the body of a retry differs")
	}
	h := Headers([][]byte{[]byte("s")}, 42, body, time.Unix(1700000000, 0))
	if h[HeaderEventID] != "42" || h[HeaderTimestamp] != "1700000000" || h[HeaderSignature] != Sign([]byte("s"), 1700000000, body) {
		t.Fatalf("headers %v", h)
	}
}

// During a rotation's grace the header carries a signature by each secret,
// the new one first, and a receiver holding either verifies it; one holding
// neither does not.
func TestHeadersSignWithEverySecretOfAGrace(t *testing.T) {
	body, now := []byte(`{"id":7}`), time.Unix(1700000000, 0)
	h := Headers([][]byte{[]byte("new"), []byte("old")}, 7, body, now)
	sig := h[HeaderSignature]
	if want := Sign([]byte("new"), now.Unix(), body) + "," + Sign([]byte("old"), now.Unix(), body); sig != want {
		t.Fatalf("signature header %q, want %q", sig, want)
	}
	for secret, want := range map[string]bool{"new": true, "old": true, "other": false} {
		if got := Verify([]byte(secret), h[HeaderTimestamp], sig, body, now, time.Minute); got != want {
			t.Errorf("verified with %q: %v, want %v", secret, got, want)
		}
	}
}

func TestRetryDelayGrowsWithJitterAndCap(t *testing.T) {
	r := Retry{Base: time.Second, Max: time.Minute, Window: time.Hour}
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 60; n++ {
		full := time.Second
		for i := 1; i < n && full < time.Minute; i++ {
			full *= 2
		}
		full = min(full, time.Minute)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := r.Delay(n, rnd)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: only %d distinct delays; no jitter", n, len(seen))
		}
	}
	if r.GiveUp(time.Unix(0, 0), time.Unix(0, 0).Add(59*time.Minute)) || !r.GiveUp(time.Unix(0, 0), time.Unix(0, 0).Add(time.Hour)) {
		t.Fatal("GiveUp does not follow the window")
	}
	// The default schedule keeps trying for the whole day.
	total, n := time.Duration(0), 0
	for total < DefaultRetry.Window {
		n++
		total += DefaultRetry.Delay(n, rnd)
	}
	if n < 20 || n > 60 {
		t.Fatalf("the default schedule makes %d attempts in 24h", n)
	}
}

func TestSealer(t *testing.T) {
	s, err := NewSealer("key one")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("whsec_abc", secretAAD(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "whsec_abc") {
		t.Fatal("the secret is readable in its sealed form")
	}
	if got, err := s.Open(sealed, secretAAD(1, 2)); err != nil || got != "whsec_abc" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, secretAAD(1, 3)); err == nil {
		t.Fatal("a sealed secret opened for another app")
	}
	other, _ := NewSealer("key two")
	if _, err := other.Open(sealed, secretAAD(1, 2)); err == nil {
		t.Fatal("a sealed secret opened with another key")
	}
	if again, _ := s.Seal("whsec_abc", secretAAD(1, 2)); again == sealed {
		t.Fatal("sealing is deterministic")
	}
}
