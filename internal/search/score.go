package search

import "unicode"

// Scores depend only on the matching sentence and the query: how often
// each term occurs in the sentence and how long the sentence is. No
// engine uses index-wide statistics (a term's document frequency, the
// average sentence length), which would be computed over every tenant's
// transcripts and so tell a tenant, through its own scores or its order,
// how often a word occurs in other tenants' transcripts.
//
// A sentence's score is Norm(its text) times the sum over the query's
// terms of TermWeight(the term's occurrences in it); a conversation's is
// that of its best sentence. The shape is BM25's term frequency part, with
// a fixed average length instead of the collection's.
const (
	// MaxCountedOccurrences bounds the occurrences of a term that raise a
	// sentence's score: past three the weight has nearly saturated.
	MaxCountedOccurrences = 3
	// k1, b and avgWords are BM25's term saturation, length
	// normalisation and (here fixed) average sentence length in words.
	k1       = 1.2
	b        = 0.75
	avgWords = 10.0
)

// TermWeight is a term's part of a sentence's score for n occurrences: 1
// for one, then rising and saturating (1.375 for two, 1.571 for three and
// more).
func TermWeight(n int) float64 {
	f := float64(min(n, MaxCountedOccurrences))
	if f <= 0 {
		return 0
	}
	return f * (k1 + 1) / (f + k1)
}

// Norm is the length factor of a sentence: 1 for a sentence of 10 words,
// more for a shorter one, less for a longer one.
func Norm(text string) float64 {
	return (k1 + 1) / (1 + k1*(1-b+b*float64(Words(text))/avgWords))
}

// Words is the length of text as Norm counts it: a Han, kana or Hangul
// character is a word of its own, any other run of letters and digits is
// one word.
func Words(text string) int {
	n, inWord := 0, false
	for _, r := range text {
		switch {
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
			n++
			inWord = false
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			if !inWord {
				n++
			}
			inWord = true
		default:
			inWord = false
		}
	}
	return n
}
