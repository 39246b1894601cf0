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

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/polltest"
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

// One receiver takes the subscriptions of two tenants, as a partner
// integrated with several customers does, each subscription with its own
// secret. Event ids count per tenant, so the binary delivers the first
// event of each tenant with the same X-Mgv-Event-Id; the Python package's
// receiver, deduplicating by event_key (the signed body's tenant and id),
// handles both, where keyed by the id it dropped the second tenant's event
// as a repeat of the first's.
func TestWebhookReceiverOfTwoTenantsKeepsBothOnMariaDB(t *testing.T) {
	python := partnerPython(t, "MGV_TEST_PYTHON", "venv-client")
	rcv := newReceiver(t)
	s := NewService(t, mysqlEnv(t))
	tenants := []*Fixture{NewFixture(t, s), NewFixture(t, s)}
	s.Start()
	secrets := make([]string, len(tenants))
	for i, f := range tenants {
		ev, ctx := eventsClient(t, s, f.AppToken(t))
		created, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets[i] = created.Secret
		newPartner(t, s.GRPC(), f.AppToken(t)).create("shared-receiver", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	}
	polltest.Until(t, 30*time.Second, 50*time.Millisecond, "both deliveries", func() bool { return len(rcv.requests()) >= 2 })
	got := rcv.requests()
	if got[0].eventID != got[1].eventID {
		t.Fatalf("the tenants' first events came as X-Mgv-Event-Id %s and %s: the premise, one id for two events, does not hold", got[0].eventID, got[1].eventID)
	}
	reqs := make([]map[string]string, len(got))
	for i, r := range got {
		reqs[i] = map[string]string{"event_id": r.eventID, "timestamp": r.timestamp, "signature": r.signature, "body": string(r.body)}
	}
	data, err := json.Marshal(map[string]any{"secrets": secrets, "requests": reqs})
	if err != nil {
		t.Fatal(err)
	}
	script := `import json, sys
sys.path.insert(0, sys.argv[1])
from mgv_webhook import verify_signature, event_key, Deduplicator
arg = json.loads(sys.argv[2])
dedup, by_header, handled, header_handled = Deduplicator(), Deduplicator(), [], 0
for r in arg["requests"]:
    body = r["body"].encode()
    if not any(verify_signature(s, r["timestamp"], r["signature"], body) for s in arg["secrets"]):
        sys.exit("a delivery does not verify")
    if not dedup.seen(event_key(body)):
        handled.append(list(event_key(body)))
    if not by_header.seen(r["event_id"]):
        header_handled += 1
print(json.dumps({"handled": handled, "header_handled": header_handled}))
`
	out, err := exec.Command(python, "-I", "-c", script, filepath.Join(root, "gen"), string(data)).CombinedOutput()
	if err != nil {
		t.Fatalf("python receiver: %v\n%s", err, out)
	}
	var res struct {
		Handled       [][2]int64 `json:"handled"`
		HeaderHandled int        `json:"header_handled"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python receiver said %q (%v)", out, err)
	}
	if len(res.Handled) != 2 || res.Handled[0][0] == res.Handled[1][0] {
		t.Fatalf("the receiver handled %v, want the first event of each of the two tenants", res.Handled)
	}
	for _, h := range res.Handled {
		if h[0] != tenants[0].Tenant.ID && h[0] != tenants[1].Tenant.ID {
			t.Fatalf("handled an event of tenant %d", h[0])
		}
	}
	t.Logf("keyed by X-Mgv-Event-Id alone, the receiver would have handled %d of the 2 events", res.HeaderHandled)
}
