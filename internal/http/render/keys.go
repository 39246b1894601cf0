package render

import (
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// repeatedKey finds the first key of valid JSON that its object already
// holds: the byte offset where the repeated key's value starts. encoding/json
// matches keys to fields ignoring case and keeps the last of repeated keys,
// so `{"role":"rep","Role":"admin"}` would decode as admin while a proxy or
// a log that reads the first sees rep: keys equal once case is folded, as
// encoding/json folds it, count as the same key. The scan costs one pass
// over the body and a set per object of more than one key.
func repeatedKey(body []byte) (valueAt int, found bool) {
	type level struct {
		object, wantKey bool
		first           string
		keys            map[string]struct{}
		n               int
	}
	var stack []level
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{':
			stack = append(stack, level{object: true, wantKey: true})
		case '[':
			stack = append(stack, level{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if top := len(stack) - 1; top >= 0 && stack[top].object {
				stack[top].wantKey = true
			}
		case '"':
			start := i
			escaped := false
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					escaped = true
					i++
				}
			}
			if i >= len(body) {
				return 0, false // not valid JSON: decoding says so
			}
			top := len(stack) - 1
			if top < 0 || !stack[top].wantKey {
				continue
			}
			l := &stack[top]
			l.wantKey = false
			raw := body[start : i+1]
			name := string(raw[1 : len(raw)-1])
			if escaped {
				if err := json.Unmarshal(raw, &name); err != nil {
					return 0, false // not valid JSON: decoding says so
				}
			}
			folded := foldKey(name)
			l.n++
			switch {
			case l.n == 1:
				l.first = folded
				continue
			case l.keys == nil:
				l.keys = map[string]struct{}{l.first: {}}
			}
			if _, dup := l.keys[folded]; dup {
				at := i + 1
				for at < len(body) && (body[at] == ':' || isSpace(body[at])) {
					at++
				}
				return at, true
			}
			l.keys[folded] = struct{}{}
		}
	}
	return 0, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// foldKey folds a key's case as encoding/json does when it matches keys to
// fields: ASCII to upper case, any other rune to the smallest of its
// simple case folds.
func foldKey(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
