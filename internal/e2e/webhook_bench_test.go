//go:build e2e && bench

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/polltest"
)

// benchP10Sizes: seconds of paced ingest for the latency, and rounds of the
// ingest comparison; MGV_BENCH_P10="seconds,rounds" overrides (a short run
// checks the benchmark works).
func benchP10Sizes(t *testing.T) (seconds, rounds int) {
	seconds, rounds = 15, 3
	if v := os.Getenv("MGV_BENCH_P10"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d", &seconds, &rounds); err != nil || seconds < 1 || rounds < 1 {
			t.Fatalf("MGV_BENCH_P10=%q: want seconds,rounds", v)
		}
	}
	return seconds, rounds
}

// TestBenchP10WebhookDelivery measures the webhook half of P10, transcript
// commit → webhook delivered at 200 transcripts/s, and the cost of
// receivers for ingest (P5): the same ingest with no subscription, with a
// subscription whose receiver answers after 2 s, and with one whose
// receiver is dead (connections refused), interleaved round by round.
func TestBenchP10WebhookDelivery(t *testing.T) {
	const (
		rate      = 200 // transcripts per second
		perConv   = 10  // sentences of a paced transcript
		convs     = 200 // per ingest arm
		sentences = 100
		streams   = 8
	)
	seconds, rounds := benchP10Sizes(t)
	env := benchLimits(esEnv(t, mysqlEnv(t)))
	// The paced arm keeps up to 32 uploads open at once.
	env["MGV_GRPC_MAX_STREAMS_PER_APP"], env["MGV_GRPC_MAX_STREAMS"] = "64", "64"
	s := benchService(t, env)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	admin := f.Token(t, f.Admin)

	// A fast receiver: when each event arrived, against when it committed.
	var mu sync.Mutex
	var lat []time.Duration
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		var e struct {
			OccurredAt time.Time `json:"occurred_at"`
		}
		if json.Unmarshal(body, &e) == nil {
			mu.Lock()
			lat = append(lat, now.Sub(e.OccurredAt))
			mu.Unlock()
		}
	}))
	defer fast.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(2 * time.Second)
	}))
	defer slow.Close()
	dead := freeAddr(t) // nothing listens there
	if c, err := net.DialTimeout("tcp", dead, time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s is taken", dead)
	}

	subscribe := func(url string) int64 {
		res, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: url, EventTypes: []string{"transcript.ready"}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Subscription.Id
	}
	enable := func(id int64, on bool) {
		body, _ := json.Marshal(map[string]bool{"enabled": on})
		req, _ := http.NewRequest(http.MethodPatch, s.URL(fmt.Sprintf("/api/v1/webhooks/%d", id)), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		closeBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH webhook %d: %d", id, resp.StatusCode)
		}
	}
	create := func(n int, tag string) []int64 {
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = p.create(fmt.Sprintf("%s-%d", tag, i), f.Reps[i%len(f.Reps)].ID, time.Now().Add(-time.Hour), 600_000, nil)
		}
		return ids
	}

	// P10, webhook half: paced PutTranscript, each event's delivery delay.
	fastID := subscribe(fast.URL + "/hook")
	n := rate * seconds
	ids := create(n, "p10-"+newTag())
	tr := transcript(perConv, newTag())
	start := time.Now()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, id := range ids {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := p.put(id, tr, perConv); err != nil {
				t.Errorf("put: %v", err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	offered := float64(n) / time.Since(start).Seconds()
	polltest.Until(t, 2*time.Minute, 50*time.Millisecond, "every transcript.ready delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lat) >= n
	})
	enable(fastID, false)
	mu.Lock()
	ds := slices.Clone(lat)
	mu.Unlock()
	slices.Sort(ds)
	p99 := quantile(ds, 0.99)
	record(t, Row{
		ID: "P10d",
		What: fmt.Sprintf("partner events, webhook half: PutTranscript of %d transcripts (%d sentences each) paced at %d/s for %d s, one subscription to transcript.ready on a local receiver; delay from the event's commit time (occurred_at) to its arrival at the receiver",
			n, perConv, rate, seconds),
		Target:   "p99 ≤ 1 s",
		Measured: fmt.Sprintf("p50 %s, p99 %s, max %s (offered %.0f transcripts/s, %d deliveries)", ms(quantile(ds, 0.5)), ms(p99), ms(ds[len(ds)-1]), offered, len(ds)),
		Baseline: "none (a latency bar)",
		Result:   fmt.Sprintf("p99 %s", ms(p99)),
		Pass:     p99 <= time.Second,
		Command:  "make bench (TestBenchP10WebhookDelivery)",
	})

	// P5 with receivers: the same ingest, three arms, interleaved.
	slowID, deadID := subscribe(slow.URL+"/hook"), subscribe("http://"+dead+"/hook")
	enable(slowID, false)
	enable(deadID, false)
	arms := []struct {
		name string
		sub  int64
	}{{"none", 0}, {"2 s receiver", slowID}, {"dead receiver", deadID}}
	rates := map[string][]float64{}
	for round := 0; round <= rounds; round++ {
		for k := range arms {
			arm := arms[(k+round)%len(arms)]
			if arm.sub != 0 {
				enable(arm.sub, true)
			}
			ids := create(convs, fmt.Sprintf("p5w-%d-%d-%s", round, k, newTag()))
			for deadline := time.Now().Add(time.Minute); pendingSearchJobs(t, f) > 0; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the creates' index jobs are not done after a minute")
				}
			}
			tr := transcript(sentences, newTag())
			start := time.Now()
			if err := inParallel(streams, convs, func(i int) error {
				_, err := p.put(ids[i], tr, 50)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(3 * time.Minute); pendingSearchJobs(t, f) > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("not indexed after 3 minutes")
				}
			}
			r := float64(convs*sentences) / time.Since(start).Seconds()
			t.Logf("round %d %s: %.0f sentences/s", round, arm.name, r)
			if round > 0 {
				rates[arm.name] = append(rates[arm.name], r)
			}
			if arm.sub != 0 {
				enable(arm.sub, false)
			}
		}
	}
	mean := func(xs []float64) float64 {
		var sum float64
		for _, x := range xs {
			sum += x
		}
		return sum / float64(len(xs))
	}
	none, slowR, deadR := mean(rates["none"]), mean(rates["2 s receiver"]), mean(rates["dead receiver"])
	record(t, Row{
		ID: "P10i",
		What: fmt.Sprintf("partner events, cost to ingest: PutTranscript (%d streams) of %d conversations × %d sentences until the index jobs are done, with no subscription, with one to a receiver answering after 2 s, and with one to a dead receiver (connection refused); one warm-up round, then %d rounds, arms rotated",
			streams, convs, sentences, rounds),
		Target:   "each ≥ 0.90 of the rate without",
		Measured: fmt.Sprintf("2 s receiver %.0f sentences/s, dead receiver %.0f sentences/s", slowR, deadR),
		Baseline: fmt.Sprintf("%.0f sentences/s without a subscription", none),
		Result:   fmt.Sprintf("2 s %.2f, dead %.2f", slowR/none, deadR/none),
		Pass:     slowR/none >= 0.9 && deadR/none >= 0.9,
		Command:  "make bench (TestBenchP10WebhookDelivery)",
	})
}
