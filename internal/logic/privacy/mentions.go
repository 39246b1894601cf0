package privacy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/megaview/mgvcore/internal/model"
)

// Redacted is what an erasure writes where free text wrote the person's
// email address or phone number.
const Redacted = model.Redacted

// mentions finds a person's email addresses and phone numbers where free
// text writes them: a title, custom data, the words of a transcript, a
// comment, a speaker's or a deal's name. An address is found in any case,
// with a full-width at sign or full stop; a number with or without its
// country code or trunk prefix, its digits grouped by spaces, hyphens,
// dots or brackets, written in ASCII, full-width or Chinese numerals (as
// speech recognition writes what was said), but never as a part of a
// longer number.
type mentions struct {
	patterns []pattern
}

// pattern is one identifier's expression and the test of what may stand
// on either side of a match.
type pattern struct {
	re *regexp.Regexp
	// bounded reports whether a match may stand between the rune before
	// it and the text after it (utf8.RuneError at either end of the text).
	bounded func(before rune, after string) bool
}

// newMentions finds the given email addresses (normalised: lower case)
// and phone numbers (E.164); nil when there is nothing to find.
func newMentions(emails, phones []string) *mentions {
	m := &mentions{}
	for _, e := range emails {
		if strings.Contains(e, "@") {
			m.patterns = append(m.patterns, pattern{re: regexp.MustCompile(emailExpr(e)), bounded: emailBounded})
		}
	}
	for _, p := range phones {
		if expr, ok := phoneExpr(p); ok {
			m.patterns = append(m.patterns, pattern{re: regexp.MustCompile(expr), bounded: phoneBounded})
		}
	}
	if len(m.patterns) == 0 {
		return nil
	}
	return m
}

// In reports whether text mentions the person.
func (m *mentions) In(text string) bool { return len(m.spans(text, true)) > 0 }

// Spans are the byte ranges of the mentions of the person in text, in
// order.
func (m *mentions) Spans(text string) [][2]int { return m.spans(text, false) }

// Redact writes Redacted for every mention of the person in text, and
// reports whether there was any.
func (m *mentions) Redact(text string) (string, bool) {
	spans := m.spans(text, false)
	return model.Redact(text, spans), len(spans) > 0
}

// spans are the byte ranges of the mentions in text, in order, overlaps
// merged; with first, only the first one found.
func (m *mentions) spans(text string, first bool) [][2]int {
	var out [][2]int
	for _, p := range m.patterns {
		for at := 0; at < len(text); {
			loc := p.re.FindStringIndex(text[at:])
			if loc == nil {
				break
			}
			start, end := at+loc[0], at+loc[1]
			before, _ := utf8.DecodeLastRuneInString(text[:start])
			if start == 0 {
				before = utf8.RuneError
			}
			if p.bounded(before, text[end:]) {
				out = append(out, [2]int{start, end})
				if first {
					return out
				}
				at = end
				continue
			}
			// Not a mention here (a part of a longer number or address):
			// it may begin one rune further on.
			_, size := utf8.DecodeRuneInString(text[start:])
			at = start + size
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s[0] <= merged[n-1][1] {
			merged[n-1][1] = max(merged[n-1][1], s[1])
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// emailExpr matches address in any case, in ASCII or full-width letters,
// its at sign also written ＠, (at), [at] or 艾特 and its full stops ．,
// 。, 点, (dot) or [dot], either with a space around it.
func emailExpr(address string) string {
	var b strings.Builder
	b.WriteString("(?i)")
	for _, r := range address {
		switch {
		case r == '@':
			b.WriteString(`\s?(?:[@＠]|\(at\)|\[at\]|艾特)\s?`)
		case r == '.':
			b.WriteString(`(?:[.．。]|\s?(?:点|\(dot\)|\[dot\])\s?)`)
		case r > ' ' && r < 0x7f && r != '\\' && r != ']' && r != '^' && r != '-':
			// The full-width form of a printable ASCII character is
			// 0xFEE0 above it.
			b.WriteString("[" + regexp.QuoteMeta(string(r)) + string(r+0xFEE0) + "]")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}

// emailBounded: an address is not a part of a longer one (x.jose@… or
// …@example.com.cn); a full stop after it may end the sentence.
func emailBounded(before rune, after string) bool {
	if emailRune(before) {
		return false
	}
	next, size := utf8.DecodeRuneInString(after)
	if next == '.' || next == '．' {
		following, _ := utf8.DecodeRuneInString(after[size:])
		return !emailRune(following) || following == '.'
	}
	return !emailRune(next) && next != '@' && next != '＠'
}

// emailRune is a rune that may continue an address at either end: a
// letter, a digit, or one of ._%+- (a quote or an ampersand, which an
// address may hold too, more often stands around it).
func emailRune(r rune) bool {
	if r >= 'ａ' && r <= 'ｚ' || r >= 'Ａ' && r <= 'Ｚ' || r >= '０' && r <= '９' {
		return true
	}
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._%+-", r))
}

// digitForms are the ways a digit is written in text: ASCII, full-width,
// and the Chinese numerals (with the forms used to read numbers out:
// 幺 for one, 两 for two, 拐 for seven, 勾 for nine, 洞 for zero).
var digitForms = [10]string{
	"0０零〇洞", "1１一幺壹", "2２二两贰", "3３三叁", "4４四肆",
	"5５五伍", "6６六陆", "7７七拐柒", "8８八捌", "9９九勾玖",
}

// digitSep is what may stand between two digits of a number: up to three
// spaces, hyphens or dashes, dots, brackets, commas (an ideographic one
// too, as speech recognition writes a pause), slashes, underscores,
// tildes, asterisks, or invisible characters (a zero-width space, a soft
// hyphen).
const digitSep = `[\s\x{00A0}\x{3000}\-\x{2010}-\x{2015}.．()（）,，、/_~*\x{200B}-\x{200D}\x{2060}\x{00AD}\x{FEFF}]{0,3}`

// digitsExpr matches digits written in any of their forms, separated.
func digitsExpr(digits string) string {
	var b strings.Builder
	for i, d := range digits {
		if i > 0 {
			b.WriteString(digitSep)
		}
		b.WriteString("[" + digitForms[d-'0'] + "]")
	}
	return b.String()
}

// phoneExpr matches the number e164 as text writes it: its national
// significant number, after its country code (+86, 0086, 86, (+86)) or
// its national trunk prefix (0, (0…)), or neither.
func phoneExpr(e164 string) (string, bool) {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "", false
	}
	national := phonenumbers.GetNationalSignificantNumber(n)
	if len(national) < 4 || strings.Trim(national, "0123456789") != "" {
		return "", false
	}
	code := strconv.Itoa(int(n.GetCountryCode()))
	prefixes := []string{`(?:[(（]?(?:[+＋]|00)` + digitSep + `)?` + digitsExpr(code) + digitSep + `(?:\(0\)` + digitSep + `)?`}
	if trunk := phonenumbers.GetNddPrefixForRegion(phonenumbers.GetRegionCodeForNumber(n), true); trunk != "" {
		prefixes = append(prefixes, `[(（]?`+digitsExpr(trunk)+digitSep)
	}
	return "(?:" + strings.Join(prefixes, "|") + ")?" + digitsExpr(national), true
}

// phoneBounded: a number is not a part of a longer one.
func phoneBounded(before rune, after string) bool {
	next, _ := utf8.DecodeRuneInString(after)
	return !digitRune(before) && !digitRune(next)
}

// digitRune is a digit in any of its forms (digitForms).
func digitRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= '0' && r <= '9'
	}
	return strings.ContainsRune(numerals, r)
}

// numerals are the forms of the digits beyond ASCII.
var numerals = strings.Join(digitForms[:], "")
