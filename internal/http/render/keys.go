package render

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// repeatedKey finds the first key of valid JSON that its object already
// holds: the byte offset where the repeated key's value starts.
// encoding/json matches keys to fields ignoring case and keeps the last of
// repeated keys, so `{"role":"rep","Role":"admin"}` would decode as admin
// while a proxy or a log that reads the first sees rep: keys equal once
// case is folded, as encoding/json folds it, count as the same key.
//
// The scan is one pass over the body. The folded keys of the objects open
// at the time sit end to end in one buffer, and a key is compared with
// those of its own object; an object of more than setFrom keys gets a set
// instead, so neither many small objects (an allocation each) nor one
// object of many keys (a comparison with every other) costs more than in
// proportion to the body.
func repeatedKey(body []byte) (valueAt int, found bool) {
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
			name := body[start+1 : i]
			if escaped {
				var s string
				if err := json.Unmarshal(body[start:i+1], &s); err != nil {
					return 0, false
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
				return at, true
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
	return 0, false
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
