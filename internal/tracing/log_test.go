package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLogHookAddsTheTraceID(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf).Hook(LogHook{})
	rec := NewRecorder()
	ctx, span := rec.StartServer(context.Background(), "op", nil)
	defer span.Finish()

	log.Info().Ctx(ctx).Msg("in a call")
	log.Info().Ctx(context.Background()).Msg("outside")
	log.Info().Msg("no context")

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if lines[0]["trace_id"] != TraceID(ctx) || TraceID(ctx) == "" {
		t.Errorf("line %v, want trace_id %s", lines[0], TraceID(ctx))
	}
	for _, l := range lines[1:] {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("trace_id on a line without a traced context: %v", l)
		}
	}
}

func TestJaegerErrorsAreSpaced(t *testing.T) {
	var buf bytes.Buffer
	l := newJaegerLog(zerolog.New(&buf))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		l.Error("failed to flush")
	}
	now = now.Add(errorEvery)
	l.Error("failed to flush")
	if n := bytes.Count(buf.Bytes(), []byte("failed to flush")); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, buf.String())
	}
}
