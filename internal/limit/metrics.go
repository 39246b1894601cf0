package limit

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// register creates the limiter's collectors and, when reg is not nil,
// registers them: rejections by scope, calls waiting now, heavy calls
// running now, keys held now, the fleet share.
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
	l.heavyRunning = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_heavy_running",
		Help: "Heavy calls (lists, searches, statistics) running now, within their tenants' ratelimit.tiers heavy_calls.",
	})
	keys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_keys",
		Help: "Rate-limit keys (tenants, apps, client IPs) held now; idle ones are evicted.",
	}, func() float64 { return float64(l.keys.Load()) })
	instances := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_fleet_instances",
		Help: "Instances each tenant and app tier is divided among now: each admits 1/N of the tier (1 when the fleet is unknown).",
	}, func() float64 { return float64(l.fleet.share()) })
	share := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_fleet_share",
		Help: "Fraction of each tenant and app tier this instance admits (1/N).",
	}, func() float64 { return 1 / float64(l.fleet.share()) })
	unknown := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mgv_ratelimit_fleet_unknown",
		Help: "1 while the fleet is unknown (Consul off or not answering) and this instance admits each tier whole, 0 while it takes its share.",
	}, func() float64 {
		if l.fleet.unknown.Load() {
			return 1
		}
		return 0
	})
	// Every scope starts at zero, so rates and alerts work before the first
	// rejection.
	for _, s := range []Scope{ScopeIP, ScopeRefused, ScopeTenant, ScopeApp, ScopeHeavy} {
		l.rejections.WithLabelValues(string(s))
	}
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{l.rejections, l.waiting, l.evictions, l.heavyRunning, keys, instances, share, unknown} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("rate limit metrics: %w", err)
		}
	}
	return nil
}
