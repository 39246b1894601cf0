package app

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/metrics"
)

// TestTimeoutsNameOperations: a [timeouts] key that names no operation (a
// typo) refuses the start, naming it, instead of leaving the operation it
// meant at the default deadline.
func TestTimeoutsNameOperations(t *testing.T) {
	for key, wantErr := range map[string]bool{
		openv1.ConversationService_GetTranscript_FullMethodName: false,
		"/mgv.web.v1.AuthService/Login":                         false,
		"/mgv.open.v1.ConversationService/PutTranscrpt":         true,
	} {
		cfg := config.Default()
		cfg.Timeouts = map[string]config.Duration{key: {Duration: time.Minute}}
		m := metrics.New()
		brk, err := breaker.NewRegistry(cfg.Breaker, zerolog.Nop(), m.Registry)
		if err != nil {
			t.Fatal(err)
		}
		_, err = newPolicies(cfg, zerolog.Nop(), m, brk)
		if got := err != nil; got != wantErr || (wantErr && !strings.Contains(err.Error(), key)) {
			t.Errorf("timeouts key %q: %v", key, err)
		}
	}
}
