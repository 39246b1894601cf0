package breaker

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/config"
)

// Registry makes the breakers lazily by name, all with the same settings,
// and reports their state changes to the log and to Prometheus:
// mgv_breaker_state{name} (0 closed, 1 half-open, 2 open) and
// mgv_breaker_transitions_total{name,to}.
type Registry struct {
	settings Settings
	enabled  bool
	log      zerolog.Logger

	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec

	mu       sync.RWMutex
	breakers map[string]*Breaker
}

// NewRegistry builds the registry of cfg and registers its metrics on reg
// (nil: no metrics). With cfg.Enabled false its breakers never open.
func NewRegistry(cfg config.Breaker, log zerolog.Logger, reg prometheus.Registerer) (*Registry, error) {
	r := &Registry{
		settings: Settings{
			FailureRate:         cfg.FailureRate,
			MinSamples:          cfg.MinSamples,
			ConsecutiveFailures: cfg.ConsecutiveFail,
			Window:              cfg.Window.Duration,
			Cooldown:            cfg.Cooldown.Duration,
		},
		enabled:  cfg.Enabled,
		log:      log,
		breakers: make(map[string]*Breaker),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mgv_breaker_state",
			Help: "Circuit breaker state by dependency or operation: 0 closed, 1 half-open, 2 open.",
		}, []string{"name"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mgv_breaker_transitions_total",
			Help: "Circuit breaker state changes by dependency or operation and new state.",
		}, []string{"name", "to"}),
	}
	if r.enabled {
		s := r.settings
		if s.FailureRate <= 0 || s.FailureRate > 1 || s.MinSamples <= 0 || s.ConsecutiveFailures < 0 || s.Window <= 0 || s.Cooldown <= 0 {
			return nil, fmt.Errorf("breaker: invalid settings %+v", s)
		}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.state, r.transitions} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("breaker metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Get returns the breaker of name, making it on first use. Names are
// dependencies (MySQL, Elasticsearch, "http:<host>") or operation names,
// never per-request values: each one is a metric series.
func (r *Registry) Get(name string) *Breaker {
	r.mu.RLock()
	b := r.breakers[name]
	r.mu.RUnlock()
	if b != nil {
		return b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b = r.breakers[name]; b == nil {
		b = newBreaker(name, r.settings, r.enabled, r.changed)
		r.breakers[name] = b
		r.state.WithLabelValues(name).Set(float64(Closed))
	}
	return b
}

// States is every breaker's state now, by name.
func (r *Registry) States() map[string]State {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]State, len(r.breakers))
	for name, b := range r.breakers {
		out[name] = b.State()
	}
	return out
}

func (r *Registry) changed(name string, from, to State) {
	r.state.WithLabelValues(name).Set(float64(to))
	r.transitions.WithLabelValues(name, to.String()).Inc()
	ev := r.log.Info()
	if to == Open {
		ev = r.log.Warn()
	}
	ev.Str("breaker", name).Str("from", from.String()).Str("to", to.String()).Msg("circuit breaker state changed")
}
