package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStringCutsOnCharacterBoundaries(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 4, ""},
		{"abc", 3, "abc"},
		{"abc", 2, "ab"},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"预算", 6, "预算"},
		{"预算", 5, "预"}, // 算 would cross the limit: left out whole
		{"预算", 3, "预"},
		{"预算", 2, ""},
		{"a😀b", 4, "a"},
		{"a😀b", 5, "a😀"},
	} {
		if got := String(c.s, c.n); got != c.want {
			t.Errorf("String(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestStringKeepsValidTextValid(t *testing.T) {
	s := strings.Repeat("中文 English 😀 ", 40)
	for n := 0; n <= len(s); n++ {
		got := String(s, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasPrefix(s, got) || len(got) < n-3 {
			t.Fatalf("String(s, %d) = %d bytes, valid %v: want a valid prefix of at least %d and at most %d bytes",
				n, len(got), utf8.ValidString(got), n-3, n)
		}
	}
}

func TestQuoteCutsLongNames(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"disk", 8, `"disk"`},
		{"a\x00b", 8, `"a\x00b"`},
		{"abcdefgh", 4, `"abcd"…`},
		{"预算预算", 7, `"预算"…`},
		{"ab\xffcdef", 5, `"ab�"…`},
	} {
		if got := Quote(c.s, c.n); got != c.want {
			t.Errorf("Quote(%q, %d) = %s, want %s", c.s, c.n, got, c.want)
		}
	}
}
