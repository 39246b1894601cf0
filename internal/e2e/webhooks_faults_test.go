//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/polltest"
)

// verifyAny reports whether q is signed with secret (in Go; the Python
// verifier then checks the same requests independently).
func verifyAny(secret string, q faultRequest) bool {
	return webhook.Verify([]byte(secret), q.Timestamp, q.Signature, []byte(q.Body), time.Now(), time.Hour)
}

// faultReceiver records every request with its answer; while down it
// answers 503, and it takes delay to answer, so deliveries are in flight
// when the service is killed.
type faultReceiver struct {
	srv   *httptest.Server
	down  atomic.Bool
	delay atomic.Int64 // nanoseconds
	mu    sync.Mutex
	reqs  []faultRequest
}

type faultRequest struct {
	Path      string `json:"path"`
	EventID   string `json:"event_id"`
	Timestamp string `json:"timestamp"`
	Signature string `json:"signature"`
	Body      string `json:"body"`
	Status    int    `json:"status"`
}

func newFaultReceiver(t *testing.T) *faultReceiver {
	r := &faultReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(time.Duration(r.delay.Load()))
		code := http.StatusOK
		if r.down.Load() {
			code = http.StatusServiceUnavailable
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, faultRequest{req.URL.Path, req.Header.Get("X-Mgv-Event-Id"), req.Header.Get("X-Mgv-Timestamp"),
			req.Header.Get("X-Mgv-Signature"), string(body), code})
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *faultReceiver) snapshot() []faultRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]faultRequest(nil), r.reqs...)
}

// delivered is the set of path and event id pairs answered 2xx.
func (r *faultReceiver) delivered() map[string]bool {
	out := map[string]bool{}
	for _, q := range r.snapshot() {
		if q.Status < 300 {
			out[q.Path+" "+q.EventID] = true
		}
	}
	return out
}

// pythonVerify checks every request's signature with the Python package's
// verifier (gen/mgv_webhook.py), an implementation independent of the
// service's; it returns how many it verified.
func pythonVerify(t *testing.T, secret string, reqs []faultRequest) int {
	t.Helper()
	python := partnerPython(t, "MGV_TEST_PYTHON", "venv-client")
	file := filepath.Join(t.TempDir(), "requests.json")
	data, _ := json.Marshal(reqs)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `import json, sys
sys.path.insert(0, sys.argv[1])
from mgv_webhook import verify_signature
reqs = json.load(open(sys.argv[2]))
bad = [r["event_id"] for r in reqs if not verify_signature(sys.argv[3], r["timestamp"], r["signature"], r["body"].encode(), tolerance=3600)]
tampered = [r["event_id"] for r in reqs if verify_signature(sys.argv[3], r["timestamp"], r["signature"], r["body"].encode() + b" ", tolerance=3600)]
print(len(reqs) - len(bad), len(bad), len(tampered))
`
	cmd := exec.Command(python, "-I", "-c", script, filepath.Join(root, "gen"), file, secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python verifier: %v\n%s", err, out)
	}
	var ok, bad, tampered int
	if _, err := fmt.Sscan(string(out), &ok, &bad, &tampered); err != nil {
		t.Fatalf("python verifier said %q", out)
	}
	if bad != 0 || tampered != 0 {
		t.Fatalf("python verifier: %d signatures do not verify, %d verify a tampered body", bad, tampered)
	}
	return ok
}

// fastWebhooksEnv is a MariaDB service's environment with the webhook
// schedule compressed to seconds: retries from 100ms doubling to retryMax
// for a minute, short timeouts, leases and slices.
func fastWebhooksEnv(t *testing.T, retryMax string) map[string]string {
	env := mysqlEnv(t)
	for k, v := range map[string]string{
		"MGV_WEBHOOKS_RETRY_BASE": "100ms", "MGV_WEBHOOKS_RETRY_MAX": retryMax, "MGV_WEBHOOKS_RETRY_WINDOW": "60s",
		"MGV_WEBHOOKS_REQUEST_TIMEOUT": "2s", "MGV_WEBHOOKS_HEADER_TIMEOUT": "2s", "MGV_WEBHOOKS_LEASE": "6s",
		"MGV_WEBHOOKS_SLICE": "1s", "MGV_WEBHOOKS_POLL_INTERVAL": "100ms",
	} {
		env[k] = v
	}
	return env
}

func metricValue(t *testing.T, s *Service, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL("/metrics"))
	if err != nil {
		return 0
	}
	defer closeBody(t, resp)
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, name) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// TestR10EventsUnderFaults (QUALITY R10): two instances on one MariaDB
// deliver to a receiver that is down for 8 s with the 24-hour retry window
// compressed to 60 s (so the outage stands for over 3 hours, more than the
// 10 minutes R10 asks), then one instance is killed
// with SIGKILL and the other upgraded with USR2 while deliveries are in
// flight, and ingest goes on throughout. Every event is delivered, none
// lost; retries carry the same id and body; every signature verifies with
// the Python verifier.
func TestR10EventsUnderFaults(t *testing.T) {
	rcv := newFaultReceiver(t)
	env := fastWebhooksEnv(t, "1s")
	a := NewService(t, env)
	a.Start()
	a.WaitReady(60 * time.Second)
	b := NewService(t, env)
	b.Start()
	b.WaitReady(60 * time.Second)
	f := NewFixture(t, a)

	// Four subscriptions, so both instances have some to deliver.
	ev, ctx := eventsClient(t, b, f.AppToken(t))
	var secrets []string
	for i := range 4 {
		res, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: fmt.Sprintf("%s/hook/%d", rcv.srv.URL, i), EventTypes: []string{"conversation.created"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, res.Secret)
	}

	// Ingest through b, a conversation at a time, the whole test long; a
	// call failed by the upgrade is retried (creates are idempotent by
	// origin id).
	var created atomic.Int64
	stopIngest := make(chan struct{})
	ingestDone := make(chan struct{})
	go func() {
		defer close(ingestDone)
		p := newPartner(t, b.GRPC(), f.AppToken(t))
		for i := 0; ; i++ {
			select {
			case <-stopIngest:
				return
			default:
			}
			req := &openv1.CreateConversationRequest{OriginConversationId: fmt.Sprintf("r10-%d", i),
				Owner: &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[0].ID}, Channel: openv1.Channel_CHANNEL_CALL,
				Direction: openv1.Direction_DIRECTION_OUTBOUND, DurationMs: 60_000, BeginTime: timestamppb.New(time.Now().Add(-time.Hour)),
				Participants: []*openv1.ParticipantInput{{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: f.Reps[0].ID}}}}
			for try := 0; try < 50; try++ {
				if _, err := p.conv.CreateConversation(p.ctx, req); err == nil {
					created.Add(1)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// The receiver is down for 8 s: every attempt fails and is retried.
	rcv.down.Store(true)
	time.Sleep(8 * time.Second)
	failedAttempts := len(rcv.snapshot())
	rcv.delay.Store(int64(30 * time.Millisecond))
	rcv.down.Store(false)

	// While deliveries catch up: kill -9 a, start it again; USR2 b.
	time.Sleep(time.Second)
	// a's attempts so far: its counters start again with the new process.
	byAFirst := metricValue(t, a, "mgv_webhook_attempts_total")
	a.Kill()
	a.Start()
	time.Sleep(time.Second)
	old := b.Signal(syscall.SIGUSR2)
	// The parent exits once the upgrade is done, so readiness is polled
	// here rather than by WaitReady, which watches the parent.
	polltest.Until(t, 60*time.Second, 50*time.Millisecond, "the upgraded process, ready", func() bool {
		if pid := b.PID(); pid == old || pid == 0 {
			return false
		}
		resp, err := http.Get(b.URL("/readyz"))
		if err != nil {
			return false
		}
		closeBody(t, resp)
		return resp.StatusCode == http.StatusOK
	})
	time.Sleep(2 * time.Second)
	close(stopIngest)
	<-ingestDone

	// Every event of the log reaches the receiver with a 2xx.
	var ids []int64
	if err := f.DB.Raw("SELECT id FROM events WHERE tenant_id = ? AND type = ? ORDER BY id", f.Tenant.ID, "conversation.created").Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	if int64(len(ids)) < created.Load() {
		t.Fatalf("%d conversations acknowledged, %d conversation.created events", created.Load(), len(ids))
	}
	start := time.Now()
	polltest.Until(t, 120*time.Second, 50*time.Millisecond, "every event delivered", func() bool {
		got := rcv.delivered()
		for i := range secrets {
			for _, id := range ids {
				if !got[fmt.Sprintf("/hook/%d %d", i, id)] {
					return false
				}
			}
		}
		return true
	})
	catchUp := time.Since(start)

	reqs := rcv.snapshot()
	bodies := map[string]string{}
	perID := map[string]int{}
	for _, q := range reqs {
		if prev, ok := bodies[q.EventID]; ok && prev != q.Body {
			t.Fatalf("event %s was sent with two bodies:\n%s\n%s", q.EventID, prev, q.Body)
		}
		bodies[q.EventID] = q.Body
		if q.Status < 300 {
			perID[q.Path+" "+q.EventID]++
		}
	}
	// Retries carry the same id: events refused while the receiver was
	// down arrive later under that id (and, above, with the same body).
	retried := 0
	for _, q := range reqs {
		if q.Status >= 300 && perID[q.Path+" "+q.EventID] > 0 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no refused attempt was retried under its id")
	}
	// At least once: a crash may send again what was in flight.
	dups := 0
	for _, n := range perID {
		dups += n - 1
	}
	// Every request is signed with one of the subscriptions' secrets; the
	// Python verifier checks them per secret.
	verified := 0
	for _, secret := range secrets {
		var mine []faultRequest
		for _, q := range reqs {
			if verifyAny(secret, q) {
				mine = append(mine, q)
			}
		}
		verified += pythonVerify(t, secret, mine)
	}
	if verified != len(reqs) {
		t.Fatalf("%d of %d requests verified", verified, len(reqs))
	}
	byA, byB := metricValue(t, a, "mgv_webhook_attempts_total"), metricValue(t, b, "mgv_webhook_attempts_total")
	t.Logf("R10: %d conversations, %d events × 4 subscriptions; %d requests (%d failed while the receiver was down, %d of them retried later under the same id), %d duplicates after the faults; caught up %s after ingest stopped; attempts: a %.0f before its kill -9 and %.0f since, b %.0f since its upgrade",
		created.Load(), len(ids), len(reqs), failedAttempts, retried, dups, catchUp.Round(time.Millisecond), byAFirst, byA, byB)
	// Which instance wins a released lease after the restarts is a race,
	// so a may deliver nothing after its restart; over the test, both do.
	byA += byAFirst
	if failedAttempts == 0 {
		t.Fatal("no attempt while the receiver was down")
	}
	if byA == 0 || byB == 0 {
		t.Errorf("both instances should deliver: a %.0f, b %.0f attempts", byA, byB)
	}
}
