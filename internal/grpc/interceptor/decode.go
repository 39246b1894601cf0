package interceptor

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/megaview/mgvcore/internal/errs"
)

// grpc-go answers a request it cannot decode with Internal, before any
// interceptor runs. A malformed message is the client's fault, so Decode
// lets the codec record the failure and the interceptors answer
// InvalidArgument instead (QUALITY R5).
type Decode struct {
	failed sync.Map // message pointer → decode error
	// pending counts recorded failures, so the common case of none costs
	// one atomic load per call.
	pending atomic.Int64
}

// Codec is the server codec: protobuf, recording decode failures.
func (d *Decode) Codec() encoding.CodecV2 {
	return decodeCodec{CodecV2: encoding.GetCodecV2(proto.Name), d: d}
}

type decodeCodec struct {
	encoding.CodecV2
	d *Decode
}

func (c decodeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		c.d.failed.Store(v, err)
		c.d.pending.Add(1)
	}
	return nil
}

func (d *Decode) check(msg any) error {
	if d.pending.Load() == 0 {
		return nil
	}
	if err, ok := d.failed.LoadAndDelete(msg); ok {
		d.pending.Add(-1)
		return errs.InvalidArgument("request", "is not a valid %s message: %v", messageName(msg), err)
	}
	return nil
}

// forget drops the failure recorded for msg, if any.
func (d *Decode) forget(msg any) {
	if d.pending.Load() == 0 {
		return
	}
	if _, ok := d.failed.LoadAndDelete(msg); ok {
		d.pending.Add(-1)
	}
}

// messageName is the protobuf name of msg (mgv.open.v1.ListUsersRequest),
// the name partners know from the .proto files, never the Go type's.
func messageName(msg any) string {
	if m, ok := msg.(protoreflect.ProtoMessage); ok {
		return string(m.ProtoReflect().Descriptor().FullName())
	}
	return "protobuf"
}

// Unary answers InvalidArgument for a request that did not decode.
func (d *Decode) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := d.check(req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream answers InvalidArgument for a streamed message that did not decode.
func (d *Decode) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &decodeStream{ServerStream: ss, d: d})
	}
}

type decodeStream struct {
	grpc.ServerStream
	d *Decode
}

// RecvMsg collects the failure the codec recorded for m whatever grpc-go
// answers: it can decode a message and still fail the receive (a second
// request message of a server-streaming call, the client's cancel), and a
// failure left in the map would keep the message, up to
// grpc.max_recv_msg_bytes, for the life of the process.
func (s *decodeStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		s.d.forget(m)
		return err
	}
	return s.d.check(m)
}
