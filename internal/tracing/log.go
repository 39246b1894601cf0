package tracing

import "github.com/rs/zerolog"

// LogHook adds trace_id to every log line given the context of a traced
// call: log.Info().Ctx(ctx).Msg(…). Install it once on the service logger:
// logger.Hook(tracing.LogHook{}).
type LogHook struct{}

// Run implements zerolog.Hook.
func (LogHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	if ctx := e.GetCtx(); ctx != nil {
		if id := TraceID(ctx); id != "" {
			e.Str("trace_id", id)
		}
	}
}
