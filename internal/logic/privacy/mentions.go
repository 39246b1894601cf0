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
// in ASCII or full-width letters, its at sign and full stops in their
// other forms (emailExpr); a number with or without its country code or
// trunk prefix, its digits grouped by separators, written in ASCII,
// full-width or Chinese numerals (as speech recognition writes what was
// said), but never where other digits run on from it (phoneSpans).
type mentions struct {
	emails []emailPattern
	phones []phonePattern
}

// emailPattern is one address's expression, and the most bytes a match
// may take on either side of its at sign.
type emailPattern struct {
	re    *regexp.Regexp
	reach int
}

// newMentions finds the given email addresses (normalised: lower case)
// and phone numbers (E.164); nil when there is nothing to find.
func newMentions(emails, phones []string) *mentions {
	m := &mentions{}
	for _, e := range emails {
		if strings.Contains(e, "@") {
			// Each character written full-width (3 bytes), a full
			// stop as " (dot) ", the at sign as " 艾特 ".
			m.emails = append(m.emails, emailPattern{re: regexp.MustCompile(emailExpr(e)), reach: 8*utf8.RuneCountInString(e) + 16})
		}
	}
	for _, p := range phones {
		if ph, ok := newPhonePattern(p); ok {
			m.phones = append(m.phones, ph)
		}
	}
	if len(m.emails) == 0 && len(m.phones) == 0 {
		return nil
	}
	return m
}

// Spans are the byte ranges of the mentions of the person in text, in
// order, overlaps merged.
func (m *mentions) Spans(text string) [][2]int {
	var out [][2]int
	if len(m.phones) > 0 {
		out = phoneSpans(text, m.phones)
	}
	if len(m.emails) > 0 {
		// An address is read for only around an at sign: most text has
		// none, and the expression is slow to read through.
		ats := atSigns(text)
		for _, p := range m.emails {
			for i := 0; i < len(ats); {
				j := i
				for j+1 < len(ats) && ats[j+1]-p.reach <= ats[j]+p.reach {
					j++
				}
				from, to := runeFloor(text, ats[i]-p.reach), runeFloor(text, min(len(text), ats[j]+p.reach))
				i = j + 1
				out = p.find(text, from, to, out)
			}
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

// find appends the address's matches in text[lo:hi] that are not a part
// of a longer address in text.
func (p emailPattern) find(text string, lo, hi int, out [][2]int) [][2]int {
	for at := lo; at < hi; {
		loc := p.re.FindStringIndex(text[at:hi])
		if loc == nil {
			break
		}
		start, end := at+loc[0], at+loc[1]
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		if start == 0 {
			before = utf8.RuneError
		}
		if emailBounded(before, text[end:]) {
			out = append(out, [2]int{start, end})
			at = end
			continue
		}
		// Not a mention here (a part of a longer address): it may begin
		// one rune further on.
		_, size := utf8.DecodeRuneInString(text[start:])
		at = start + size
	}
	return out
}

// atSigns are where text writes an at sign in any of the forms emailExpr
// takes, in order.
func atSigns(text string) []int {
	var out []int
	for i := 0; i < len(text); i++ {
		if !atLead[text[i]] {
			continue
		}
		rest := text[i:]
		if rest[0] == '@' || strings.HasPrefix(rest, "＠") || strings.HasPrefix(rest, "艾特") ||
			len(rest) >= 4 && (rest[0] == '(' || rest[0] == '[') && rest[1]|0x20 == 'a' && rest[2]|0x20 == 't' && (rest[3] == ')' || rest[3] == ']') {
			out = append(out, i)
		}
	}
	return out
}

// atLead are the first bytes of the forms of an at sign.
var atLead = func() (t [256]bool) {
	for _, form := range []string{"@", "＠", "艾特", "(", "["} {
		t[form[0]] = true
	}
	return t
}()

// runeFloor is i, or the start of the character it falls in; 0 below 0.
func runeFloor(text string, i int) int {
	if i <= 0 {
		return 0
	}
	for i > 0 && i < len(text) && !utf8.RuneStart(text[i]) {
		i--
	}
	return i
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

// A number's digits may be separated by up to maxSeparators of these:
// spaces, hyphens or dashes, dots (the ideographic full stop and the
// ellipsis too), brackets, commas (an ideographic one too, as speech
// recognition writes a pause), slashes, underscores, tildes, asterisks
// (also full-width), or invisible characters (a zero-width space, a soft
// hyphen).
const (
	separators    = "。\u2026 \t\n\r\f\u00a0\u3000-－\u2010\u2011\u2012\u2013\u2014\u2015.．()（）,，、/／_＿~～*\u200b\u200c\u200d\u2060\u00ad\ufeff"
	maxSeparators = 3
)

// phonePattern is one number: its national significant number and the
// digits that may stand before it (its country code, with 00 or without,
// its trunk prefix, both as in +86 (0)10 …, or none), longest first.
type phonePattern struct {
	national string
	prefixes []string
}

// minNational is the fewest digits of a national number found without
// its country code: a mobile number has 10 or 11 in most countries, a
// fixed line 7 or more with its area code.
const minNational = 7

// newPhonePattern finds the number e164.
func newPhonePattern(e164 string) (phonePattern, bool) {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return phonePattern{}, false
	}
	national := phonenumbers.GetNationalSignificantNumber(n)
	if len(national) < 4 || strings.Trim(national, "0123456789") != "" {
		return phonePattern{}, false
	}
	code := strconv.Itoa(int(n.GetCountryCode()))
	prefixes := []string{"00" + code, code}
	trunk := phonenumbers.GetNddPrefixForRegion(phonenumbers.GetRegionCodeForNumber(n), true)
	if trunk != "" {
		prefixes = append(prefixes, "00"+code+trunk, code+trunk)
	}
	// A number of fewer than minNational digits (Tokelau's +690 3000) is
	// found only after its country code: alone, its digits are amounts,
	// years and codes all over the tenant's text.
	if len(national) >= minNational {
		prefixes = append(prefixes, "")
		if trunk != "" {
			prefixes = append(prefixes, trunk)
		}
	}
	slices.SortStableFunc(prefixes, func(a, b string) int { return len(b) - len(a) })
	return phonePattern{national: national, prefixes: prefixes}, true
}

// digitRun is a run of digits in text, each apart from the next by at most
// maxSeparators separators: the digits (ASCII), where each begins and
// ends in text, and whether separators stand before it.
type digitRun struct {
	digits     []byte
	start, end []int
	apart      []bool
}

// phoneSpans finds the numbers in text. A number is found in a run of
// digits where it is the run itself, or a part of it that separators set
// apart (the run 138 0013 8000 1234 holds 13800138000, the run
// 138001380001 does not), after one of its prefixes or none.
func phoneSpans(text string, phones []phonePattern) [][2]int {
	var out [][2]int
	var run digitRun
	seps, prevCJK := 0, false
	flush := func() {
		if len(run.digits) >= 4 {
			out = run.find(text, phones, out)
		}
		run.digits, run.start, run.end, run.apart = run.digits[:0], run.start[:0], run.end[:0], run.apart[:0]
		seps = 0
	}
	for i, r := range text {
		if d := digitOf(r); d >= 0 {
			if len(run.digits) > 0 && seps > maxSeparators {
				flush()
			}
			run.digits = append(run.digits, byte('0'+d))
			run.start = append(run.start, i)
			run.end = append(run.end, i+utf8.RuneLen(r))
			// A numeral next to a digit of another script starts a group.
			cjk := r >= 0x3000 && r < 0xA000
			run.apart = append(run.apart, seps > 0 || len(run.digits) > 1 && cjk != prevCJK)
			prevCJK = cjk
			seps = 0
			continue
		}
		if len(run.digits) > 0 && separator(r) {
			seps++
			continue
		}
		flush()
	}
	flush()
	return out
}

// find appends the numbers the run holds.
func (run *digitRun) find(text string, phones []phonePattern, out [][2]int) [][2]int {
	d := string(run.digits)
	for a := 0; a < len(d); a++ {
		if a > 0 && !run.apart[a] {
			continue
		}
		for _, p := range phones {
			b, ok := p.at(d, a)
			if !ok || (b < len(d) && !run.apart[b]) {
				continue
			}
			start := run.start[a]
			// A plus and an opening bracket just before the digits
			// belong to the number: +86 …, (+86) …, (010) ….
			for _, lead := range []string{"+", "＋", "(", "（"} {
				if strings.HasSuffix(text[:start], lead) {
					start -= len(lead)
				}
			}
			out = append(out, [2]int{start, run.end[b-1]})
			a = b - 1
			break
		}
	}
	return out
}

// at reports where the number ends when it begins at a in digits, after
// one of its prefixes.
func (p phonePattern) at(digits string, a int) (int, bool) {
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(digits[a:], prefix) && strings.HasPrefix(digits[a+len(prefix):], p.national) {
			return a + len(prefix) + len(p.national), true
		}
	}
	return 0, false
}

// digitForms are the ways a digit is written in text: ASCII, full-width,
// and the Chinese numerals (with the forms used to read numbers out:
// 幺 for one, 两 for two, 拐 for seven, 勾 for nine, 洞 for zero).
var digitForms = [10]string{
	"0０零〇洞", "1１一幺壹", "2２二两贰", "3３三叁", "4４四肆",
	"5５五伍", "6６六陆", "7７七拐柒", "8８八捌", "9９九勾玖",
}

// numerals holds, for each character of the CJK blocks (from U+3000), one
// more than the digit it writes, or 0 for none: most text is ASCII or
// Chinese characters that are no numerals, told apart by one index.
var numerals = func() (t [0xA000 - 0x3000]uint8) {
	for d, forms := range digitForms {
		for _, r := range forms {
			if r >= 0x3000 && r < 0xA000 {
				t[r-0x3000] = uint8(d + 1)
			}
		}
	}
	return t
}()

// asciiSeparator tells the ASCII separators.
var asciiSeparator = func() (t [utf8.RuneSelf]bool) {
	for _, r := range separators {
		if r < utf8.RuneSelf {
			t[r] = true
		}
	}
	return t
}()

// separator tells a separator of digits.
func separator(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiSeparator[r]
	}
	return strings.ContainsRune(separators, r)
}

// digitOf is the value of a digit in any of its forms (digitForms: ASCII,
// full-width from U+FF10, numerals in the CJK blocks); -1 for what is not
// one.
func digitOf(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= '０' && r <= '９':
		return int(r - '０')
	case r >= 0x3000 && r < 0xA000:
		return int(numerals[r-0x3000]) - 1
	}
	return -1
}
