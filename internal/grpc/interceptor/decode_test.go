package interceptor

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

func TestMalformedRequestIsInvalidArgument(t *testing.T) {
	d := &Decode{}
	codec := d.Codec()
	for _, tc := range []struct {
		name    string
		payload []byte
		want    codes.Code
	}{
		{"valid", []byte{0x0a, 0x02, 'h', 'i'}, codes.OK},
		{"truncated", []byte{0x0a, 0x7f, 'h'}, codes.InvalidArgument},
		{"bad wire type", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := new(openv1.ListUsersRequest)
			if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.payload)}, req); err != nil {
				t.Fatalf("the codec must not fail on its own: %v", err)
			}
			handled := false
			_, err := d.Unary()(context.Background(), req, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
				handled = true
				return nil, nil
			})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code %v, want %v (err %v)", got, tc.want, err)
			}
			if msg := status.Convert(err).Message(); tc.want != codes.OK &&
				(!strings.Contains(msg, "mgv.open.v1.ListUsersRequest") || strings.Contains(msg, "openv1") || strings.Contains(msg, "*")) {
				t.Errorf("the message names the Go type, not the protobuf message: %q", msg)
			}
			if handled != (tc.want == codes.OK) {
				t.Fatalf("handler ran: %v", handled)
			}
			if _, left := d.failed.Load(req); left || d.pending.Load() != 0 {
				t.Fatal("a recorded failure was not collected")
			}
		})
	}
}

// failingStream decodes its request with the codec and then fails the
// receive, as grpc-go does on a second request message of a
// server-streaming call or on the client's cancel.
type failingStream struct {
	grpc.ServerStream
	codec interface {
		Unmarshal(mem.BufferSlice, any) error
	}
	payload []byte
}

func (f *failingStream) RecvMsg(m any) error {
	_ = f.codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(f.payload)}, m)
	return status.Error(codes.Internal, "cardinality violation: received multiple request messages for non-client-streaming RPC")
}

// TestAFailedReceiveCollectsItsDecodeFailure: a receive that fails after
// the message was decoded leaves no recorded failure behind, which would
// keep the message for the life of the process.
func TestAFailedReceiveCollectsItsDecodeFailure(t *testing.T) {
	d := &Decode{}
	err := d.Stream()(nil, &failingStream{codec: d.Codec(), payload: []byte{0x0a, 0x7f, 'h'}}, &grpc.StreamServerInfo{},
		func(_ any, ss grpc.ServerStream) error { return ss.RecvMsg(new(openv1.ListUsersRequest)) })
	if status.Code(err) != codes.Internal {
		t.Fatalf("err %v, want grpc-go's own", err)
	}
	n := 0
	d.failed.Range(func(any, any) bool { n++; return true })
	if n != 0 || d.pending.Load() != 0 {
		t.Fatalf("%d failures left recorded (pending %d)", n, d.pending.Load())
	}
}
