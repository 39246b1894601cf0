package render

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

// The service's answers are byte for byte what encoding/json would write.
func TestSerializerWritesWhatEncodingJSONWrites(t *testing.T) {
	type row struct {
		ID       int64      `json:"id,string"`
		Name     string     `json:"name"`
		Ratio    float64    `json:"ratio"`
		At       time.Time  `json:"at"`
		Maybe    *time.Time `json:"maybe,omitempty"`
		Tags     []string   `json:"tags"`
		Empty    []int      `json:"empty,omitempty"`
		Raw      json.RawMessage
		internal int
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 123_000_000, time.FixedZone("CST", 8*3600))
	values := []any{
		Envelope{Code: 0, Msg: "ok", Data: map[string]string{"pong": "mgvcore"}, RequestID: "1f92"},
		Envelope{Code: 40001, Msg: "bad <input> & \"quotes\" \u2028", Reason: errs.ReasonInvalidArgument,
			Metadata: map[string]string{"field": "query", "b": "2", "a": "1"}, RequestID: "x"},
		Envelope{Data: []row{
			{ID: 9007199254740993, Name: "王总 说：预算\t\n\x01", Ratio: 0.1 + 0.2, At: at, Tags: nil, Raw: json.RawMessage(`{"k": [1, 2]}`), internal: 7},
			{ID: -1, Name: "ünïcödé 🎉", Ratio: 1e21, At: at.UTC(), Maybe: &at, Tags: []string{}, Empty: []int{1}, Raw: json.RawMessage(`null`)},
			{Ratio: 1e-7, Raw: json.RawMessage(`"s"`)},
			{Ratio: math.MaxFloat64, Raw: json.RawMessage(`0`)},
		}},
		map[string]any{"z": 1, "a": []any{true, nil, 1.5, "x"}, "m": map[int]string{2: "b", 10: "a"}},
	}
	e := echo.New()
	for i, v := range values {
		for _, indent := range []string{"", "  "} {
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
			if err := (Serializer{}).Serialize(c, v, indent); err != nil {
				t.Fatalf("value %d: %v", i, err)
			}
			rec2 := httptest.NewRecorder()
			c2 := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec2)
			if err := (echo.DefaultJSONSerializer{}).Serialize(c2, v, indent); err != nil {
				t.Fatalf("value %d: %v", i, err)
			}
			if got, want := rec.Body.String(), rec2.Body.String(); got != want {
				t.Errorf("value %d, indent %q:\n got %s\nwant %s", i, indent, got, want)
			}
		}
	}
}
