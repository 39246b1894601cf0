package breaker

import "net/http"

// RoundTripper guards outbound HTTP (Elasticsearch, any HTTP dependency)
// with b: an open breaker answers at once with errs.Unavailable, which the
// http.Client hands back wrapped in a *url.Error (errs.From still finds
// it). Transport errors and 5xx answers count as failures; the request's
// context carries its deadline. next nil means http.DefaultTransport.
func RoundTripper(b *Breaker, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &roundTripper{b: b, next: next}
}

type roundTripper struct {
	b    *Breaker
	next http.RoundTripper
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	t, err := rt.b.Allow()
	if err != nil {
		// RoundTrip must close the body, even when it sends nothing.
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		t.Done(req.Context(), err)
		return nil, err
	}
	t.Record(ByStatus(resp.StatusCode))
	return resp, nil
}
