package interaction

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CountTokens counts tokens the way PRODUCT.md §4 sizes a sentence: each CJK
// character is one token, each word (a run of letters and digits) is one token,
// and punctuation, symbols and spaces are none.
//
// Interpretations:
//   - CJK means the Han, Hiragana, Katakana and Hangul scripts, one token per
//     character; letters of every other script form words like Latin does.
//   - An apostrophe between two word characters joins them ("don't" and
//     "rock'n'roll" are one token each), so English contractions do not
//     inflate a back-channel such as "that's it" past the threshold.
//   - A combining mark continues the word it follows ("cafe\u0301" is one token).
func CountTokens(text string) int { return countTokens(text, math.MaxInt) }

// countTokens counts the tokens of text up to limit: a caller asking
// whether there are fewer than limit need not read past the limit-th.
func countTokens(text string, limit int) int {
	const (
		outside = iota
		inWord
		afterApostrophe // inside a word, just past an apostrophe that may continue it
	)
	n, state := 0, outside
	for _, r := range text {
		switch {
		case IsCJK(r):
			if n++; n >= limit {
				return n
			}
			state = outside
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if state == outside {
				if n++; n >= limit {
					return n
				}
			}
			state = inWord
		case state == inWord && (r == '\'' || r == '’'):
			state = afterApostrophe
		case state == inWord && unicode.IsMark(r):
		default:
			state = outside
		}
	}
	return n
}

func IsCJK(r rune) bool {
	// No letter of these scripts lies below U+1100 (Hangul Jamo), so Latin
	// text, most of what is counted, skips the table lookups.
	return r >= 0x1100 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// Boundary is the match token between two CJK characters that something
// other than a combining mark stands between (a comma, a space). No word or
// character is empty, so no other token equals it: a keyword without one
// never matches across it, as search, which indexes Chinese as bigrams that
// never span a separator, finds 好用 in 很好用 but not in 很好，用户.
const Boundary = ""

// MatchTokens cuts a sentence into the lower-case tokens by which tracker
// keywords match it, as search terms do (PRODUCT §5) but for stemming:
//   - Each CJK character is one token; between two that something stands
//     between, a Boundary.
//   - Each run of letters and digits of any other script is one word (a
//     combining mark continues it), and so are digits joined by one of
//     the marks UAX #29 keeps inside a number (3.5, 1,000): a keyword 3
//     does not hit 3.5%, as search, whose standard tokenizer keeps 3.5
//     whole, does not find it there.
//   - Everything else separates tokens and is otherwise ignored: a word
//     and a CJK character are neighbours whatever stands between them
//     (买 iPhone and 买iPhone alike), as the lone 买 that the bigrams
//     leave is the neighbour of iphone in search.
//
// Full-width ASCII (Ｐｒｉｃｅ) is folded to its usual form. A keyword
// (KeywordTokens) matches where its tokens occur consecutively, so an
// English word matches whole words only and a Chinese one where its
// characters stand together. The tokens are substrings of the folded
// text: a sentence costs one allocation or two, not one per token.
func MatchTokens(text string) []string { return matchTokens(text, false) }

// KeywordTokens cuts a keyword into match tokens as MatchTokens cuts a
// sentence, but for spaces alone between two Han characters, which join
// them as a search phrase joins its words (预算 有限 is 预算有限): Chinese
// is written without spaces, so a space typed into a keyword is no
// boundary the sentence should have.
func KeywordTokens(keyword string) []string { return matchTokens(keyword, true) }

func matchTokens(text string, keyword bool) []string {
	text = strings.Map(foldRune, text)
	toks := make([]string, 0, 8)
	word := -1 // start of the word being read
	// The last letter, digit or CJK character read (0: none), whether
	// something else came after it, and whether that was spaces alone.
	var last rune
	apart, spaces := false, true
	for i, r := range text {
		switch {
		case IsCJK(r):
			if word >= 0 {
				toks, word = append(toks, text[word:i]), -1
			}
			joined := keyword && spaces && isHan(last) && isHan(r)
			if apart && IsCJK(last) && !joined {
				toks = append(toks, Boundary)
			}
			toks = append(toks, text[i:i+utf8.RuneLen(r)])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if word < 0 {
				word = i
			}
		case unicode.IsMark(r):
			continue // it continues the word or character before it
		case word >= 0 && unicode.IsDigit(last) && joinsDigits(r) && digitAt(text, i+utf8.RuneLen(r)):
			continue // inside a number
		default:
			if word >= 0 {
				toks, word = append(toks, text[word:i]), -1
			}
			spaces = spaces && unicode.IsSpace(r)
			apart = true
			continue
		}
		last, apart, spaces = r, false, true
	}
	if word >= 0 {
		toks = append(toks, text[word:])
	}
	return toks
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

// joinsDigits reports whether r keeps the digits on either side of it in
// one word, as UAX #29 says (MidNum, MidNumLet, the apostrophe and the
// Arabic decimal separator; the full-width ones are folded to ASCII
// before).
func joinsDigits(r rune) bool {
	return strings.ContainsRune(".,;'\u2018\u2019\u2024\ufe50\ufe52\ufe54\u037e\u0589\u060c\u060d\u066b\u066c\u07f8\u2044\ufe10\ufe14", r)
}

// digitAt reports whether text holds a digit at byte i.
func digitAt(text string, i int) bool {
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsDigit(r)
}

// foldRune lower-cases r and maps full-width ASCII to ASCII.
func foldRune(r rune) rune {
	if r >= '！' && r <= '～' {
		r -= '！' - '!'
	}
	return unicode.ToLower(r)
}
