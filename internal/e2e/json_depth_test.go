//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestDeeplyNestedJSONIsRefusedCheaply: a body nesting objects of long keys
// thousands deep under an unknown field, with a value of the wrong type at
// the end, sent without a token. Naming the bad field once spelled the
// whole path at every level, a gigabyte and more for one request of 300
// KiB; the body is now refused for its depth before it is decoded.
func TestDeeplyNestedJSONIsRefusedCheaply(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	key := strings.Repeat("k", 100)
	const depth = 3000
	body := json.RawMessage(`{"x":` + strings.Repeat(`{"`+key+`":`, depth) + `1` + strings.Repeat(`}`, depth) + `,"account":1,"password":"p"}`)
	idle := procStatusBytes(s.PID(), "VmHWM:")
	for range 2 {
		r := authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", body)
		r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if !strings.Contains(r.Msg, "nests arrays and objects more than 64 deep") {
			t.Fatalf("answer %q, want the depth named", r.Msg)
		}
	}
	peak := procStatusBytes(s.PID(), "VmHWM:")
	t.Logf("two bodies of %d KiB nested %d deep: peak resident memory %d MiB before, %d MiB after", len(body)>>10, depth, idle>>20, peak>>20)
	if peak-idle > 64<<20 {
		t.Fatalf("peak resident memory grew by %d MiB for two refused requests", (peak-idle)>>20)
	}
}
