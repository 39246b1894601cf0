package render

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// decodeBody is a body shaped like the API's: nested objects, arrays,
// pointers, times and an embedded struct.
type decodeBody struct {
	Query    string   `json:"query"`
	OwnerIDs []int64  `json:"owner_ids"`
	PageSize int      `json:"page_size"`
	StartMS  *int64   `json:"start_ms"`
	Keywords []string `json:"keywords"`
	decodeFilter
	Nested struct {
		Flags []struct {
			On bool `json:"on"`
		} `json:"flags"`
	} `json:"nested"`
}

type decodeFilter struct {
	From time.Time `json:"from"`
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		field, msg        string // msg: a part of the message
	}{
		{"ok", "application/json", `{"query":"预算","owner_ids":[1,2],"from":"2026-03-01T00:00:00Z"}`, 200, "", ""},
		{"charset", "application/json; charset=utf-8", `{"query":"x"}`, 200, "", ""},
		{"no body", "", ``, 200, "", ""},
		{"string as number", "application/json", `{"query":5}`, 400, "query", "query: must be a string (got a number)"},
		{"array element", "application/json", `{"owner_ids":[1,"2"]}`, 400, "owner_ids[1]", "owner_ids[1]: must be an integer (got a string)"},
		{"fraction", "application/json", `{"page_size":1.5}`, 400, "page_size", "must be an integer (got the number 1.5)"},
		{"pointer", "application/json", `{"start_ms":"x"}`, 400, "start_ms", "must be an integer"},
		{"object for string", "application/json", `{"query":{"a":1}}`, 400, "query", "must be a string (got an object)"},
		{"array for string", "application/json", `{"query":[1]}`, 400, "query", "must be a string (got an array)"},
		{"object for array", "application/json", `{"keywords":{}}`, 400, "keywords", "must be an array (got an object)"},
		{"deep", "application/json", `{"nested":{"flags":[{"on":true},{"on":"yes"}]}}`, 400, "nested.flags[1].on", "must be a boolean (got a string)"},
		{"after other fields", "application/json", `{"keywords":["a","b"],"owner_ids":[3],"page_size":"20"}`, 400, "page_size", "must be an integer"},
		{"top level", "application/json", `[1]`, 400, "", "the body: must be an object (got an array)"},
		{"bad time", "application/json", `{"from":"yesterday"}`, 400, "from", `from: must be an RFC 3339 date-time string such as 2026-03-01T08:00:00+08:00 (got "yesterday")`},
		{"time as number", "application/json", `{"from":17}`, 400, "from", "(got a number)"},
		{"syntax", "application/json", `{"query" "x"}`, 400, "", "not valid JSON at byte"},
		{"truncated", "application/json", `{"query":`, 400, "", "ends early"},
		{"xml", "application/xml", `<query>x</query>`, 415, "", "the body must be application/json"},
		{"form", "application/x-www-form-urlencoded", `query=x`, 415, "", "application/json"},
		{"no type", "", `{"query":"x"}`, 415, "", "application/json"},
		{"nested at the bound", "application/json", `{"x":` + strings.Repeat(`[`, MaxJSONDepth-1) + strings.Repeat(`]`, MaxJSONDepth-1) + `,"query":1}`, 400, "query", "must be a string"},
		{"nested past the bound", "application/json", `{"x":` + strings.Repeat(`[`, MaxJSONDepth) + strings.Repeat(`]`, MaxJSONDepth) + `}`, 400, "", "nests arrays and objects more than 64 deep"},
		{"brackets in strings", "application/json", `{"query":"` + strings.Repeat(`[{\\\"`, 100) + `"}`, 200, "", ""},
		{"repeated key", "application/json", `{"query":"a","page_size":5,"query":"b"}`, 400, "query", "query: appears more than once in its object"},
		{"repeated in another case", "application/json", `{"query":"a","QUERY":"b"}`, 400, "QUERY", "keys that differ only in case are one key"},
		{"repeated escaped", "application/json", `{"query":"a","\u0071uery":"b"}`, 400, "query", "appears more than once"},
		{"repeated nested", "application/json", `{"nested":{"flags":[{"on":true},{"on":false,"On":true}]}}`, 400, "nested.flags[1].On", "appears more than once"},
		{"repeated object value", "application/json", `{"nested":{},"nested":{"flags":[]}}`, 400, "nested", "appears more than once"},
		{"same key in sibling objects", "application/json", `{"nested":{"flags":[{"on":true},{"on":false}]},"keywords":["on","on"]}`, 200, "", ""},
		{"key text as a value", "application/json", `{"query":"query","keywords":["query"]}`, 200, "", ""},
		{"bytes not UTF-8", "application/json", "{\"query\":\"raw\xff\xfe\"}", 400, "query", "query: is not valid UTF-8: byte 13 of the body is 0xFF"},
		{"encoded surrogate", "application/json", "{\"keywords\":[\"ok\",\"cesu\xed\xa0\x80\"]}", 400, "keywords[1]", "keywords[1]: is not valid UTF-8: byte 23 of the body is 0xED"},
		{"lone surrogate escape", "application/json", `{"query":"lone\ud800"}`, 400, "query", `query: holds \ud800, half of a UTF-16 surrogate pair without its other half, which is no character (byte 14 of the body)`},
		{"low surrogate first", "application/json", `{"nested":{"flags":[{"on":true}]},"query":"\uDC00\uD800"}`, 400, "query", `holds \uDC00, half of a UTF-16 surrogate pair`},
		{"high surrogate before another escape", "application/json", `{"query":"\ud83d\u0041"}`, 400, "query", `holds \ud83d`},
		{"surrogate pair", "application/json", `{"query":"\ud83d\ude00 \uD83D\uDE00"}`, 200, "", ""},
		{"escaped backslash before u", "application/json", `{"query":"C:\\ud800\\\u0041"}`, 200, "", ""},
		{"key not UTF-8", "application/json", "{\"query\xff\":\"x\"}", 400, "", "a key of the body is not valid UTF-8: byte 7 of the body is 0xFF"},
		{"key of a lone surrogate", "application/json", `{"nested":{"\udfff":1}}`, 400, "", `a key of the body holds \udfff`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(req, rec)
			var b decodeBody
			err := DecodeJSON(c, &b)
			if tc.status == 200 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("decoded %+v", b)
			}
			if err := Error(c, err); err != nil {
				t.Fatal(err)
			}
			var env Envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || env.Metadata["field"] != tc.field || !strings.Contains(env.Msg, tc.msg) {
				t.Errorf("%d field %q %q, want %d field %q with %q", rec.Code, env.Metadata["field"], env.Msg, tc.status, tc.field, tc.msg)
			}
			for _, goWord := range []string{"Go ", "struct", "int64", "decodeBody", "time.Time", "Unmarshal", "json:"} {
				if strings.Contains(env.Msg, goWord) {
					t.Errorf("the message names Go: %q", env.Msg)
				}
			}
		})
	}
}

// TestNamingAFieldCostsInProportionToTheBody: the walk that names a bad
// field keeps one path, not a spelled path per level, so a body of long
// keys nested to the bound costs a few times its size, not its size times
// its depth (a 1 MiB body of this shape took 20 GB once).
func TestNamingAFieldCostsInProportionToTheBody(t *testing.T) {
	key := strings.Repeat("k", 16<<10)
	depth := MaxJSONDepth - 1
	body := []byte(strings.Repeat(`{"`+key+`":`, depth) + `1` + strings.Repeat(`}`, depth))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	path := pathAt(body, int64(len(body)-depth))
	if _, got := badTimePath(body); got != "" {
		t.Fatalf("a time field found in %q", got)
	}
	runtime.ReadMemStats(&after)
	if want := strings.TrimSuffix(strings.Repeat(key+".", depth), "."); path != want {
		t.Fatalf("path of %d bytes, want %d", len(path), len(want))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(body)) {
		t.Fatalf("naming the field of a %d-byte body allocated %d bytes", len(body), alloc)
	}
}
