package access

import (
	"unicode"

	"github.com/megaview/mgvcore/internal/errs"
)

// CheckLine refuses a one-line text (a name, a title, an id, a keyword)
// that holds a control character. NUL, line breaks, escapes and the like
// are never part of a name, and stored as they are they would reach
// logs, exports and the screens that show them.
func CheckLine(field, v string) error {
	n := 0
	for _, r := range v {
		n++
		if unicode.IsControl(r) {
			return errs.InvalidArgument(field, "must not contain control characters (U+%04X is character %d)", r, n)
		}
	}
	return nil
}
