package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/megaview/mgvcore/internal/policy"
)

func TestRegistryIsPromlintClean(t *testing.T) {
	m := New()
	m.Observe(&policy.Info{Transport: policy.HTTP, Operation: "/mgv.open.v1.SystemService/Ping"}, policy.Outcome{Status: 200, Latency: time.Millisecond})
	m.CertificateExpiry("server", 1.9e9)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"mgv_build_info", "mgv_requests_total", "mgv_tls_certificate_expiry_timestamp_seconds"} {
		found := false
		for _, mf := range mfs {
			found = found || mf.GetName() == name
		}
		if !found {
			t.Errorf("%s is not exported", name)
		}
	}
}

// gRPC calls are counted by grpc_server_* with gRPC codes, never in the
// HTTP request metrics with HTTP codes.
func TestGRPCCallsStayOutOfHTTPMetrics(t *testing.T) {
	m := New()
	m.Observe(&policy.Info{Transport: policy.GRPC, Operation: "/mgv.open.v1.SystemService/Ping"}, policy.Outcome{Status: 401})
	m.Observe(&policy.Info{Transport: policy.HTTP, Operation: "/mgv.open.v1.SystemService/Ping"}, policy.Outcome{Status: 401})
	want := `
# HELP mgv_requests_total HTTP requests by operation and HTTP status code (gRPC calls are counted in grpc_server_handled_total).
# TYPE mgv_requests_total counter
mgv_requests_total{code="401",operation="/mgv.open.v1.SystemService/Ping",transport="http"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "mgv_requests_total"); err != nil {
		t.Error(err)
	}
}
