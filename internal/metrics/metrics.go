// Package metrics is the Prometheus registry of the service: HTTP request
// counts and latencies labelled with HTTP status codes, the standard gRPC
// server metrics (grpc_server_*) labelled with gRPC codes, the build info,
// Go runtime and process figures, and the database pool. Other packages
// register their own collectors on Registry.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/reflection"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/policy"
)

// latencyBuckets are the request latency buckets of both transports, in
// seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics owns one registry per process (no global state, so tests can
// build many).
type Metrics struct {
	Registry *prometheus.Registry
	// GRPC are the standard gRPC server metrics; its interceptors go
	// outermost on the gRPC server so they see the final status code.
	GRPC     *GRPCMetrics
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	certs    *prometheus.GaugeVec
	refused  *prometheus.CounterVec
	// connRefused counts connections closed at accept for their caps.
	connRefused *prometheus.CounterVec
	// series caches each (operation, status)'s counter and histogram, so a
	// request finds its two series in one map read instead of hashing
	// its labels twice under the vectors' locks. Operations are the route
	// table's (plus one name for unmatched requests), a bounded set.
	series sync.Map // seriesKey → *httpSeries
}

type seriesKey struct {
	operation string
	status    int
}

type httpSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New registers the request metrics, the build info and the runtime
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		GRPC:     newGRPCMetrics(latencyBuckets),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mgv_requests_total",
			Help: "HTTP requests by operation and HTTP status code (gRPC calls are counted in grpc_server_handled_total).",
		}, []string{"transport", "operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mgv_request_duration_seconds",
			Help:    "HTTP request latency by operation (gRPC calls are timed in grpc_server_handling_seconds).",
			Buckets: latencyBuckets,
		}, []string{"transport", "operation"}),
		certs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mgv_tls_certificate_expiry_timestamp_seconds",
			Help: "When a certificate the service presents or trusts expires, as a Unix time; read at start and at every upgrade.",
		}, []string{"cert"}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mgv_grpc_refused_before_read_total",
		Help: "gRPC calls refused from their headers before any message was read (no or bad token); they are not in grpc_server_*.",
	}, []string{"reason"})
	m.connRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mgv_connections_refused_total",
		Help: "Connections closed as soon as they were accepted, by listener (http, grpc) and the cap they met (per_client, total).",
	}, []string{"listener", "reason"})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mgv_build_info",
		Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{
			"version":    global.Version(),
			"commit":     global.CommitHash(),
			"build_time": global.BuildTime,
			"goversion":  global.GoVersion(),
		},
	})
	buildInfo.Set(1)
	reg.MustRegister(m.requests, m.latency, m.certs, m.refused, m.connRefused, m.GRPC, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// InitGRPC starts every method's grpc_server_* series at zero, so rates and
// alerts work before the first call; call it once the services are
// registered.
func (m *Metrics) InitGRPC(srv reflection.ServiceInfoProvider) { m.GRPC.InitializeMetrics(srv) }

// GaugeFunc exports value as a gauge of the given name, read at each
// scrape.
func (m *Metrics) GaugeFunc(name, help string, value func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
}

// CertificateExpiry records when the named certificate expires.
func (m *Metrics) CertificateExpiry(name string, unixSeconds float64) {
	m.certs.WithLabelValues(name).Set(unixSeconds)
}

// RefusedGRPC counts a gRPC call refused from its headers; reason is one of
// the errs reasons, a bounded set.
func (m *Metrics) RefusedGRPC(reason string) { m.refused.WithLabelValues(reason).Inc() }

// ConnectionRefused counts a connection the listener's caps closed.
func (m *Metrics) ConnectionRefused(listener, reason string) {
	m.connRefused.WithLabelValues(listener, reason).Inc()
}

// Observe implements policy.Observer for HTTP calls; gRPC calls are counted
// by the GRPC server metrics with their gRPC codes.
func (m *Metrics) Observe(info *policy.Info, out policy.Outcome) {
	if info.Transport != policy.HTTP {
		return
	}
	k := seriesKey{info.Operation, out.Status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &httpSeries{
			requests: m.requests.WithLabelValues(info.Transport, info.Operation, statusLabel(out.Status)),
			latency:  m.latency.WithLabelValues(info.Transport, info.Operation),
		})
	}
	s := v.(*httpSeries)
	s.requests.Inc()
	s.latency.Observe(out.Latency.Seconds())
}

// statusLabel spells common statuses without allocating.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 201:
		return "201"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 429:
		return "429"
	}
	return strconv.Itoa(code)
}

// WatchDB exports the connection pool of db under the name.
func (m *Metrics) WatchDB(db *sql.DB, name string) {
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
