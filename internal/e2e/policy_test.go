//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec sends and receives bytes as they are, to put malformed frames on
// the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

func TestPolicyChainEdges(t *testing.T) {
	s := NewService(t, map[string]string{
		"MGV_GRPC_MAX_RECV_MSG_BYTES": "4096",
		"MGV_HTTP_MAX_BODY_BYTES":     "1024",
		"MGV_ADMIN_PPROF":             "true",
	})
	s.Start()

	t.Run("unknown route is a 404 envelope", func(t *testing.T) {
		body := getJSON(t, s.URL("/api/v1/no/such/thing"), http.StatusNotFound)
		if body["reason"] != "NOT_FOUND" || body["code"].(float64) == 0 {
			t.Fatalf("body %v", body)
		}
	})
	t.Run("incoming request id is kept", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/ping"), nil)
		req.Header.Set("X-Request-Id", "from-the-client-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer closeBody(t, resp)
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.Header.Get("X-Request-Id") != "from-the-client-1" || body["request_id"] != "from-the-client-1" {
			t.Fatalf("request id not kept: header %q body %v", resp.Header.Get("X-Request-Id"), body)
		}
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		resp, err := http.Post(s.URL("/api/v1/ping"), "application/json", bytes.NewReader(make([]byte, 2048)))
		if err != nil {
			t.Fatal(err)
		}
		defer closeBody(t, resp)
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "PAYLOAD_TOO_LARGE") {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	})
	t.Run("malformed JSON is a 400 saying where", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"account" "x"}`: "at byte 12",
			`{"account":`:     "ends early",
			`{"account":7}`:   `"field":"account"`,
		} {
			resp, err := http.Post(s.URL("/api/v1/auth/login"), "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			closeBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "INVALID_ARGUMENT") || !strings.Contains(string(data), want) {
				t.Errorf("%s → %d %s, want 400 INVALID_ARGUMENT mentioning %q", body, resp.StatusCode, data, want)
			}
		}
	})
	t.Run("gRPC message over the limit is ResourceExhausted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(s.GRPC()).Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 8192)})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("err = %v, want ResourceExhausted", err)
		}
	})
	t.Run("malformed gRPC message is InvalidArgument", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		garbage := []byte{0x0a, 0x7f, 'h'} // a length that runs past the end
		var out []byte
		err := s.GRPC().Invoke(ctx, "/mgv.open.v1.SystemService/Ping", garbage, &out, grpc.ForceCodecV2(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v, want InvalidArgument", err)
		}
	})
	t.Run("gRPC responses carry the request id", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var header metadata.MD
		if _, err := healthpb.NewHealthClient(s.GRPC()).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		if ids := header.Get("x-request-id"); len(ids) != 1 || len(ids[0]) != 32 {
			t.Fatalf("x-request-id metadata = %v", ids)
		}
	})
	t.Run("metrics cover both transports and the runtime", func(t *testing.T) {
		resp, err := http.Get(s.URL("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		defer closeBody(t, resp)
		data, _ := io.ReadAll(resp.Body)
		wants := []string{
			`mgv_requests_total{code="404",operation="http.unmatched",transport="http"}`,
			`grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"}`,
			`grpc_server_handling_seconds_bucket{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"`,
			`mgv_build_info{`,
			`mgv_request_duration_seconds_bucket{operation="/mgv.open.v1.SystemService/Ping",transport="http"`,
			"go_goroutines", "go_sql_open_connections", "process_resident_memory_bytes",
		}
		if _, set := os.LookupEnv("GOGC"); !set {
			wants = append(wants, "\ngo_gc_gogc_percent 200\n") // process.gc_percent
		}
		for _, want := range wants {
			if !strings.Contains(string(data), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(string(data), `transport="grpc"`) {
			t.Error("gRPC calls are counted in the HTTP request metrics, with HTTP codes")
		}
	})
	t.Run("pprof on the loopback admin listener", func(t *testing.T) {
		resp, err := http.Get("http://" + s.AdminAddr + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		closeBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("pprof answered %d", resp.StatusCode)
		}
	})
}
