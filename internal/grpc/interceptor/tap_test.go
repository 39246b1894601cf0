package interceptor

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/megaview/mgvcore/internal/breaker"
)

func TestTapRefusesWithoutAValidToken(t *testing.T) {
	tp := Tap{
		Verify: func(token string) (bool, error) {
			if token != "good" {
				return false, errors.New("bad token")
			}
			return true, nil
		},
		Public: map[string]bool{"/mgv.open.v1.SystemService/Ping": true},
		Timeouts: map[string]time.Duration{
			"/mgv.open.v1.ConversationService/PutTranscript": time.Minute,
			"/mgv.open.v1.EventService/StreamEvents":         0,
		},
		Timeout: time.Second,
	}
	refused := map[string]int{}
	tp.Refused = func(reason string) { refused[reason]++ }
	call := func(method string, md metadata.MD) (context.Context, error) {
		return tp.Handle(context.Background(), &tap.Info{FullMethodName: method, Header: md})
	}
	for _, c := range []struct {
		method string
		md     metadata.MD
		code   codes.Code
	}{
		{"/mgv.open.v1.ConversationService/PutTranscript", nil, codes.Unauthenticated},
		{"/mgv.open.v1.ConversationService/PutTranscript", metadata.Pairs("authorization", "Basic good"), codes.Unauthenticated},
		{"/mgv.open.v1.ConversationService/PutTranscript", metadata.Pairs("authorization", "Bearer forged"), codes.Unknown},
		{"/mgv.open.v1.ConversationService/PutTranscript", metadata.Pairs("authorization", "Bearer good"), codes.OK},
		{"/mgv.open.v1.SystemService/Ping", nil, codes.OK},
		{"/grpc.health.v1.Health/Check", nil, codes.OK},
	} {
		_, err := call(c.method, c.md)
		if got := status.Code(err); got != c.code && (c.code != codes.Unknown || got == codes.OK) {
			t.Errorf("%s %v: %v, want %v", c.method, c.md, err, c.code)
		}
	}
	if refused["UNAUTHENTICATED"] != 2 || len(refused) != 2 {
		t.Errorf("refusals reported %v, want 2 UNAUTHENTICATED and 1 for the forged token", refused)
	}
	ctx, err := call("/mgv.open.v1.ConversationService/PutTranscript", metadata.Pairs("authorization", "Bearer good"))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Minute {
		t.Fatalf("stream deadline %v %v, want within a minute", d, ok)
	}
	for _, m := range []string{"/mgv.open.v1.SystemService/Ping", "/grpc.health.v1.Health/Check"} {
		ctx, _ = call(m, nil)
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Second {
			t.Fatalf("%s: deadline %v %v, want the default, within a second", m, d, ok)
		}
	}
	ctx, _ = call("/mgv.open.v1.EventService/StreamEvents", metadata.Pairs("authorization", "Bearer good"))
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("a stream without a deadline of its own got one")
	}
}

// The breakers ignore a call that outlived the deadline the client set,
// never one that outlived the service's own timeout, which the tap adds: a
// call outliving that one is the service's fault, and must count.
func TestCallerDeadlineIsTheClients(t *testing.T) {
	tp := Tap{Verify: func(string) (bool, error) { return true, nil }, Timeout: time.Millisecond}
	const method = "/mgv.open.v1.ConversationService/ListConversations"
	md := metadata.Pairs("authorization", "Bearer good")
	ctx, err := tp.Handle(context.Background(), &tap.Info{FullMethodName: method, Header: md})
	if err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if got := breaker.Classify(ctx, context.DeadlineExceeded); got != breaker.Failure {
		t.Errorf("past the service's own timeout: %v, want failure", got)
	}
	client, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
	defer cancel()
	tp.Timeout = time.Minute
	if ctx, err = tp.Handle(client, &tap.Info{FullMethodName: method, Header: md}); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if got := breaker.Classify(ctx, errors.New("i/o timeout")); got != breaker.Ignore {
		t.Errorf("past the client's deadline: %v, want ignore", got)
	}
}

// Calls read for a caller the instance does not vouch for (a method that
// needs no token, a genuine token it no longer honours) take an untrusted
// read slot from the headers on, given back once their request is read or
// they end; over the bound they wait briefly, then are refused. Calls with
// an honoured token never take one.
func TestTapBoundsUntrustedReads(t *testing.T) {
	tp := Tap{
		Verify: func(token string) (bool, error) {
			if token == "forged" {
				return false, errors.New("bad token")
			}
			return token == "honoured", nil
		},
		Public:    map[string]bool{"/mgv.open.v1.SystemService/Ping": true},
		Untrusted: semaphore.NewWeighted(2),
		Timeout:   time.Minute,
	}
	call := func(method, token string) (context.Context, context.CancelFunc, error) {
		var md metadata.MD
		if token != "" {
			md = metadata.Pairs("authorization", "Bearer "+token)
		}
		stream, end := context.WithCancel(context.Background())
		ctx, err := tp.Handle(stream, &tap.Info{FullMethodName: method, Header: md})
		return ctx, end, err
	}
	const put = "/mgv.open.v1.ConversationService/PutTranscript"
	ping, endPing, err := call("/mgv.open.v1.SystemService/Ping", "")
	if err != nil {
		t.Fatal(err)
	}
	_, endRevoked, err := call(put, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	// Both slots taken: an honoured token still goes through at once, an
	// anonymous health check waits, then is refused.
	for range 3 {
		if _, end, err := call(put, "honoured"); err != nil {
			t.Fatalf("an honoured token with the untrusted reads full: %v", err)
		} else {
			end()
		}
	}
	start := time.Now()
	if _, _, err := call("/grpc.health.v1.Health/Check", ""); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a third untrusted read: %v, want RESOURCE_EXHAUSTED", err)
	}
	if waited := time.Since(start); waited < untrustedWait {
		t.Errorf("refused after %s, want after waiting %s", waited, untrustedWait)
	}
	if _, _, err := call(put, "forged"); err == nil || status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("a forged token: %v, want its own refusal, not a wait", err)
	}
	// The ping's request is read: its slot is free, though the call goes on.
	ReadDone(ping)
	ReadDone(ping)
	health, endHealth, err := call("/grpc.health.v1.Health/Check", "")
	if err != nil {
		t.Fatalf("after a read ended: %v", err)
	}
	// The revoked token's call ends unread: its slot is free too.
	endRevoked()
	go func() { time.Sleep(20 * time.Millisecond); endHealth() }()
	for range 2 {
		_, end, err := call("/grpc.health.v1.Health/Check", "")
		if err != nil {
			t.Fatalf("after the calls ended: %v", err)
		}
		defer end()
	}
	endPing()
	_ = health
}

// An untrusted call whose request does not arrive within the read window
// ends, giving its slot back; one whose request was read goes on. A good
// token on a public method makes its call trusted.
func TestTapEndsAnUntrustedCallWhoseRequestNeverComes(t *testing.T) {
	const ping = "/mgv.open.v1.SystemService/Ping"
	tp := Tap{
		Verify:    func(token string) (bool, error) { return token == "honoured", nil },
		Public:    map[string]bool{ping: true},
		Untrusted: semaphore.NewWeighted(1),
		Timeout:   time.Minute,
	}
	call := func(md metadata.MD) (context.Context, error) {
		return tp.Handle(context.Background(), &tap.Info{FullMethodName: ping, Header: md})
	}
	silent, err := call(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(metadata.Pairs("authorization", "Bearer honoured")); err != nil {
		t.Fatalf("a ping with a good token, the untrusted reads full: %v", err)
	}
	select {
	case <-silent.Done():
	case <-time.After(untrustedReadWindow + time.Second):
		t.Fatalf("a call that never sent its request still open after %s", untrustedReadWindow+time.Second)
	}
	read, err := call(metadata.Pairs("authorization", "Bearer revoked"))
	if err != nil {
		t.Fatalf("after the silent call ended: %v", err)
	}
	ReadDone(read)
	time.Sleep(untrustedReadWindow + 200*time.Millisecond)
	if read.Err() != nil {
		t.Fatalf("a call whose request was read ended at the read window: %v", read.Err())
	}
}
