package access

import (
	"fmt"
	"unicode"

	"github.com/megaview/mgvcore/internal/errs"
)

// CheckLine refuses a one-line text (a name, a title, an id, a keyword)
// that holds a control character or a line or paragraph separator. NUL,
// line breaks, escapes and the like are never part of a name, and stored
// as they are they would reach logs, exports and the screens that show
// them.
func CheckLine(field, v string) error {
	n := 0
	for _, r := range v {
		n++
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return errs.InvalidArgument(field, "must not contain control characters or line breaks (U+%04X is character %d)", r, n)
		}
	}
	return nil
}

// CheckText refuses a free text (a comment) that holds a control character
// other than a line break or a tab: a text may run over several lines, but
// NUL, escapes and the like are never part of what someone wrote.
func CheckText(field, v string) error {
	if r, n, ok := TextControl(v); ok {
		return errs.InvalidArgument(field, "%s", TextControlDetail(r, n))
	}
	return nil
}

// TextControl finds the first character that CheckText refuses: a control
// character (C0, DEL or C1) other than a line feed, a carriage return or a
// tab, and its position in v counted in characters from 1. ok is false
// when v holds none.
func TextControl(v string) (r rune, n int, ok bool) {
	for _, r := range v {
		n++
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return r, n, true
		}
	}
	return 0, 0, false
}

// TextControlDetail words what TextControl found, for an error about a
// free text.
func TextControlDetail(r rune, n int) string {
	return fmt.Sprintf("must not contain control characters other than line breaks and tabs (U+%04X is character %d)", r, n)
}
