//go:build e2e

package e2e

import (
	"context"
	encbin "encoding/binary"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// heapAfterGC is the service's HeapAlloc after a garbage collection (the
// admin port's heap profile with gc=1; MGV_ADMIN_PPROF on).
func heapAfterGC(t *testing.T, s *Service) int64 {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`# HeapAlloc = (\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no HeapAlloc in the heap profile (status %d)", resp.StatusCode)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// TestMalformedStreamRequestsAreNotKept: an anonymous server-streaming call
// (health's Watch) whose request does not decode, followed by a second
// request message or by the client's cancel. grpc-go decodes the message
// and then fails the receive itself, and the decode failure recorded for
// the InvalidArgument answer used to stay behind, keeping the message (4
// MiB here) for the life of the process.
func TestMalformedStreamRequestsAreNotKept(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_ADMIN_PPROF": "true"})
	s.Start()
	cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(s.TLSConfig(false))),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()

	// Field 1, a string of 4 MiB, then field number 0: not a valid tag.
	const size = 4 << 20
	msg := encbin.AppendUvarint([]byte{0x0a}, size)
	msg = append(msg, make([]byte, size)...)
	msg = append(msg, 0x00)
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	open := func(ctx context.Context) grpc.ClientStream {
		st, err := cc.NewStream(ctx, desc, "/grpc.health.v1.Health/Watch")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	base := heapAfterGC(t, s)
	const calls = 10
	for range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st := open(ctx)
		_ = st.SendMsg(msg)
		_ = st.SendMsg(msg)
		_ = st.CloseSend()
		var out []byte
		err := st.RecvMsg(&out)
		cancel()
		if err == nil {
			t.Fatal("a Watch of two malformed requests was answered")
		}
	}
	for range calls {
		ctx, cancel := context.WithCancel(context.Background())
		_ = open(ctx).SendMsg(msg)
		time.Sleep(100 * time.Millisecond)
		cancel()
	}
	time.Sleep(time.Second)
	// Two collections: buffers that grpc-go pools survive the first.
	heapAfterGC(t, s)
	after := heapAfterGC(t, s)
	t.Logf("%d malformed Watch requests of %d MiB: heap after a collection %d MiB before, %d MiB after", 2*calls, size>>20, base>>20, after>>20)
	if after-base > size {
		t.Fatalf("the heap kept %d MiB after the calls ended", (after-base)>>20)
	}
}
