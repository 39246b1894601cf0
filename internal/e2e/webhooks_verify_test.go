//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/logic/webhook"
)

// The receivers' verifiers, Go's and the Python package's, agree on every
// signature header a sender may forge: the genuine one verifies, alone or
// beside junk, and a header that is empty, an empty entry, another
// secret's signature or not ASCII is refused, by Python too as False, not
// an exception that fails the receiver's request.
func TestWebhookVerifiersRefuseForgedSignatureHeaders(t *testing.T) {
	python := partnerPython(t, "MGV_TEST_PYTHON", "venv-client")
	secret, body, now := "whsec_test", []byte(`{"id":1}`), time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	good := webhook.Sign([]byte(secret), now.Unix(), body)
	other := webhook.Sign([]byte("whsec_other"), now.Unix(), body)
	cases := map[string]bool{
		good:                   true,
		other + "," + good:     true,
		good + ",v1=\u00e9":    true,
		"":                     false,
		"v1=":                  false,
		",":                    false,
		other:                  false,
		strings.ToUpper(good):  false,
		"v1=\u00e9":            false,
		other + ",v1=\u00e9":   false,
		good[:len(good)-1]:     false,
		good + "0":             false,
		"v1=" + good[3:] + " ": true, // surrounding blanks are trimmed
	}
	headers := make([]string, 0, len(cases))
	for h, want := range cases {
		headers = append(headers, h)
		if got := webhook.Verify([]byte(secret), ts, h, body, now, time.Minute); got != want {
			t.Errorf("Go Verify(%q) = %v, want %v", h, got, want)
		}
	}
	data, err := json.Marshal(headers)
	if err != nil {
		t.Fatal(err)
	}
	script := `import json, sys
sys.path.insert(0, sys.argv[1])
from mgv_webhook import verify_signature
out = []
for h in json.loads(sys.argv[2]):
    try:
        out.append(verify_signature(sys.argv[3], sys.argv[4], h, sys.argv[5].encode()))
    except Exception as e:
        out.append(type(e).__name__ + ": " + str(e))
print(json.dumps(out))
`
	out, err := exec.Command(python, "-I", "-c", script, filepath.Join(root, "gen"), string(data), secret, ts, string(body)).CombinedOutput()
	if err != nil {
		t.Fatalf("python verifier: %v\n%s", err, out)
	}
	var got []any
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(headers) {
		t.Fatalf("python verifier said %q (%v)", out, err)
	}
	for i, h := range headers {
		if got[i] != cases[h] {
			t.Errorf("Python verify_signature(%q) = %v, want %v", h, got[i], cases[h])
		}
	}
}
