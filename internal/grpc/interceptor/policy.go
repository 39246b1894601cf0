// Package interceptor adapts the transport-neutral policies of
// internal/policy to gRPC.
package interceptor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/megaview/mgvcore/internal/clientip"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
)

// Unary runs the policy chain around unary calls; the operation is the full
// method name. ips decides the client address: the TCP peer, or the
// x-forwarded-for / x-real-ip metadata when the peer is a trusted proxy
// (nil trusts none).
// The chain is built once; the call's handler travels with the request.
func Unary(chain policy.Middleware, ips *clientip.Resolver) grpc.UnaryServerInterceptor {
	h := chain(func(ctx context.Context, req any) (any, error) {
		c := req.(unaryCall)
		return c.handler(ctx, c.req)
	})
	return func(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		info := newInfo(ctx, si.FullMethod, nil, ips)
		info.Carrier.(*grpcCall).msg = req
		resp, err := h(policy.WithInfo(ctx, info), unaryCall{req: req, handler: handler})
		return resp, toStatus(err)
	}
}

type unaryCall struct {
	req     any
	handler grpc.UnaryHandler
}

// Stream runs the policy chain around streaming calls; ips as for Unary.
func Stream(chain policy.Middleware, ips *clientip.Resolver) grpc.StreamServerInterceptor {
	h := chain(func(ctx context.Context, req any) (any, error) {
		c := req.(streamCall)
		return nil, c.handler(c.srv, &stream{ServerStream: c.ss, ctx: ctx})
	})
	return func(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		info := newInfo(ss.Context(), si.FullMethod, ss, ips)
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

// grpcCall holds a call's Info and carries its metadata, in one allocation.
type grpcCall struct {
	info policy.Info
	ctx  context.Context
	ss   grpc.ServerStream // nil for unary calls
	msg  any               // the request message of a unary call
}

func (g *grpcCall) Header(key string) string {
	if v := metadata.ValueFromIncomingContext(g.ctx, strings.ToLower(key)); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (g *grpcCall) SetHeader(key, value string) {
	md := metadata.Pairs(strings.ToLower(key), value)
	if g.ss != nil {
		_ = g.ss.SetHeader(md)
		return
	}
	_ = grpc.SetHeader(g.ctx, md)
}

func (g *grpcCall) SuccessStatus() int { return http.StatusOK }

// Param is a field of the request message, as text; empty when the call
// is a stream or the message has no such field.
func (g *grpcCall) Param(name string) string {
	m, ok := g.msg.(proto.Message)
	if !ok {
		return ""
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil || f.IsList() || f.IsMap() || f.Message() != nil || !r.Has(f) {
		return ""
	}
	return fmt.Sprint(r.Get(f).Interface())
}

func newInfo(ctx context.Context, method string, ss grpc.ServerStream, ips *clientip.Resolver) *policy.Info {
	call := &grpcCall{ctx: ctx, ss: ss}
	call.info = policy.Info{
		Operation:     method,
		Transport:     policy.GRPC,
		Method:        http.MethodPost,
		Route:         method,
		ContentLength: -1,
		Carrier:       call,
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		call.info.ClientIP = clientIP(ctx, p.Addr, ips)
	}
	return &call.info
}

// clientIP is the peer's address, unless the peer is a trusted proxy that
// forwarded the client's in x-forwarded-for (or x-real-ip) metadata, read
// as the HTTP headers are. Metadata is only looked at for a trusted peer.
func clientIP(ctx context.Context, addr net.Addr, ips *clientip.Resolver) string {
	var ap netip.AddrPort
	if tcp, ok := addr.(*net.TCPAddr); ok {
		ap = tcp.AddrPort()
	} else {
		return ips.Resolve(addr.String(), nil, "")
	}
	if !ips.Trusted(ap.Addr()) {
		return ap.Addr().Unmap().WithZone("").String()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var realIP string
	if v := md.Get("x-real-ip"); len(v) > 0 {
		realIP = v[0]
	}
	return ips.Resolve(ap.String(), md.Get("x-forwarded-for"), realIP)
}

// toStatus makes every error a gRPC status with ErrorInfo; unknown errors
// become Internal without their text.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	return errs.From(err)
}
