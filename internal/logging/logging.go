// Package logging builds the zerolog logger: console-pretty in dev, JSON
// lines in test and pro.
package logging

import (
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/global"
)

// New returns a logger writing to w at level in format console|json.
func New(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("log.level: unknown level %q", level)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
	out := w
	switch format {
	case "console":
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("log.format: unknown format %q", format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Str("service", global.Name).Logger(), nil
}
