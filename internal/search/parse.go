package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
)

// Term is one word or "quoted phrase" of a query. Engines match it as a
// phrase of the tokens their analyzer makes of Text, so a Chinese word
// matches only where its characters stand together (预算 is not 预计), and
// nothing in it is ever engine syntax.
type Term struct {
	Text   string `json:"t"`
	Phrase bool   `json:"p,omitempty"`
}

// Parse reads the query syntax of PRODUCT §5: words and "double-quoted
// phrases", all required. Every other character is text: there are no
// operators, wildcards or fields. A quote left open closes at the end; words
// made only of punctuation are dropped. It fails with INVALID_ARGUMENT (field
// "query") when nothing is left to search for, or the query is too long.
func Parse(query string) ([]Term, error) {
	if !utf8.ValidString(query) {
		return nil, errs.InvalidArgument("query", "must be valid UTF-8")
	}
	query = strings.TrimSpace(query)
	switch n := utf8.RuneCountInString(query); {
	case n == 0:
		return nil, errs.InvalidArgument("query", "is required")
	case n > MaxQueryRunes:
		return nil, errs.InvalidArgument("query", "must be at most %d characters (got %d)", MaxQueryRunes, n)
	}
	var (
		terms   []Term
		seen    = map[Term]bool{}
		cur     strings.Builder
		inQuote bool
	)
	emit := func(phrase bool) {
		text := joinWords(strings.FieldsFunc(cur.String(), isSpace))
		cur.Reset()
		if !hasWordRune(text) {
			return
		}
		t := Term{Text: text, Phrase: phrase && strings.ContainsFunc(text, isSpace)}
		if !seen[t] {
			seen[t] = true
			terms = append(terms, t)
		}
	}
	for _, r := range query {
		switch {
		case isQuote(r):
			emit(inQuote)
			inQuote = !inQuote
		case isSpace(r) && !inQuote:
			emit(false)
		default:
			cur.WriteRune(r)
		}
	}
	emit(inQuote)
	if len(terms) == 0 {
		return nil, errs.InvalidArgument("query", "has no word to search for")
	}
	if len(terms) > MaxTerms {
		return nil, errs.InvalidArgument("query", "must have at most %d words and phrases (got %d)", MaxTerms, len(terms))
	}
	return terms, nil
}

// isSpace treats control characters as spaces, so they never reach an
// engine.
func isSpace(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// isQuote accepts the ASCII double quote and the curly quotes Chinese input
// methods type.
func isQuote(r rune) bool { return r == '"' || r == '“' || r == '”' || r == '＂' }

func hasWordRune(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
}

// HasLoneHan reports whether text holds a Han character with no Han
// character beside it (贵, or 买 of 买iPhone): a one-character Chinese word.
// Where Han text is indexed as bigrams, such a character in a query is a
// token the index holds only where the character stood alone in the
// sentence too (太贵了 holds 太贵 and 贵了, never 贵), so both engines match
// a term holding one on a field indexed one character at a time.
func HasLoneHan(text string) bool {
	run := 0
	for _, r := range text {
		if unicode.Is(unicode.Han, r) {
			run++
			continue
		}
		if run == 1 {
			return true
		}
		run = 0
	}
	return run == 1
}

// joinWords joins the words of a phrase with one space, and with none
// between two Han characters: Chinese is written without spaces, so
// "预算 有限" means 预算有限.
func joinWords(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(words[i-1])
			next, _ := utf8.DecodeRuneInString(w)
			if !unicode.Is(unicode.Han, prev) || !unicode.Is(unicode.Han, next) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(w)
	}
	return b.String()
}
