package tracing

import (
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// errorEvery spaces Jaeger's error lines: with the collector down it reports
// a failed flush every flush interval, which would drown the service's log.
const errorEvery = 30 * time.Second

// jaegerLog adapts zerolog to Jaeger's logger.
type jaegerLog struct {
	log      zerolog.Logger
	lastWarn *atomic.Int64 // unix nanos of the last error line written
	now      func() time.Time
}

func newJaegerLog(log zerolog.Logger) jaegerLog {
	return jaegerLog{log: log, lastWarn: new(atomic.Int64), now: time.Now}
}

func (l jaegerLog) Error(msg string) {
	now := l.now().UnixNano()
	last := l.lastWarn.Load()
	if (last != 0 && now-last < int64(errorEvery)) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn().Msg(msg)
}

func (l jaegerLog) Infof(msg string, args ...any)  { l.log.Debug().Msgf(msg, args...) }
func (l jaegerLog) Debugf(msg string, args ...any) { l.log.Trace().Msgf(msg, args...) }
