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
	if problem := lineProblem(v); problem != "" {
		return errs.InvalidArgument(field, "%s", problem)
	}
	return nil
}

// lineProblem words what CheckLine refuses in v; "" when nothing.
func lineProblem(v string) string {
	n := 0
	for _, r := range v {
		n++
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("must not contain control characters or line breaks (U+%04X is character %d)", r, n)
		}
	}
	return ""
}

// CheckName refuses a name, label, key or id a person reads (one line, as
// CheckLine) that could show other than it is: one that holds a
// bidirectional embedding, override or isolate control (U+202A to U+202E,
// U+2066 to U+2069; "gnp.\u202eexe" shows as "gnp.exe" reversed), a
// noncharacter (U+FDD0 to U+FDEF, U+FFFE, U+FFFF and the last two of every
// plane), or, when not empty, nothing visible (spaces, zero-width and
// other format characters only). Right-to-left and left-to-right marks
// and zero-width joiners, which Arabic, Hebrew, Indic scripts and emoji
// sequences need, are taken within a visible name. Free text (CheckText)
// is not held to this.
func CheckName(field, v string) error {
	if problem := NameProblem(v); problem != "" {
		return errs.InvalidArgument(field, "%s", problem)
	}
	return nil
}

// NameProblem words what CheckName refuses in v, for an error about the
// field that holds it; "" when nothing.
func NameProblem(v string) string {
	if problem := lineProblem(v); problem != "" {
		return problem
	}
	n, visible := 0, v == ""
	for _, r := range v {
		n++
		switch {
		case '\u202a' <= r && r <= '\u202e' || '\u2066' <= r && r <= '\u2069':
			return fmt.Sprintf("must not contain bidirectional embedding, override or isolate controls, which make text show in another order than it is written (U+%04X is character %d)", r, n)
		case unicode.Is(unicode.Noncharacter_Code_Point, r):
			return fmt.Sprintf("must not contain noncharacters (U+%04X is character %d)", r, n)
		case !visible:
			visible = !invisible(r)
		}
	}
	if !visible {
		return "must contain a visible character, not only spaces and invisible format characters"
	}
	return ""
}

// invisible tells a character that shows nothing on its own: a space, a
// format character (zero-width space, joiners, marks of direction, the
// byte order mark), a combining mark, a variation selector, another
// default-ignorable character (the Hangul fillers) or the blank braille
// pattern.
func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Cf, unicode.Mn, unicode.Me,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) || r == '\u2800'
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
