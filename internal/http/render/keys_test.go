package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// FuzzRepeatedKey compares the one-pass scan with a decoder-driven walk
// on every valid body of UTF-8 text: both find a repeated key (case folded) or neither.
func FuzzRepeatedKey(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"A":2}`, `{"a":{"b":1},"c":{"b":2}}`, `[{"x":1},{"x":1}]`, `{"k":"k","v":["k","k"]}`,
		`{"\u0061":1,"a":2}`, `{"ſ":1,"S":2}`, `{"K":1,"k":2}`, `{"a\"b":1,"a\"B":2}`, `{}`, `"x"`, `{"a":[],"b":{},"c":null}`,
		`{"a":{"b":1,"c":2},"b":3,"c":{"a":1},"a":2}`, `[{"a":1},{"b":{"a":1,"b":2}},{"a":1,"b":[{"a":1}],"A":0}]`,
		manyKeys(20, "k3"), manyKeys(40, ""), manyKeys(17, "k16"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		if _, ok := referenceText([]byte(body)); !ok {
			return // FuzzBodyText's
		}
		_, fault := scanBody([]byte(body))
		if got, want := fault == repeatedKey, referenceRepeated(t, body); got != want {
			t.Fatalf("scanBody(%q) = %v, the decoder's walk says %v", body, got, want)
		}
	})
}

// FuzzBodyText compares the scan's UTF-8 check with a strict JSON decoder
// (jsontext, which refuses what RFC 8259 calls no text) on every body
// encoding/json takes: the scan finds the first byte or escape that is no
// text where jsontext does, or a repeated key before it, and nothing in
// a body of text.
func FuzzBodyText(f *testing.F) {
	for _, s := range []string{
		"{\"name\":\"raw\xff\xfe\"}", "{\"name\":\"cesu\xed\xa0\x80\"}", `{"name":"lone\ud800"}`, `{"name":"low\udc00 first"}`,
		`{"name":"\ud800\u0041"}`, `{"name":"\ud800\ud800"}`, `{"name":"\uD83D\uDE00 pair"}`, `{"name":"literal \\ud800"}`,
		`{"name":"\\\ud800"}`, `["\ud83d\ude00","\ud83d"]`, `{"k\udfff":1}`, "{\"a\":1,\"A\":\"\xff\"}", "\"\xc0\xaf\"",
		"{\"ok\":\"预算 🙂 \xef\xbf\xbd\"}", "{\"x\":\"\xf4\x90\x80\x80\"}", `{"e":"\n\t\"\/\u0000\uffff"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		at, fault := scanBody([]byte(body))
		bad, ok := referenceText([]byte(body))
		switch {
		case ok && (fault == badValueText || fault == badKeyText):
			t.Fatalf("scanBody(%q) finds no text at byte %d; jsontext takes it", body, at)
		case !ok && fault == repeatedKey && int64(at) < bad:
		case !ok && (fault != badValueText && fault != badKeyText || int64(at) != bad):
			t.Fatalf("scanBody(%q) = byte %d, fault %d; jsontext finds no text at byte %d", body, at, fault, bad)
		}
	})
}

// referenceText is where jsontext finds the first string of a body that
// is no UTF-8 text, and false; or true when there is none.
func referenceText(body []byte) (int64, bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	_, err := dec.ReadValue()
	if err == nil {
		if _, err = dec.ReadToken(); errors.Is(err, io.EOF) {
			return 0, true
		}
	}
	var syntax *jsontext.SyntacticError
	if !errors.As(err, &syntax) {
		panic(fmt.Sprintf("jsontext on %q: %v", body, err))
	}
	return syntax.ByteOffset, false
}

// manyKeys is an object of n keys k0…, then again, when it is not empty.
func manyKeys(n int, again string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":{"k%d":%d},`, i, i, i)
	}
	if again != "" {
		fmt.Fprintf(&b, `"%s":0,`, strings.ToUpper(again))
	}
	b.WriteString(`"end":0}`)
	return b.String()
}

// foldKey is a key with its case folded (appendFolded).
func foldKey(s string) string { return string(appendFolded(nil, []byte(s))) }

func referenceRepeated(t *testing.T, body string) bool {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	var walk func() bool
	walk = func() bool { // reports a repeat
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			return false
		}
		seen := map[string]bool{}
		for dec.More() {
			if delim == '{' {
				key, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				k := foldKey(key.(string))
				if seen[k] {
					return true
				}
				seen[k] = true
			}
			if walk() {
				return true
			}
		}
		_, _ = dec.Token()
		return false
	}
	return walk()
}

// TestKeysFoldAsTheDecoderMatchesThem: keys that encoding/json would match
// to the same field are one key to scanBody, keys it would not are two.
func TestKeysFoldAsTheDecoderMatchesThem(t *testing.T) {
	type target struct {
		Name   string `json:"name"`
		Kelvin string `json:"k"`
	}
	for _, key := range []string{"NAME", "Name", "nAmE", "\u212a"} { // the Kelvin sign folds to k
		field := "name"
		if key == "\u212a" {
			field = "k"
		}
		var v target
		if err := json.Unmarshal([]byte(`{"`+key+`":"x"}`), &v); err != nil || v.Name+v.Kelvin != "x" {
			t.Fatalf("encoding/json no longer matches %q to %s: %+v, %v", key, field, v, err)
		}
		if _, fault := scanBody([]byte(`{"` + field + `":"a","` + key + `":"b"}`)); fault != repeatedKey {
			t.Errorf("%q after %q not found repeated", key, field)
		}
	}
	if _, fault := scanBody([]byte(`{"name":"a","names":"b","nam":"c"}`)); fault != noFault {
		t.Error("different keys found repeated")
	}
}

// The scan of a body of many small objects allocates nothing per object
// or key: a 1 MiB body of 52,000 objects took 262,000 allocations (16 MB)
// with a set per object, on the sign-in route, before any token is asked.
func TestRepeatedKeyAllocatesNothingPerObject(t *testing.T) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(`{"a":1,"b":2,"c":{"a":[1]}},`, 1<<20/28), ",") + "]")
	if allocs := testing.AllocsPerRun(3, func() {
		if _, fault := scanBody(body); fault != noFault {
			t.Fatal("a repeat found")
		}
	}); allocs > 32 {
		t.Fatalf("%.0f allocations to scan %d bytes", allocs, len(body))
	}
}
