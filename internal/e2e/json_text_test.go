//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestJSONThatIsNotUTF8IsRefused: encoding/json takes a byte that is not
// UTF-8, an encoded surrogate and a \u escape of half a surrogate pair as
// U+FFFD, so a tracker was created under another name than the one sent
// (and gRPC refuses the same text). Each is 400 naming the field; a pair
// written as two escapes, and an escaped backslash before "ud800", are
// text and stored as sent.
func TestJSONThatIsNotUTF8IsRefused(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	for name, body := range map[string]string{
		"bytes not UTF-8":       "{\"name\":\"raw\xff\xfe\",\"keywords\":[\"ok\"]}",
		"encoded surrogate":     "{\"name\":\"cesu\xed\xa0\x80\",\"keywords\":[\"ok\"]}",
		"lone surrogate escape": `{"name":"lone\ud800","keywords":["ok"]}`,
		"low half first":        `{"name":"low\udc00\ud800","keywords":["ok"]}`,
	} {
		r := authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, json.RawMessage(body))
		r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if r.Metadata["field"] != "name" || !strings.Contains(r.Msg, "byte ") {
			t.Errorf("%s: field %q, message %q; want name and the byte", name, r.Metadata["field"], r.Msg)
		}
	}
	r := authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, json.RawMessage("{\"name\":\"ok\",\"keywords\":[\"price\",\"bad\xc0\"]}"))
	if r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "keywords[1]" {
		t.Errorf("a keyword not UTF-8: field %q, message %q", r.Metadata["field"], r.Msg)
	}
	if trackers := listTrackers(t, s, admin); len(trackers) != 0 {
		t.Fatalf("refused bodies stored trackers: %+v", trackers)
	}

	for body, want := range map[string]string{
		`{"name":"smile \ud83d\ude00","keywords":["price"]}`:       "smile 😀",
		`{"name":"C:\\ud800 path","keywords":["budget"]}`:          `C:\ud800 path`,
		"{\"name\":\"预算 \xf0\x9f\x99\x82\",\"keywords\":[\"预算\"]}": "预算 🙂",
	} {
		var tr struct{ Name string }
		authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, json.RawMessage(body)).want(t, http.StatusCreated, "").decode(t, &tr)
		if tr.Name != want {
			t.Errorf("%s: stored as %q, want %q", body, tr.Name, want)
		}
	}
}
