//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/model"
)

// Deadlines and caps of the test service, short so the test is quick.
const (
	boundsReadTimeout   = 2 * time.Second
	boundsStreamTimeout = 3 * time.Second
	boundsBufferBytes   = 8 << 20
)

func boundsService(t *testing.T) (*Service, *Fixture, *Fixture) {
	s := NewService(t, map[string]string{
		"MGV_HTTP_READ_TIMEOUT":            boundsReadTimeout.String(),
		"MGV_GRPC_STREAM_TIMEOUT":          boundsStreamTimeout.String(),
		"MGV_GRPC_MAX_STREAMS_PER_APP":     "2",
		"MGV_GRPC_MAX_STREAMS":             "3",
		"MGV_GRPC_TRANSCRIPT_BUFFER_BYTES": fmt.Sprint(boundsBufferBytes),
		"MGV_GRPC_MAX_RECV_MSG_BYTES":      fmt.Sprint(16 << 20),
		"MGV_RATELIMIT_ENABLED":            "false",
		"MGV_LOG_LEVEL":                    "warn",
	})
	a, b := NewFixture(t, s), NewFixture(t, s)
	s.Start()
	return s, a, b
}

// ordinaryClient calls ListConversations every 50 ms until stop; the
// result is the number of calls, of failures, and the 99th percentile.
func ordinaryClient(t *testing.T, p *partner, stop <-chan struct{}) func() (calls, failures int, p99 time.Duration) {
	return ordinaryClientEvery(t, p, 50*time.Millisecond, stop)
}

// ordinaryClientEvery is ordinaryClient calling every pause.
func ordinaryClientEvery(t *testing.T, p *partner, pause time.Duration, stop <-chan struct{}) func() (calls, failures int, p99 time.Duration) {
	var took []time.Duration
	var bad int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(pause):
			}
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			start := time.Now()
			_, err := p.conv.ListConversations(ctx, &openv1.ListConversationsRequest{PageSize: 10})
			cancel()
			took = append(took, time.Since(start))
			if err != nil {
				bad++
				t.Logf("ordinary client: %v", err)
			}
		}
	}()
	return func() (int, int, time.Duration) {
		<-done
		if len(took) == 0 {
			return 0, bad, 0
		}
		slices.Sort(took)
		return len(took), bad, took[(len(took)*99)/100]
	}
}

// unloadedP99 is the ordinary client's p99 over d without other load.
func unloadedP99(t *testing.T, p *partner, d time.Duration) time.Duration {
	return unloadedP99Every(t, p, 50*time.Millisecond, d)
}

// unloadedP99Every is unloadedP99 with a call every pause.
func unloadedP99Every(t *testing.T, p *partner, pause, d time.Duration) time.Duration {
	stop := make(chan struct{})
	result := ordinaryClientEvery(t, p, pause, stop)
	time.Sleep(d)
	close(stop)
	_, _, p99 := result()
	return p99
}

func TestBoundsHTTPSlowBodyIsCutAtTheReadDeadline(t *testing.T) {
	s, _, _ := boundsService(t)
	cut, resp := slowBody(t, s.HTTPAddr, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n")
	t.Logf("a slow body was cut after %s (read deadline %s); answer: %q", cut.Round(time.Millisecond), boundsReadTimeout, firstLine(resp))
	if cut < boundsReadTimeout-200*time.Millisecond || cut > boundsReadTimeout+2*time.Second {
		t.Fatalf("cut after %s, want near the read deadline %s", cut, boundsReadTimeout)
	}
}

// TestBoundsGetWithAnUnsentBodyIsAnsweredAtOnce: a GET that declares a
// body and never sends it is answered at once, the conversation list read
// from the database as for any other call, and its connection closed;
// net/http alone would wait for the body until the read deadline and then
// answer nothing.
func TestBoundsGetWithAnUnsentBodyIsAnsweredAtOnce(t *testing.T) {
	s, f, _ := boundsService(t)
	for _, head := range []string{
		"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n",
		"GET /api/v1/conversations?page_size=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.Token(t, f.Admin) + "\r\n",
		"DELETE /api/v1/trackers/999999 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.Token(t, f.Admin) + "\r\n",
	} {
		conn, err := net.Dial("tcp", s.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := fmt.Fprintf(conn, "%sContent-Length: 1000\r\n\r\n", head); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(boundsReadTimeout + 5*time.Second))
		resp, err := io.ReadAll(conn)
		took := time.Since(start)
		closeOrFail(t, conn)
		line := firstLine(string(resp))
		t.Logf("%s: %q after %s", firstLine(head), line, took.Round(time.Millisecond))
		if err != nil || took > boundsReadTimeout/2 || !strings.Contains(string(resp), "Connection: close") {
			t.Errorf("%s with an unsent body: %q after %s (err %v), want an answer at once and the connection closed", firstLine(head), line, took, err)
		}
		if want := map[bool]string{true: "HTTP/1.1 404", false: "HTTP/1.1 200"}[strings.HasPrefix(head, "DELETE")]; !strings.HasPrefix(line, want) {
			t.Errorf("%s: %q, want %s", firstLine(head), line, want)
		}
	}
}

// slowBody sends head (a request line and headers) with a 1,000-byte JSON
// body at one byte every 200 ms, which would take 200 s, and returns when
// the server ended the connection, and what it answered.
func slowBody(t *testing.T, addr, head string) (time.Duration, string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer closeOrFail(t, conn)
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "%sContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", head); err != nil {
		t.Error(err)
		return 0, ""
	}
	go func() {
		for range 1000 {
			time.Sleep(200 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(40 * time.Second))
	resp, _ := io.ReadAll(conn)
	return time.Since(start), string(resp)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

func TestBoundsTranscriptStreams(t *testing.T) {
	s, fa, fb := boundsService(t)
	conn := s.GRPC()
	pa := newPartner(t, conn, fa.AppToken(t))
	pb := newPartner(t, conn, fb.AppToken(t))
	convA := pa.create("bounds-a", fa.Reps[0].ID, time.Now().Add(-time.Hour), 3_600_000, nil)
	convB := pb.create("bounds-b", fb.Reps[0].ID, time.Now().Add(-time.Hour), 3_600_000, nil)

	t.Run("a stream that never finishes is cut at the stream deadline", func(t *testing.T) {
		start := time.Now()
		st, err := openStream(pa, convA)
		if err != nil {
			t.Fatal(err)
		}
		err = streamOutcome(st)
		cut := time.Since(start)
		t.Logf("stream cut after %s (stream deadline %s): %v", cut.Round(time.Millisecond), boundsStreamTimeout, err)
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("a stream past its deadline ended with %v, want DeadlineExceeded", err)
		}
		if cut < boundsStreamTimeout-100*time.Millisecond || cut > boundsStreamTimeout+time.Second {
			t.Fatalf("cut after %s, want at the stream deadline %s", cut, boundsStreamTimeout)
		}
	})

	t.Run("streams over the caps are refused at once", func(t *testing.T) {
		var held []openv1.ConversationService_PutTranscriptClient
		for _, p := range []*partner{pa, pa, pb} {
			st, err := openStream(p, map[*partner]int64{pa: convA, pb: convB}[p])
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, st)
		}
		// The server has taken their slots (it may be slow to on a loaded
		// machine, and a probe sent before would rightly get one).
		waitMetric(t, s, "mgv_grpc_transcript_streams_open", 3, 10*time.Second)
		for _, c := range []struct {
			what string
			p    *partner
			id   int64
		}{{"a third stream of one app (per-app cap 2)", pa, convA}, {"a fourth stream in all (total cap 3)", pb, convB}} {
			start := time.Now()
			st, err := openStream(c.p, c.id)
			if err == nil || err == io.EOF {
				err = streamOutcome(st)
			}
			took := time.Since(start)
			code, reason, md := rpcReason(err)
			t.Logf("%s: %v %s after %s", c.what, code, reason, took.Round(time.Millisecond))
			if code != codes.ResourceExhausted || reason != "OVER_CAPACITY" || md["retry_after_seconds"] == "" || !hasRetryInfo(err) {
				t.Fatalf("%s: %v, want RESOURCE_EXHAUSTED OVER_CAPACITY with a retry hint", c.what, err)
			}
			if took > time.Second {
				t.Fatalf("%s: refused after %s, want at once", c.what, took)
			}
		}
		for _, st := range held {
			if err := streamOutcome(st); status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("a held stream ended with %v, want DeadlineExceeded", err)
			}
		}
		// The slots are free again.
		if _, err := pa.put(convA, transcript(10, "after"), 5); err != nil {
			t.Fatalf("a stream after the held ones ended: %v", err)
		}
	})

	t.Run("the transcript budget refuses instead of growing memory", func(t *testing.T) {
		base := unloadedP99(t, pa, time.Second)
		stop := make(chan struct{})
		result := ordinaryClient(t, pa, stop)
		idle := rss(s.PID())
		peak := peakRSS(s.PID(), stop)
		// Three streams (two apps) push 4 MB chunks; together they may
		// buffer 8 MiB.
		big := func(from int) []*openv1.Sentence {
			out := make([]*openv1.Sentence, 1000)
			text := strings.Repeat("长", 1300) // 3,900 bytes
			for i := range out {
				seq := int64(from + i)
				out[i] = &openv1.Sentence{Seq: seq, SpeakerKey: "rep", StartMs: seq, EndMs: seq, Text: text}
			}
			return out
		}
		var refused, sent atomic.Int64
		var wg sync.WaitGroup
		for i, c := range []struct {
			p  *partner
			id int64
		}{{pa, convA}, {pa, convA}, {pb, convB}} {
			wg.Go(func() {
				st, err := c.p.conv.PutTranscript(c.p.ctx)
				if err != nil {
					t.Error(err)
					return
				}
				_ = st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{Header: &openv1.TranscriptHeader{ConversationId: c.id}}})
				for n := 0; n < 5; n++ {
					if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{Sentences: big(n * 1000)}}}); err != nil {
						break
					}
					sent.Add(1)
				}
				err = streamOutcome(st)
				code, reason, _ := rpcReason(err)
				t.Logf("stream %d: %v %s", i, code, reason)
				if code == codes.ResourceExhausted && reason == "OVER_CAPACITY" {
					refused.Add(1)
				}
			})
		}
		wg.Wait()
		close(stop)
		calls, failures, p99 := result()
		p := <-peak
		t.Logf("RSS idle %d MiB, peak %d MiB while 3 streams sent %d chunks of 4 MB against an %d MiB budget; ordinary client: %d calls, %d failed, p99 %s (unloaded %s)",
			idle/mib, p/mib, sent.Load(), boundsBufferBytes/mib, calls, failures, p99.Round(time.Millisecond), base.Round(time.Millisecond))
		if refused.Load() != 3 {
			t.Fatalf("%d of 3 streams over the budget were refused with OVER_CAPACITY", refused.Load())
		}
		if p-idle > 150*mib {
			t.Fatalf("RSS grew %d MiB over a %d MiB budget", (p-idle)/mib, boundsBufferBytes/mib)
		}
		if failures > 0 {
			t.Fatalf("the ordinary client failed %d of %d calls", failures, calls)
		}
		// The budget is whole again.
		if _, err := pb.put(convB, transcript(10, "after"), 5); err != nil {
			t.Fatalf("a stream after the refused ones: %v", err)
		}
	})
}

// openStream starts a PutTranscript stream with its header and one small
// chunk, and leaves it open.
func openStream(p *partner, id int64) (openv1.ConversationService_PutTranscriptClient, error) {
	st, err := p.conv.PutTranscript(p.ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{
		Header: &openv1.TranscriptHeader{ConversationId: id}}}); err != nil {
		return st, err
	}
	return st, st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{
		Chunk: &openv1.SentenceChunk{Sentences: transcript(2, "open")}}})
}

// streamOutcome waits for the server to end a stream the client never
// closes.
func streamOutcome(st openv1.ConversationService_PutTranscriptClient) error {
	var res openv1.PutTranscriptResponse
	return st.RecvMsg(&res)
}

func hasRetryInfo(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return true
		}
	}
	return false
}

func TestBoundsAnonymousLargeCallsAreRefusedUnread(t *testing.T) {
	s, fa, _ := boundsService(t)
	p := newPartner(t, s.GRPC(), fa.AppToken(t))
	base := unloadedP99(t, p, time.Second)
	stop := make(chan struct{})
	result := ordinaryClient(t, p, stop)
	idle := rss(s.PID())
	peak := peakRSS(s.PID(), stop)

	slowest := anonymousLargeCalls(t, s, 40)
	close(stop)
	calls, failures, p99 := result()
	pk := <-peak
	t.Logf("40 unauthenticated 15 MiB calls (20 without a token, 20 forged): RSS idle %d MiB, peak %d MiB; slowest refusal %s; ordinary client: %d calls, %d failed, p99 %s (unloaded %s)",
		idle/mib, pk/mib, slowest.Round(time.Millisecond), calls, failures, p99.Round(time.Millisecond), base.Round(time.Millisecond))
	if pk-idle > 60*mib {
		t.Fatalf("RSS grew %d MiB: the refused messages were read", (pk-idle)/mib)
	}
	if failures > 0 {
		t.Fatalf("the ordinary client failed %d of %d calls", failures, calls)
	}
	// Refused before the interceptors, they are still counted.
	refused := grepLines(metricsText(t, s), "mgv_grpc_refused_before_read_total{")
	var n float64
	for _, l := range strings.Split(refused, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			n += v
		}
	}
	if n < 40 || !strings.Contains(refused, `reason="UNAUTHENTICATED"`) {
		t.Fatalf("refusals counted %v, want at least 40 with UNAUTHENTICATED among them:\n%s", n, refused)
	}
}

// anonymousLargeCalls makes n gRPC calls of 15 MiB at once, half without
// a token and half with a forged one, each over the hostile clients' own
// connection as an attacker's would be; every one must be refused
// Unauthenticated. It returns the slowest refusal.
func anonymousLargeCalls(t *testing.T, s *Service, n int) time.Duration {
	// Encoded once and sent as it is, so the test's own marshalling of
	// n × 15 MiB does not load the machine the server is measured on.
	huge, err := proto.Marshal(&openv1.CreateConversationRequest{OriginConversationId: strings.Repeat("x", 15<<20)})
	if err != nil {
		t.Fatal(err)
	}
	conn := s.GRPC()
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for i := range n {
		wg.Go(func() {
			ctx := context.Background()
			if i%2 == 1 {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer forged.token.value")
			}
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			start := time.Now()
			var out []byte
			err := conn.Invoke(ctx, openv1.ConversationService_CreateConversation_FullMethodName, huge, &out, grpc.ForceCodecV2(rawCodec{}))
			if d := time.Since(start); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("an anonymous 15 MiB call: %v, want Unauthenticated", err)
			}
		})
	}
	wg.Wait()
	return time.Duration(slowest.Load())
}

func TestBoundsHTTPWriteDeadlinePerRoute(t *testing.T) {
	// The download's deadline leaves a fast reader time to fetch 40 MB on
	// a loaded machine; the slow reader below would need three times it.
	const write, download = time.Second, 8 * time.Second
	s := NewService(t, map[string]string{
		"MGV_HTTP_WRITE_TIMEOUT":          write.String(),
		"MGV_HTTP_DOWNLOAD_WRITE_TIMEOUT": download.String(),
		"MGV_RATELIMIT_ENABLED":           "false",
		"MGV_LOG_LEVEL":                   "warn",
	})
	f := NewFixture(t, s)
	s.Start()
	id := longTranscript(t, newPartner(t, s.GRPC(), f.AppToken(t)), "bounds-download", f.Reps[0].ID)
	token := f.Token(t, f.Admin)

	// A client reading about 1.6 MB a second would need 25 s; the download's
	// write deadline, not the 1 s of other routes, ends it. What the server
	// had written into the socket before the cut still arrives, so the end
	// comes a little after the deadline.
	start := time.Now()
	got := <-slowDownload(t, s, id, token)
	cut := time.Since(start)
	t.Logf("a slow reader of a ~40 MB transcript got %d MB before the connection ended after %s (download write deadline %s, other routes %s)",
		got/mib, cut.Round(time.Millisecond), download, write)
	if got >= 36*mib {
		t.Fatalf("the slow reader got the whole transcript (%d bytes); no write deadline", got)
	}
	if cut < download-500*time.Millisecond || cut > download+10*time.Second {
		t.Fatalf("the connection ended after %s, want after the download deadline %s", cut, download)
	}

	// A client that reads at once gets the whole transcript.
	resp, err := getWithToken(s.URL(fmt.Sprintf("/api/v1/conversations/%d/transcript", id)), token)
	if err != nil {
		t.Fatal(err)
	}
	if resp < 36*mib {
		t.Fatalf("a fast reader got %d bytes", resp)
	}
}

func getWithToken(url, token string) (_ int64, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.Copy(io.Discard, resp.Body)
}

// longTranscript creates a conversation of owner through p with 10,000
// sentences of 3,900 bytes: a download of about 40 MB.
func longTranscript(t *testing.T, p *partner, origin string, owner int64) int64 {
	t.Helper()
	id := p.create(origin, owner, time.Now().Add(-time.Hour), 3_600_000, nil)
	sentences := make([]*openv1.Sentence, 10_000)
	text := strings.Repeat("长", 1300)
	for i := range sentences {
		sentences[i] = &openv1.Sentence{Seq: int64(i), SpeakerKey: "rep", StartMs: int64(i) * 100, EndMs: int64(i)*100 + 50, Text: text}
	}
	if _, err := p.put(id, sentences, 1000); err != nil {
		t.Fatal(err)
	}
	return id
}

// slowDownload starts downloading conversation id's transcript from s with
// token, reading 64 KB every 40 ms (about 1.6 MB a second, 25 s for
// longTranscript's), and sends how many bytes arrived once the connection
// ends.
func slowDownload(t *testing.T, s *Service, id int64, token string) <-chan int {
	t.Helper()
	conn, err := net.Dial("tcp", s.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(64 << 10)
	if _, err := fmt.Fprintf(conn, "GET /api/v1/conversations/%d/transcript HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id, token); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		var got int
		buf := make([]byte, 64<<10)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := conn.Read(buf)
			got += n
			if err != nil {
				break
			}
			time.Sleep(40 * time.Millisecond)
		}
		done <- got
	}()
	return done
}

// Calls read for a caller the service does not vouch for are read a few
// at a time: methods that need no token (health, CreateAppToken, Ping) and
// calls with a revoked token, which the interceptors refuse only once
// grpc-go has read their request. 40 such calls of 15 MiB, each over its
// own connection, held 700 MB before; the rest wait briefly and are
// refused with RESOURCE_EXHAUSTED.
func TestBoundsUntrustedLargeCallsAreReadFewAtATime(t *testing.T) {
	s, fa, _ := boundsService(t)
	p := newPartner(t, s.GRPC(), fa.AppToken(t))
	app2 := fa.secondApp(t, "revoked-later")
	revokedApp, err := fa.tokens.IssueApp(&app2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dao.NewTokenVersions(fa.DB).Bump(context.Background(), model.TokenVersionApp, fa.Tenant.ID, app2.ID, "app_disabled", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the instance has polled the raise
	type huge struct {
		method, token string
		msg           proto.Message
	}
	calls := []huge{
		{healthpb.Health_Check_FullMethodName, "", &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 15<<20)}},
		{openv1.AuthService_CreateAppToken_FullMethodName, "", &openv1.CreateAppTokenRequest{AppKey: strings.Repeat("x", 15<<20)}},
		{openv1.SystemService_Ping_FullMethodName, "", &openv1.CreateAppTokenRequest{AppKey: strings.Repeat("x", 15<<20)}},
		{openv1.ConversationService_CreateConversation_FullMethodName, revokedApp, &openv1.CreateConversationRequest{OriginConversationId: strings.Repeat("x", 15<<20)}},
	}
	bodies := make([][]byte, len(calls))
	for i, c := range calls {
		if bodies[i], err = proto.Marshal(c.msg); err != nil {
			t.Fatal(err)
		}
	}
	base := unloadedP99(t, p, time.Second)
	stop := make(chan struct{})
	result := ordinaryClient(t, p, stop)
	idle := rss(s.PID())
	peak := peakRSS(s.PID(), stop)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[codes.Code]int{}
	for i := range 40 {
		c := calls[i%len(calls)]
		wg.Go(func() {
			conn := s.GRPC()
			ctx := context.Background()
			if c.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
			}
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var out []byte
			err := conn.Invoke(ctx, c.method, bodies[i%len(calls)], &out, grpc.ForceCodecV2(rawCodec{}))
			mu.Lock()
			answers[status.Code(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	n, failures, p99 := result()
	pk := <-peak
	t.Logf("40 untrusted 15 MiB calls (health, CreateAppToken, Ping, a revoked token), each over its own connection: RSS idle %d MiB, peak %d MiB; answers %v; ordinary client: %d calls, %d failed, p99 %s (unloaded %s)",
		idle/mib, pk/mib, answers, n, failures, p99.Round(time.Millisecond), base.Round(time.Millisecond))
	// grpc.max_untrusted_reads (4) reads of 15 MiB at once, each also
	// decoded, and the garbage of those done, which the collector (at
	// process.gc_percent 200) lets reach twice what is live: about 200 MiB,
	// where 700 MiB were held before the bound.
	if pk-idle > 300*mib {
		t.Fatalf("RSS grew %d MiB: more than the bound of untrusted reads were read at once", (pk-idle)/mib)
	}
	// Only Ping answers such a request (its message has no fields).
	if answers[codes.OK] > 10 || answers[codes.ResourceExhausted] == 0 {
		t.Fatalf("answers %v: want at most the pings served and some refused over the bound", answers)
	}
	if failures > 0 {
		t.Fatalf("the ordinary client failed %d of %d calls", failures, n)
	}
}

// One tenant's apps together hold at most grpc.max_streams_per_tenant
// transcript streams, so another tenant still gets one when the first has
// opened all it may.
func TestBoundsTranscriptStreamsPerTenant(t *testing.T) {
	s := NewService(t, map[string]string{
		"MGV_GRPC_STREAM_TIMEOUT":         boundsStreamTimeout.String(),
		"MGV_GRPC_MAX_STREAMS_PER_APP":    "2",
		"MGV_GRPC_MAX_STREAMS_PER_TENANT": "2",
		"MGV_GRPC_MAX_STREAMS":            "4",
		"MGV_RATELIMIT_ENABLED":           "false",
		"MGV_LOG_LEVEL":                   "warn",
	})
	fa, fb := NewFixture(t, s), NewFixture(t, s)
	s.Start()
	app2 := fa.secondApp(t, "second")
	token2, err := fa.tokens.IssueApp(&app2, 0)
	if err != nil {
		t.Fatal(err)
	}
	pa, pa2, pb := newPartner(t, s.GRPC(), fa.AppToken(t)), newPartner(t, s.GRPC(), token2), newPartner(t, s.GRPC(), fb.AppToken(t))
	convA := pa.create("tenant-cap-a", fa.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	convB := pb.create("tenant-cap-b", fb.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	for range 2 {
		if _, err := openStream(pa, convA); err != nil {
			t.Fatal(err)
		}
	}
	waitMetric(t, s, "mgv_grpc_transcript_streams_open", 2, 10*time.Second)
	st, err := openStream(pa2, convA)
	if err == nil || err == io.EOF {
		err = streamOutcome(st)
	}
	if code, reason, _ := rpcReason(err); code != codes.ResourceExhausted || reason != "OVER_CAPACITY" {
		t.Fatalf("tenant A's second app, its tenant at its cap: %v, want RESOURCE_EXHAUSTED OVER_CAPACITY", err)
	}
	if _, err := pb.put(convB, transcript(10, "b"), 5); err != nil {
		t.Fatalf("tenant B, while tenant A holds its share: %v", err)
	}
}
