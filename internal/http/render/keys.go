package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// scanBody finds, in one pass over a body that encoding/json decoded, the
// first of two things it lets by: a key that its object already holds
// (fault repeatedKey; at is where the repeated key's value starts), and
// text that is not UTF-8 (fault badValueText or badKeyText; at is the
// offending byte or escape, see textFault).
//
// encoding/json matches keys to fields ignoring case and keeps the last of
// repeated keys, so `{"role":"rep","Role":"admin"}` would decode as admin
// while a proxy or a log that reads the first sees rep: keys equal once
// case is folded, as encoding/json folds it, count as the same key.
//
// encoding/json also turns a byte that is not UTF-8, and a \u escape of
// half a UTF-16 surrogate pair without its other half, into U+FFFD
// without a word, so a name would be stored other than it was sent (JSON
// text is UTF-8, RFC 8259 section 8.1; gRPC refuses the same bytes).
//
// The folded keys of the objects open at the time sit end to end in one
// buffer, and a key is compared with those of its own object; an object
// of more than setFrom keys gets a set instead, so neither many small
// objects (an allocation each) nor one object of many keys (a comparison
// with every other) costs more than in proportion to the body.
func scanBody(body []byte) (at int, fault bodyFault) {
	type level struct {
		object, wantKey bool
		first           int // index in ends of the object's first key
		set             map[string]struct{}
	}
	var (
		stack []level
		arena []byte // folded keys of the open objects, end to end
		ends  []int  // where each key ends in arena
	)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{':
			stack = append(stack, level{object: true, wantKey: true, first: len(ends)})
		case '[':
			stack = append(stack, level{first: len(ends)})
		case '}', ']':
			l := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if l.first > 0 {
				arena = arena[:ends[l.first-1]]
			} else {
				arena = arena[:0]
			}
			ends = ends[:l.first]
		case ',':
			if top := len(stack) - 1; top >= 0 && stack[top].object {
				stack[top].wantKey = true
			}
		case '"':
			start := i
			top := len(stack) - 1
			isKey := top >= 0 && stack[top].wantKey
			escaped := false
			for i++; i < len(body) && body[i] != '"'; i++ {
				switch c := body[i]; {
				case c == '\\':
					escaped = true
					n := escapeLen(body[i:])
					if n == 0 {
						return i, textFaultOf(isKey)
					}
					i += n - 1
				case c >= utf8.RuneSelf:
					r, n := utf8.DecodeRune(body[i:])
					if r == utf8.RuneError && n == 1 {
						return i, textFaultOf(isKey)
					}
					i += n - 1
				}
			}
			if i >= len(body) {
				return 0, noFault // not valid JSON: decoding says so
			}
			if !isKey {
				continue
			}
			l := &stack[top]
			l.wantKey = false
			name := body[start+1 : i]
			if escaped {
				var s string
				if err := json.Unmarshal(body[start:i+1], &s); err != nil {
					return 0, noFault
				}
				name = []byte(s)
			}
			from := len(arena)
			arena = appendFolded(arena, name)
			key := arena[from:]
			begin := 0
			if l.first > 0 {
				begin = ends[l.first-1]
			}
			if repeatedIn(l.set, arena, ends[l.first:], begin, key) {
				at := i + 1
				for at < len(body) && (body[at] == ':' || isSpace(body[at])) {
					at++
				}
				return at, repeatedKey
			}
			ends = append(ends, len(arena))
			if n := len(ends) - l.first; n > setFrom {
				if l.set == nil {
					l.set = make(map[string]struct{}, 2*n)
					for _, end := range ends[l.first : len(ends)-1] {
						l.set[string(arena[begin:end])] = struct{}{}
						begin = end
					}
				}
				l.set[string(key)] = struct{}{}
			}
		}
	}
	return 0, noFault
}

// bodyFault is what scanBody found wrong with a body.
type bodyFault uint8

const (
	noFault      bodyFault = iota
	repeatedKey            // a key its object already holds
	badValueText           // a string value that is not UTF-8
	badKeyText             // a key that is not UTF-8
)

func textFaultOf(isKey bool) bodyFault {
	if isKey {
		return badKeyText
	}
	return badValueText
}

// escapeLen is the length of the escape that s starts with (s[0] is the
// backslash of an escape encoding/json accepted): 2, 6 for a \uXXXX, 12
// for a surrogate pair written as two; 0 for half a surrogate pair
// without its other half, which is no character. An escaped backslash is
// two bytes, so the "ud800" of "\\ud800" is plain text.
func escapeLen(s []byte) int {
	switch {
	case len(s) < 2:
		return 1 // not valid JSON: decoding says so
	case s[1] != 'u' || len(s) < 6:
		return 2
	}
	switch u := hex4(s[2:6]); {
	case u < 0xd800 || u > 0xdfff:
		return 6
	case u >= 0xdc00: // a low half first
		return 0
	case len(s) >= 12 && s[6] == '\\' && s[7] == 'u':
		if low := hex4(s[8:12]); low >= 0xdc00 && low <= 0xdfff {
			return 12
		}
	}
	return 0
}

// hex4 is the value of four hexadecimal digits.
func hex4(s []byte) rune {
	var v rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		v = v<<4 | rune(c)
	}
	return v
}

// textFault words the text at body[at] that scanBody found not UTF-8.
func textFault(body []byte, at int) string {
	if body[at] == '\\' {
		return fmt.Sprintf("holds %s, half of a UTF-16 surrogate pair without its other half, which is no character (byte %d of the body)", body[at:at+6], at)
	}
	return fmt.Sprintf("is not valid UTF-8: byte %d of the body is 0x%02X", at, body[at])
}

// setFrom is the most keys an object has before its keys go into a set.
const setFrom = 16

// repeatedIn reports whether key is one of an object's keys before it:
// in set when the object has one, else among the keys ending at ends,
// laid out in arena from begin.
func repeatedIn(set map[string]struct{}, arena []byte, ends []int, begin int, key []byte) bool {
	if set != nil {
		_, ok := set[string(key)]
		return ok
	}
	for _, end := range ends {
		if bytes.Equal(arena[begin:end], key) {
			return true
		}
		begin = end
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendFolded appends s with its case folded as encoding/json folds a key
// when it matches keys to fields: ASCII to upper case, any other rune to
// the smallest of its simple case folds.
func appendFolded(out, s []byte) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
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
