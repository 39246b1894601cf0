package app

import (
	"context"
	"net/http"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/policy"
	"github.com/megaview/mgvcore/internal/tracing"
)

// startTracing builds the tracer of cfg.Tracing (a no-op one when off) and
// returns log with trace_id on every line written with a call's context.
func startTracing(cfg *config.Config, log zerolog.Logger) (tracing.Tracer, zerolog.Logger, error) {
	t, err := tracing.New(cfg.Tracing, cfg.App.Env, log)
	if err != nil {
		return nil, log, err
	}
	return t, log.Hook(tracing.LogHook{}), nil
}

// stopTracing flushes the spans still buffered. It runs after the drain on
// stop and on upgrade alike: an upgraded process's last spans would
// otherwise die with it.
func stopTracing(t tracing.Tracer, cfg *config.Config, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Tracing.FlushTimeout.Duration)
	defer cancel()
	if err := t.Close(ctx); err != nil {
		log.Warn().Err(err).Msg("tracing: the last spans were not flushed")
	}
}

// trace fills the chain's tracing slot.
func (p *policies) trace(t tracing.Tracer) { p.tracing = policy.Tracing(t) }

// traceDB makes every query of a traced call a child span.
func traceDB(db *gorm.DB, t tracing.Tracer) error { return db.Use(tracing.GormPlugin(t)) }

// traceHTTP makes every outgoing request to peer of a traced call a client
// span that carries the trace to the callee.
func traceHTTP(t tracing.Tracer, peer string) http.RoundTripper {
	return tracing.RoundTripper(t, nil, peer)
}
