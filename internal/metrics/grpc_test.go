package metrics

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const pingMethod = "/mgv.open.v1.SystemService/Ping"

func TestGRPCUnaryCallsCounted(t *testing.T) {
	g := New().GRPC
	unary := g.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: pingMethod}
	ok := func(context.Context, any) (any, error) { return "pong", nil }
	notFound := func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "no") }
	gone := func(context.Context, any) (any, error) { return nil, context.Canceled }
	for _, h := range []grpc.UnaryHandler{ok, ok, notFound, gone} {
		_, _ = unary(context.Background(), nil, info, h)
	}
	l := []string{"unary", "mgv.open.v1.SystemService", "Ping"}
	for name, c := range map[string]struct {
		got  float64
		want float64
	}{
		"started":             {testutil.ToFloat64(g.started.WithLabelValues(l...)), 4},
		"received":            {testutil.ToFloat64(g.received.WithLabelValues(l...)), 4},
		"sent (answers only)": {testutil.ToFloat64(g.sent.WithLabelValues(l...)), 2},
		"handled OK":          {testutil.ToFloat64(g.handled.WithLabelValues(append(l, "OK")...)), 2},
		"handled NotFound":    {testutil.ToFloat64(g.handled.WithLabelValues(append(l, "NotFound")...)), 1},
		"handled Canceled":    {testutil.ToFloat64(g.handled.WithLabelValues(append(l, "Canceled")...)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(g.handling, "grpc_server_handling_seconds"); n != 1 {
		t.Errorf("%d handling histograms, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = unary(context.Background(), nil, info, ok) }); n > 0 {
		t.Errorf("a counted call allocates %v times, want none", n)
	}
}

// fakeStream receives two messages, then io.EOF; sends fail after one.
type fakeStream struct {
	grpc.ServerStream
	recv, sent int
}

func (f *fakeStream) Context() context.Context { return context.Background() }
func (f *fakeStream) RecvMsg(any) error {
	if f.recv == 2 {
		return io.EOF
	}
	f.recv++
	return nil
}
func (f *fakeStream) SendMsg(any) error {
	if f.sent == 1 {
		return errors.New("broken")
	}
	f.sent++
	return nil
}

func TestGRPCStreamMessagesCounted(t *testing.T) {
	g := New().GRPC
	info := &grpc.StreamServerInfo{FullMethod: "/mgv.open.v1.ConversationService/PutTranscript", IsClientStream: true}
	err := g.StreamServerInterceptor()(nil, &fakeStream{}, info, func(_ any, ss grpc.ServerStream) error {
		for {
			if err := ss.RecvMsg(nil); err != nil {
				break
			}
		}
		_ = ss.SendMsg(nil)
		_ = ss.SendMsg(nil)
		return status.Error(codes.ResourceExhausted, "full")
	})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err %v", err)
	}
	l := []string{"client_stream", "mgv.open.v1.ConversationService", "PutTranscript"}
	if got := testutil.ToFloat64(g.received.WithLabelValues(l...)); got != 2 {
		t.Errorf("received %v, want 2", got)
	}
	if got := testutil.ToFloat64(g.sent.WithLabelValues(l...)); got != 1 {
		t.Errorf("sent %v, want 1 (the failed send is not counted)", got)
	}
	if got := testutil.ToFloat64(g.handled.WithLabelValues(append(l, "ResourceExhausted")...)); got != 1 {
		t.Errorf("handled ResourceExhausted %v, want 1", got)
	}
}

type services map[string]grpc.ServiceInfo

func (s services) GetServiceInfo() map[string]grpc.ServiceInfo { return s }

func TestGRPCInitializeStartsEverySeriesAtZero(t *testing.T) {
	g := New().GRPC
	g.InitializeMetrics(services{
		"mgv.open.v1.SystemService":       {Methods: []grpc.MethodInfo{{Name: "Ping"}}},
		"mgv.open.v1.ConversationService": {Methods: []grpc.MethodInfo{{Name: "PutTranscript", IsClientStream: true}}},
	})
	if n := testutil.CollectAndCount(g.handled); n != 2*17 {
		t.Errorf("%d handled series, want one per code for each of 2 methods (34)", n)
	}
	if n := testutil.CollectAndCount(g.started); n != 2 {
		t.Errorf("%d started series, want 2", n)
	}
	if got := testutil.ToFloat64(g.started.WithLabelValues("client_stream", "mgv.open.v1.ConversationService", "PutTranscript")); got != 0 {
		t.Errorf("started %v before any call", got)
	}
}
