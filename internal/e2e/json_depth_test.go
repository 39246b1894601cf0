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

// TestARepeatedKeyIsRefused: encoding/json keeps the last of repeated keys
// and matches keys ignoring case, so a proxy, a WAF or a log that reads the
// first would see another request than the one served. A sign-in with the
// right password second is refused, naming the key, and so is a user
// update that spells the role twice in two cases.
func TestARepeatedKeyIsRefused(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	rep := f.Reps[0]
	body := json.RawMessage(`{"account":"` + *rep.Email + `","password":"wrong-password","password":"` + f.Password + `"}`)
	r := authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", body)
	r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if r.Metadata["field"] != "password" || !strings.Contains(r.Msg, "appears more than once") {
		t.Fatalf("answer %q about %q, want password named as repeated", r.Msg, r.Metadata["field"])
	}
	body = json.RawMessage(`{"account":"` + *rep.Email + `","password":"` + f.Password + `","Account":"someone@else.example"}`)
	r = authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", body)
	r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if r.Metadata["field"] != "Account" {
		t.Fatalf("answer %q about %q, want Account named", r.Msg, r.Metadata["field"])
	}
	authLogin(t, s, *rep.Email, f.Password) // the same sign-in, each key once
}
