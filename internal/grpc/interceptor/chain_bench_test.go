package interceptor_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/grpc/interceptor"
	"github.com/megaview/mgvcore/internal/policy/policytest"
)

// headerStream takes the header metadata grpc.SetHeader gives the call's
// stream, as grpc-go's server stream does before the header is sent.
type headerStream struct{ md metadata.MD }

func (s *headerStream) Method() string { return policytest.PingOperation }
func (s *headerStream) SetHeader(md metadata.MD) error {
	s.md = metadata.Join(s.md, md)
	return nil
}
func (s *headerStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *headerStream) SetTrailer(metadata.MD) error    { return nil }

// BenchmarkUnaryChain runs SystemService.Ping through the unary interceptor
// as production builds it, with tracing off, the pro sampler (1 %) and
// every call sampled; "bare" calls the handler alone. The call context
// carries what grpc-go gives it (peer, incoming metadata), without a
// transport: allocs/op counts the chain's own work.
func BenchmarkUnaryChain(b *testing.B) {
	ctx := peer.NewContext(metadata.NewIncomingContext(context.Background(), metadata.Pairs("user-agent", "bench")),
		&peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	stream := &headerStream{}
	ctx = grpc.NewContextWithServerTransportStream(ctx, stream)
	info := &grpc.UnaryServerInfo{FullMethod: policytest.PingOperation}
	handler := func(context.Context, any) (any, error) { return &openv1.PingResponse{Pong: "pong"}, nil }
	req := &openv1.PingRequest{}
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := handler(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, name := range []string{"untraced", "pro-1pct", "sampled"} {
		b.Run(name, func(b *testing.B) {
			unary := interceptor.Unary(policytest.Chain(b, policytest.Tracers(b)[name]()), nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				stream.md = nil
				if _, err := unary(ctx, req, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
