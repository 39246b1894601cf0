// Package metrics is the Prometheus registry of the service: request counts
// and latencies of both transports, Go runtime and process figures, and the
// database pool. Other packages register their own collectors on Registry.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/megaview/mgvcore/internal/policy"
)

// Metrics owns one registry per process (no global state, so tests can
// build many).
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New registers the request metrics and the runtime collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mgv_requests_total",
			Help: "Requests by transport, operation and status code.",
		}, []string{"transport", "operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mgv_request_duration_seconds",
			Help:    "Request latency by transport and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"transport", "operation"}),
	}
	reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe implements policy.Observer.
func (m *Metrics) Observe(info *policy.Info, out policy.Outcome) {
	m.requests.WithLabelValues(info.Transport, info.Operation, statusLabel(out.Status)).Inc()
	m.latency.WithLabelValues(info.Transport, info.Operation).Observe(out.Latency.Seconds())
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
