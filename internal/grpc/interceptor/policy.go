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
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/megaview/mgvcore/internal/clientip"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/tracing"
)

// Unary runs the policy chain around unary calls; the operation is the full
// method name. ips decides the client address: the TCP peer, or the
// x-forwarded-for / x-real-ip metadata when the peer is a trusted proxy
// (nil trusts none).
// The chain is built once; the call (handler, request and Info, in one
// allocation) travels as the request value.
func Unary(chain policy.Middleware, ips *clientip.Resolver) grpc.UnaryServerInterceptor {
	h := chain(func(ctx context.Context, req any) (any, error) {
		c := req.(*grpcCall)
		c.flushHeader()
		return c.handler(ctx, c.req)
	})
	return func(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ReadDone(ctx) // grpc-go has read the request
		call := newCall(ctx, si.FullMethod, nil, ips)
		call.req, call.handler = req, handler
		resp, err := h(policy.WithInfo(ctx, &call.info), call)
		// Headers set after the handler (a refusal's Retry-After); a
		// unary call's header goes out with its answer, after this.
		call.flushHeader()
		return resp, toStatus(err)
	}
}

// Stream runs the policy chain around streaming calls; ips as for Unary.
func Stream(chain policy.Middleware, ips *clientip.Resolver) grpc.StreamServerInterceptor {
	h := chain(func(ctx context.Context, req any) (any, error) {
		c := req.(*grpcCall)
		c.flushHeader()
		return nil, c.streamHandler(c.srv, &stream{ServerStream: c.ss, ctx: ctx})
	})
	return func(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if ss.Context().Value(readDoneKey{}) != nil {
			ss = &firstRead{ServerStream: ss}
		}
		call := newCall(ss.Context(), si.FullMethod, ss, ips)
		call.srv, call.streamHandler = srv, handler
		_, err := h(policy.WithInfo(ss.Context(), &call.info), call)
		call.flushHeader()
		return toStatus(err)
	}
}

// firstRead gives back an untrusted read slot once the stream's first
// message is read.
type firstRead struct{ grpc.ServerStream }

func (f *firstRead) RecvMsg(m any) error {
	err := f.ServerStream.RecvMsg(m)
	ReadDone(f.Context())
	return err
}

// stream carries the context the policies made (deadline, span, caller).
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// grpcCall holds a call's Info, carries its metadata, and holds what the
// chain's last step needs to run the handler, in one allocation.
type grpcCall struct {
	info policy.Info
	ctx  context.Context
	ss   grpc.ServerStream // nil for unary calls

	// header collects what the policies set, sent to grpc-go in one piece
	// (before the handler, and after the chain for what came later)
	// rather than one metadata map and merge per header.
	header metadata.MD

	req           any
	handler       grpc.UnaryHandler
	srv           any
	streamHandler grpc.StreamHandler
}

func (g *grpcCall) Header(key string) string {
	if v := metadata.ValueFromIncomingContext(g.ctx, metadataKey(key)); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (g *grpcCall) SetHeader(key, value string) {
	if g.header == nil {
		g.header = make(metadata.MD, 2)
	}
	g.header[metadataKey(key)] = []string{value}
}

// flushHeader hands the headers set so far to grpc-go.
func (g *grpcCall) flushHeader() {
	if len(g.header) == 0 {
		return
	}
	md := g.header
	g.header = nil
	if g.ss != nil {
		_ = g.ss.SetHeader(md)
		return
	}
	_ = grpc.SetHeader(g.ctx, md)
}

func (g *grpcCall) SuccessStatus() int { return http.StatusOK }

// metadataKeys spells the headers the policies use in metadata's lower
// case, so reading or setting one converts nothing.
var metadataKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{policy.HeaderRequestID, policy.HeaderRetryAfter, tracing.HeaderTraceID, "Authorization"} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

func metadataKey(key string) string {
	if k, ok := metadataKeys[key]; ok {
		return k
	}
	return strings.ToLower(key)
}

// Param is a field of the request message, as text; empty when the call
// is a stream or the message has no such field.
func (g *grpcCall) Param(name string) string {
	m, ok := g.req.(proto.Message)
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

func newCall(ctx context.Context, method string, ss grpc.ServerStream, ips *clientip.Resolver) *grpcCall {
	call := &grpcCall{ctx: ctx, ss: ss}
	call.info = policy.Info{
		Operation:     method,
		Transport:     policy.GRPC,
		Method:        http.MethodPost,
		Route:         method,
		ContentLength: -1,
		Carrier:       call,
		Start:         time.Now(),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		call.info.ClientIP = clientIP(ctx, p.Addr, ips)
	}
	return call
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
