package render

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzDecodeBody decodes arbitrary bodies the way the controllers do: a body
// is decoded or refused with a 4xx envelope that names no Go type, never a
// panic or a 5xx.
func FuzzDecodeBody(f *testing.F) {
	f.Add(`{"account":"admin@demo.mgv","password":"x"}`, "application/json")
	f.Add(`{"query":"预算 \"next steps\"","page_size":500}`, "application/json")
	f.Add(`{"keywords":[1,2,{}]}`, "application/json")
	f.Add(`{"a":`, "application/json")
	f.Add(`<xml/>`, "application/xml")
	f.Add(`a=b&c=%zz`, "application/x-www-form-urlencoded")
	e := echo.New()
	type body struct {
		Account  string   `json:"account"`
		Query    string   `json:"query"`
		PageSize int      `json:"page_size"`
		Keywords []string `json:"keywords"`
		Owner    *int64   `json:"owner_id"`
	}
	f.Fuzz(func(t *testing.T, payload, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/x?owner_id=7", strings.NewReader(payload))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		var b body
		err := DecodeJSON(c, &b)
		if err == nil {
			return
		}
		if got := FromEcho(err); got.Status < 400 || got.Status >= 500 {
			t.Fatalf("bind error %v became status %d", err, got.Status)
		}
		if err := Error(c, err); err != nil {
			t.Fatal(err)
		}
		if rec.Code >= 500 || !strings.Contains(rec.Body.String(), `"reason"`) {
			t.Fatalf("rendered %d %s", rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "Go struct") || strings.Contains(rec.Body.String(), "int64") {
			t.Fatalf("the answer names a Go type: %s", rec.Body.String())
		}
	})
}
