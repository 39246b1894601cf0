package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/config"
)

// TestSpansReachARealJaeger sends a server span and its child through the
// agent (UDP) and through the collector (HTTP) of the Jaeger that
// scripts/testenv.sh starts. The flush interval is an hour, so only Close
// can have sent them: this is the flush on stop and upgrade.
func TestSpansReachARealJaeger(t *testing.T) {
	query := os.Getenv("MGV_TEST_JAEGER_QUERY")
	if query == "" {
		t.Skip("MGV_TEST_JAEGER_QUERY is not set: run `make test`, which starts Jaeger")
	}
	for name, set := range map[string]func(*config.Tracing){
		"agent":     func(c *config.Tracing) { c.AgentAddr = os.Getenv("MGV_TEST_JAEGER_AGENT") },
		"collector": func(c *config.Tracing) { c.CollectorURL = os.Getenv("MGV_TEST_JAEGER_COLLECTOR") },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default().Tracing
			cfg.Enabled = true
			cfg.ServiceName = fmt.Sprintf("mgvcore-unit-%s-%d", name, time.Now().UnixNano())
			cfg.FlushInterval = config.Duration{Duration: time.Hour}
			set(&cfg)
			tr, err := New(cfg, "test", zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			ctx, server := tr.StartServer(context.Background(), "/test/Op", nil)
			_, child := tr.StartChild(ctx, "gorm.query")
			child.Finish()
			server.Finish()
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tr.Close(closeCtx); err != nil {
				t.Fatal(err)
			}

			spans := waitTrace(t, query, TraceID(ctx), 2)
			if spans["/test/Op"].parent != "" || spans["gorm.query"].parent != spans["/test/Op"].id {
				t.Errorf("spans %+v, want gorm.query under /test/Op", spans)
			}
		})
	}
}

type jaegerSpanRef struct{ id, parent string }

// waitTrace polls the query API until the trace holds n spans, and returns
// them by operation name.
func waitTrace(t *testing.T, query, traceID string, n int) map[string]jaegerSpanRef {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var body struct {
			Data []struct {
				Spans []struct {
					SpanID        string `json:"spanID"`
					OperationName string `json:"operationName"`
					References    []struct {
						RefType string `json:"refType"`
						SpanID  string `json:"spanID"`
					} `json:"references"`
				} `json:"spans"`
			} `json:"data"`
		}
		resp, err := http.Get(query + "/api/traces/" + traceID)
		if err == nil {
			err = errors.Join(json.NewDecoder(resp.Body).Decode(&body), resp.Body.Close())
		}
		if err == nil && len(body.Data) == 1 && len(body.Data[0].Spans) >= n {
			out := map[string]jaegerSpanRef{}
			for _, s := range body.Data[0].Spans {
				ref := jaegerSpanRef{id: s.SpanID}
				for _, r := range s.References {
					if r.RefType == "CHILD_OF" {
						ref.parent = r.SpanID
					}
				}
				out[s.OperationName] = ref
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s not in Jaeger with %d spans after 15s (last error %v, body %+v)", traceID, n, err, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTheCollectorsPasswordIsNotLogged: the start's log line names the
// collector without the password of its URL.
func TestTheCollectorsPasswordIsNotLogged(t *testing.T) {
	var buf bytes.Buffer
	sender, err := newSender(config.Tracing{CollectorURL: "http://jaeger:Sekr3tJgPw@127.0.0.1:14268/api/traces", Sampler: "const", SamplerParam: 1,
		FlushTimeout: config.Duration{Duration: time.Second}}, zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	_ = sender.Close()
	if strings.Contains(buf.String(), "Sekr3tJgPw") || !strings.Contains(buf.String(), "jaeger:xxxxx@127.0.0.1:14268") {
		t.Fatalf("logged %s", buf.String())
	}
}
