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
