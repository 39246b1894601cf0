//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// steadyIngest writes a transcript of 100 sentences to a new conversation
// every 100 ms until stop, as a partner's ordinary traffic; the result is
// the conversations whose transcripts were acknowledged, and how many
// writes failed.
func steadyIngest(t *testing.T, p *partner, owner int64, tag string, stop <-chan struct{}) func() ([]int64, int) {
	var acked []int64
	failed := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			res, err := p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{
				OriginConversationId: fmt.Sprintf("%s-%d", tag, i),
				Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: owner},
				Channel:              openv1.Channel_CHANNEL_CALL, Direction: openv1.Direction_DIRECTION_OUTBOUND,
				BeginTime: timestamppb.New(time.Now().Add(-time.Hour)), DurationMs: transcriptMS(100),
				Participants: []*openv1.ParticipantInput{{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: owner}}, {SpeakerKey: "cust", Name: "客户"}},
			})
			if err != nil {
				failed++
				t.Logf("ordinary ingest, create: %v", err)
				continue
			}
			if _, err := p.put(res.GetConversationId(), transcript(100, tag), 50); err != nil {
				failed++
				t.Logf("ordinary ingest, transcript: %v", err)
				continue
			}
			acked = append(acked, res.GetConversationId())
		}
	}()
	return func() ([]int64, int) {
		<-done
		return acked, failed
	}
}

// R8: everything hostile at once against the real binary on MariaDB — 200
// HTTP clients sending their bodies a byte at a time, 50 PutTranscript
// streams that never finish, 300 anonymous requests each with its own
// forged X-Forwarded-For, 40 unauthenticated 15 MiB gRPC calls (16 MiB
// limit) — while an ordinary partner lists conversations every 10 ms and
// writes a transcript every 100 ms. The process stays within 400 MB, each
// stream is cut at its deadline and each slow body at the read deadline,
// the forged addresses are one client to the limit and absent from the
// log, the ordinary partner's p99 stays within twice its p99 without the
// hostile load (the ordinary traffic runs in both), and every transcript
// it was told was stored is there afterwards.
//
// The machine is shared, so its load changes under the test: the p99s are
// compared in rounds, each the ordinary traffic alone and then with the
// hostile load right after, and the bar must hold in one round of
// r8Rounds; every other bar must hold in every round. The hostile clients
// start together, so the service's work for them comes in bursts (at the
// start, and when the slow bodies and the streams are cut), and the few
// ordinary calls a burst delays are about the 1 % a p99 looks at: a
// neighbour's build running in the same seconds can tip a round.
func TestR8HostileLoad(t *testing.T) {
	env := mysqlEnv(t)
	for k, v := range map[string]string{
		"MGV_HTTP_READ_TIMEOUT":        r8ReadTimeout.String(),
		"MGV_GRPC_STREAM_TIMEOUT":      r8StreamTimeout.String(),
		"MGV_GRPC_MAX_STREAMS_PER_APP": "50",
		// The never-finishing streams are one tenant's.
		"MGV_GRPC_MAX_STREAMS_PER_TENANT": "50",
		"MGV_GRPC_MAX_STREAMS":            "64",
		"MGV_GRPC_MAX_RECV_MSG_BYTES":     fmt.Sprint(16 << 20),
		// The tenants' tier is not what is tested: every slow body is
		// admitted and reaches the read of its body.
		"MGV_RATELIMIT_TIERS_STANDARD_RPS":   "5000",
		"MGV_RATELIMIT_TIERS_STANDARD_BURST": "1000",
		"MGV_RATELIMIT_ANON_RPS":             fmt.Sprint(r8AnonRPS),
		"MGV_RATELIMIT_ANON_BURST":           fmt.Sprint(r8AnonBurst),
		"MGV_SEARCH_INDEXER":                 "false",
	} {
		env[k] = v
	}
	s := NewService(t, env)
	r := &r8{s: s, hostile: NewFixture(t, s), ordinary: NewFixture(t, s)}
	s.Start()
	r.appToken = r.hostile.AppToken(t)
	r.hp = newPartner(t, s.GRPC(), r.appToken)
	r.op = newPartner(t, s.GRPC(), r.ordinary.AppToken(t))
	r.target = r.hp.create("r8-streams", r.hostile.Reps[0].ID, time.Now().Add(-time.Hour), 3_600_000, nil)
	r.token = r.hostile.Token(t, r.hostile.Admin)

	met := false
	for round := 1; round <= r8Rounds && !met; round++ {
		base, loaded := r.round(t, round)
		met = loaded <= 2*base
	}
	if !met {
		t.Errorf("in none of %d rounds was the ordinary partner's p99 under the hostile load within twice its p99 without", r8Rounds)
	}
	logs := s.Stdout.String() + s.Stderr.String()
	if strings.Contains(logs, "198.51.") {
		t.Error("a forged address reached the log")
	}
	if !strings.Contains(logs, `"client_ip":"127.0.0.1"`) {
		t.Error("the access log does not record the peer 127.0.0.1")
	}
	// Nothing of the cut streams was stored.
	if st, _, err := readTranscriptGRPC(r.hp, r.target, ""); err != nil || st.sentences != 0 {
		t.Errorf("the never-finished streams stored %d sentences (%v)", st.sentences, err)
	}
}

// Deadlines and limits of the R8 service.
const (
	r8ReadTimeout, r8StreamTimeout = 2 * time.Second, 3 * time.Second
	r8AnonRPS, r8AnonBurst         = 20, 20
	r8Rounds                       = 5
	// r8ListPause spaces the ordinary partner's list calls: a few hundred
	// in the seconds the hostile load lasts, so that the p99 is not merely
	// the slowest call.
	r8ListPause = 10 * time.Millisecond
)

// r8 is the service of TestR8HostileLoad with its two tenants: the hostile
// one's app and admin, and the ordinary partner.
type r8 struct {
	s                 *Service
	hostile, ordinary *Fixture
	hp, op            *partner
	target            int64
	token, appToken   string
}

// round measures the ordinary partner alone, then under the hostile load,
// checks every bar but the p99's, and returns both p99s.
func (r *r8) round(t *testing.T, round int) (base, loaded time.Duration) {
	pid := r.s.PID()
	stopBase := make(chan struct{})
	baseIngest := steadyIngest(t, r.op, r.ordinary.Reps[0].ID, fmt.Sprintf("r8-base-%d", round), stopBase)
	base = unloadedP99Every(t, r.op, r8ListPause, 6*time.Second)
	close(stopBase)
	baseAcked, baseFailed := baseIngest()
	idle := rss(pid)

	stop := make(chan struct{})
	peak := peakRSS(pid, stop)
	list := ordinaryClientEvery(t, r.op, r8ListPause, stop)
	ingest := steadyIngest(t, r.op, r.ordinary.Reps[0].ID, fmt.Sprintf("r8-load-%d", round), stop)
	began := time.Now()
	h := r.attack(t)
	close(stop)
	loadTook := time.Since(began)
	calls, failures, loaded := list()
	acked, ingestFailed := ingest()
	peakSampled, hwm := <-peak, vmHWM(pid)
	slowCuts, slowAnswers, streamCuts := h.SlowCuts, h.SlowAnswers, h.StreamCuts
	admitted, limited, otherStatus, forgedTook := h.Admitted, h.Limited, h.Other, h.ForgedTook

	sc, st := slices.Clone(slowCuts), slices.Clone(streamCuts)
	slices.Sort(sc)
	slices.Sort(st)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("R8 round %d: hostile load for %v (the hostile clients' process used %v of CPU)", round, ms(loadTook), ms(h.CPU))
	t.Logf("  RSS: idle %d MiB, peak sampled %d MiB, VmHWM %d MiB (bar 400 MB)", idle/mib, peakSampled/mib, hwm/mib)
	t.Logf("  200 slow bodies cut after %v min, %v median, %v max (read deadline %v), answered %q",
		ms(sc[0]), ms(sc[len(sc)/2]), ms(sc[len(sc)-1]), r8ReadTimeout, firstLine(slowAnswers[0]))
	t.Logf("  50 never-finishing streams cut after %v min, %v median, %v max (stream deadline %v); each: %v",
		ms(st[0]), ms(st[len(st)/2]), ms(st[len(st)-1]), r8StreamTimeout, roundAll(streamCuts))
	t.Logf("  300 forged X-Forwarded-For in %v: %d admitted, %d limited, %d other (anonymous limit %d/s, burst %d)",
		ms(forgedTook), admitted, limited, otherStatus, r8AnonRPS, r8AnonBurst)
	t.Logf("  40 unauthenticated 15 MiB calls: slowest refusal %v", ms(h.SlowestRefusal))
	t.Logf("  ordinary partner: p99 %v alone (%d transcripts stored, %d failed), %v under the load (bar %v; %d list calls, %d failed; %d transcripts stored, %d failed)",
		ms(base), len(baseAcked), baseFailed, ms(loaded), ms(2*base), calls, failures, len(acked), ingestFailed)

	if hwm > 400_000_000 || peakSampled > 400_000_000 {
		t.Errorf("RSS peak %d MiB (VmHWM %d MiB), over 400 MB", peakSampled/mib, hwm/mib)
	}
	for i, d := range slowCuts {
		if d < r8ReadTimeout-200*time.Millisecond || d > r8ReadTimeout+5*time.Second || !strings.Contains(slowAnswers[i], "CLIENT_TIMEOUT") ||
			firstLine(slowAnswers[i]) != "HTTP/1.1 408 Request Timeout" {
			t.Errorf("slow body %d ended after %v with %q, want 408 CLIENT_TIMEOUT at the read deadline %v", i, d, firstLine(slowAnswers[i]), r8ReadTimeout)
			break
		}
	}
	for i, d := range streamCuts {
		if codes.Code(h.StreamCodes[i]) != codes.DeadlineExceeded || d < r8StreamTimeout-100*time.Millisecond || d > r8StreamTimeout+3*time.Second {
			t.Errorf("stream %d ended after %v with %s, want DeadlineExceeded at the stream deadline %v", i, d, h.StreamErrs[i], r8StreamTimeout)
		}
	}
	// One client to the limit: the burst, the rate over the time taken,
	// and the pacer's slack.
	if most := int64(r8AnonBurst + float64(r8AnonRPS)*forgedTook.Seconds() + r8AnonRPS/10 + 2); admitted > most {
		t.Errorf("%d forged requests admitted, want at most %d: the forged addresses escaped the limit", admitted, most)
	}
	if failures > 0 || ingestFailed > 0 || baseFailed > 0 {
		t.Errorf("the ordinary partner failed %d list calls and %d transcript writes", failures, ingestFailed+baseFailed)
	}
	if len(acked) == 0 {
		t.Error("the ordinary partner stored nothing during the load")
	}
	// Nothing acknowledged is lost.
	for _, id := range append(baseAcked, acked...) {
		st, _, err := readTranscriptGRPC(r.op, id, "")
		if err != nil || st.sentences != 100 {
			t.Errorf("acknowledged transcript of conversation %d: %d sentences, %v", id, st.sentences, err)
		}
	}
	return base, loaded
}

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, v := range d {
		out[i] = v.Round(10 * time.Millisecond)
	}
	return out
}
