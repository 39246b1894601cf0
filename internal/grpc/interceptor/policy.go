// Package interceptor adapts the transport-neutral policies of
// internal/policy to gRPC.
package interceptor

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
)

// Unary runs the policy chain around unary calls; the operation is the full
// method name.
// The chain is built once; the call's handler travels with the request.
func Unary(chain policy.Middleware) grpc.UnaryServerInterceptor {
	h := chain(func(ctx context.Context, req any) (any, error) {
		c := req.(unaryCall)
		return c.handler(ctx, c.req)
	})
	return func(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		info := newInfo(ctx, si.FullMethod, func(md metadata.MD) { _ = grpc.SetHeader(ctx, md) })
		resp, err := h(policy.WithInfo(ctx, info), unaryCall{req: req, handler: handler})
		return resp, toStatus(err)
	}
}

type unaryCall struct {
	req     any
	handler grpc.UnaryHandler
}

// Stream runs the policy chain around streaming calls.
func Stream(chain policy.Middleware) grpc.StreamServerInterceptor {
	h := chain(func(ctx context.Context, req any) (any, error) {
		c := req.(streamCall)
		return nil, c.handler(c.srv, &stream{ServerStream: c.ss, ctx: ctx})
	})
	return func(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		info := newInfo(ss.Context(), si.FullMethod, func(md metadata.MD) { _ = ss.SetHeader(md) })
		_, err := h(policy.WithInfo(ss.Context(), info), streamCall{srv: srv, ss: ss, handler: handler})
		return toStatus(err)
	}
}

type streamCall struct {
	srv     any
	ss      grpc.ServerStream
	handler grpc.StreamHandler
}

// stream carries the context the policies made (deadline, span, caller).
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

func newInfo(ctx context.Context, method string, setHeader func(metadata.MD)) *policy.Info {
	md, _ := metadata.FromIncomingContext(ctx)
	info := &policy.Info{
		Operation:     method,
		Transport:     policy.GRPC,
		Method:        "POST",
		Route:         method,
		ContentLength: -1,
		Header: func(key string) string {
			if v := md.Get(strings.ToLower(key)); len(v) > 0 {
				return v[0]
			}
			return ""
		},
		SetHeader:     func(key, value string) { setHeader(metadata.Pairs(strings.ToLower(key), value)) },
		SuccessStatus: func() int { return 200 },
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		info.ClientIP = p.Addr.String()
		if host, _, err := net.SplitHostPort(info.ClientIP); err == nil {
			info.ClientIP = host
		}
	}
	return info
}

// toStatus makes every error a gRPC status with ErrorInfo; unknown errors
// become Internal without their text.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	return errs.From(err)
}
