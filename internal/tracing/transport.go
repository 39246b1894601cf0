package tracing

import (
	"net/http"
)

// RoundTripper traces outgoing HTTP calls (Elasticsearch) made inside a
// traced call: one client span per request, named "<peer> <METHOD>", whose
// context travels to the callee in the request headers. Inside an
// unsampled trace only the trace's context travels. A nil base means
// http.DefaultTransport.
func RoundTripper(t Tracer, base http.RoundTripper, peer string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &roundTripper{t: t, base: base, peer: peer}
}

type roundTripper struct {
	t    Tracer
	base http.RoundTripper
	peer string
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := rt.t.StartClient(req.Context(), rt.peer+" "+req.Method)
	if _, off := span.(noopSpan); off {
		if TraceID(ctx) == "" {
			return rt.base.RoundTrip(req)
		}
		// An unsampled trace: no span, but the callee still learns the
		// trace and that it is not sampled.
		out := req.Clone(ctx)
		rt.t.Inject(ctx, out.Header.Set)
		return rt.base.RoundTrip(out)
	}
	defer span.Finish()
	span.SetTag("peer.service", rt.peer)
	span.SetTag("http.method", req.Method)
	// The path names the index and the API; the query may hold user input.
	span.SetTag("http.url", req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)

	// A RoundTripper must not change the caller's request.
	out := req.Clone(ctx)
	rt.t.Inject(ctx, out.Header.Set)
	resp, err := rt.base.RoundTrip(out)
	if err != nil {
		span.SetError(err)
		return nil, err
	}
	span.SetTag("http.status_code", resp.StatusCode)
	if resp.StatusCode >= http.StatusInternalServerError {
		span.SetTag("error", true)
	}
	return resp, nil
}
