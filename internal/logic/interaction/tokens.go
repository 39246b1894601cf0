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

// MatchTokens cuts text into the lower-case tokens by which tracker keywords
// match it, as search terms do (PRODUCT §5): each CJK character is one
// token, each run of letters and digits of any other script is one word (a
// combining mark continues it); everything else separates tokens and is
// otherwise ignored. Full-width ASCII (Ｐｒｉｃｅ)
// is folded to its usual form. A term matches where its tokens occur
// consecutively, so an English word matches whole words only. The tokens are
// substrings of the folded text: a sentence costs one allocation or two, not
// one per token.
func MatchTokens(text string) []string {
	text = strings.Map(foldRune, text)
	toks := make([]string, 0, 8)
	word := -1 // start of the word being read
	for i, r := range text {
		switch {
		case IsCJK(r):
			if word >= 0 {
				toks, word = append(toks, text[word:i]), -1
			}
			toks = append(toks, text[i:i+utf8.RuneLen(r)])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if word < 0 {
				word = i
			}
		case word >= 0 && unicode.IsMark(r):
		case word >= 0:
			toks, word = append(toks, text[word:i]), -1
		}
	}
	if word >= 0 {
		toks = append(toks, text[word:])
	}
	return toks
}

// foldRune lower-cases r and maps full-width ASCII to ASCII.
func foldRune(r rune) rune {
	if r >= '！' && r <= '～' {
		r -= '！' - '!'
	}
	return unicode.ToLower(r)
}
