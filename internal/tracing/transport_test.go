package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRoundTripperMakesClientSpansAndPropagates(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	rec := NewRecorder()
	client := &http.Client{Transport: RoundTripper(rec, nil, "elasticsearch")}
	ctx, server := rec.StartServer(context.Background(), "op", nil)

	for _, path := range []string{"/idx/_search?q=secret", "/broken"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("uber-trace-id") != "" {
			t.Error("the caller's request was modified")
		}
		if seen.Get("uber-trace-id") == "" {
			t.Errorf("%s: no uber-trace-id reached the server: %v", path, seen)
		}
	}
	server.Finish()

	spans := rec.Spans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	ok, broken, op := spans[0], spans[1], spans[2]
	for _, s := range []RecordedSpan{ok, broken} {
		if s.Operation != "elasticsearch POST" || s.ParentID != op.SpanID || s.Tags["span.kind"] != "client" {
			t.Errorf("span %+v", s)
		}
	}
	if ok.Tags["http.url"] != srv.URL+"/idx/_search" || ok.Tags["http.status_code"] != 200 || ok.Tags["error"] == true {
		t.Errorf("ok span tags %v", ok.Tags)
	}
	if broken.Tags["http.status_code"] != 503 || broken.Tags["error"] != true {
		t.Errorf("broken span tags %v", broken.Tags)
	}
}

func TestRoundTripperRecordsTransportErrors(t *testing.T) {
	rec := NewRecorder()
	failing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") })
	client := &http.Client{Transport: RoundTripper(rec, failing, "elasticsearch")}
	ctx, server := rec.StartServer(context.Background(), "op", nil)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/", nil)
	if _, err := client.Do(req); err == nil {
		t.Fatal("no error")
	}
	server.Finish()
	if s := rec.Spans()[0]; s.Tags["error"] != true {
		t.Errorf("span tags %v", s.Tags)
	}
}

func TestRoundTripperOutsideATracedCall(t *testing.T) {
	rec := NewRecorder()
	var headerSeen bool
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		headerSeen = r.Header.Get("uber-trace-id") != ""
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	client := &http.Client{Transport: RoundTripper(rec, base, "elasticsearch")}
	resp, err := client.Get("http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if headerSeen || len(rec.Spans()) != 0 {
		t.Errorf("traced a call outside any trace: header %v spans %v", headerSeen, rec.Spans())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
