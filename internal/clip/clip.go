// Package clip cuts text to fit a column or a log line without splitting a
// UTF-8 character, so the cut text stays valid wherever valid text was
// given.
package clip

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// String is s cut to at most n bytes on a character boundary: a character
// that would cross the limit is left out whole.
func String(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Quote is s as an error repeats a name it was sent: quoted, hidden
// characters and invalid bytes escaped, cut to at most n bytes of s with
// "…" after the quote when it was cut.
func Quote(s string, n int) string {
	if len(s) <= n {
		return strconv.QuoteToGraphic(s)
	}
	return strconv.QuoteToGraphic(String(strings.ToValidUTF8(s, "\uFFFD"), n)) + "…"
}
