package limit

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// register creates the limiter's collectors and, when reg is not nil,
// registers them: rejections by scope, calls waiting now, keys held now.
func (l *Limiter) register(reg prometheus.Registerer) error {
	l.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mgv_ratelimit_rejections_total",
		Help: "Calls refused with 429 because their key's queue was full or they ran out of time waiting, by key scope.",
	}, []string{"scope"})
	l.waiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_waiting",
		Help: "Calls waiting in a rate-limit queue now.",
	})
	l.evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mgv_ratelimit_cap_evictions_total",
		Help: "Rate-limit keys dropped before they were idle long enough, to keep the keys held within ratelimit.max_keys.",
	})
	keys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_keys",
		Help: "Rate-limit keys (tenants, apps, client IPs) held now; idle ones are evicted.",
	}, func() float64 { return float64(l.keys.Load()) })
	// Every scope starts at zero, so rates and alerts work before the first
	// rejection.
	for _, s := range []Scope{ScopeIP, ScopeTenant, ScopeApp} {
		l.rejections.WithLabelValues(string(s))
	}
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{l.rejections, l.waiting, l.evictions, keys} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("rate limit metrics: %w", err)
		}
	}
	return nil
}
