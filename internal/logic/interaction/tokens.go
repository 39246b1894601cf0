package interaction

import (
	"math"
	"unicode"
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
