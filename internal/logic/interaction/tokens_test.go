package interaction

import (
	"slices"
	"testing"
	"unicode"

	unicodetok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

func TestCountTokens(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"   ", 0},
		{"，。？！…、", 0},
		{"👍", 0},
		{"嗯", 1},
		{"对", 1},
		{"好的", 2},
		{"是的是的", 4},
		{"嗯，好的。", 3}, // 嗯 + 好 + 的; punctuation is none
		{"ok", 1},
		{"OK!!!", 1},
		{"yeah sure", 2},
		{"yeah, sure thing.", 3},
		{"我们用Zoom开会 ok?", 7}, // 我 们 用 + Zoom + 开 会 + ok
		{"3个客户", 4},          // 3 + 个 客 户
		{"Q3预算200万", 5},      // Q3 + 预 算 + 200 + 万
		{"version 2.0", 3},   // version + 2 + 0
		{"don't know", 2},    // the apostrophe joins don't
		{"it’s fine", 2},     // so does the typographic one
		{"rock'n'roll", 1},
		{"'ok'", 1},       // quotes around a word are not part of it
		{"e-mail", 2},     // a hyphen separates
		{"café", 1},       // precomposed é
		{"cafe\u0301", 1}, // e + combining acute accent
		{"ｏｋ", 1},         // full-width Latin is still a word
		{"２０２６年", 2},      // full-width digits + 年
		{"こんにちは", 5},      // Hiragana: one token per character
		{"カタカナ", 4},       // Katakana
		{"안녕하세요", 5},      // Hangul syllables
		{"привет мир", 2}, // other alphabets form words like Latin
		{"Hello,world", 2},
		{"我们的方案包括三个部分", 11},
		{"我想了解一下价格，OK？", 9}, // 8 Han + OK
		{"\t嗯\n", 1},
		{"1,000,000 users", 4}, // 1 + 000 + 000 + users: digits are split by commas
		{"mgv-core_v2", 3},     // mgv + core + v2: "_" is punctuation
		{"嗯嗯嗯嗯嗯", 5},
		{"OK的", 2}, // OK + 的
	}
	for _, tt := range tests {
		if got := CountTokens(tt.text); got != tt.want {
			t.Errorf("CountTokens(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

// IsCJK's fast path claims no letter of the four scripts lies below U+1100.
func TestIsCJKFastPathBound(t *testing.T) {
	for r := rune(0); r < 0x1100; r++ {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			t.Fatalf("%U is CJK but below the fast path's bound", r)
		}
	}
}

// countTokens stops at its limit and agrees with CountTokens below it.
func TestCountTokensUpToALimit(t *testing.T) {
	for _, text := range []string{"", "嗯", "好的", "ok", "yeah sure", "that's it", "是的是的", "Let's talk budget 预算多少", "  ,, 1 2 3 4"} {
		full := CountTokens(text)
		for limit := 1; limit <= 5; limit++ {
			if got, want := countTokens(text, limit), min(full, limit); got != want {
				t.Errorf("countTokens(%q, %d) = %d, want %d", text, limit, got, want)
			}
		}
	}
}

func TestMatchTokens(t *testing.T) {
	const B = Boundary
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello, World!", []string{"hello", "world"}},
		{"don't", []string{"don", "t"}},
		{"预算ok吗", []string{"预", "算", "ok", "吗"}},
		{"ＡＢＣ１２３", []string{"abc123"}},
		{"  ...  ", nil},
		{"e-mail", []string{"e", "mail"}},
		// Between two CJK characters a separator is a boundary, as search
		// never makes a bigram across one.
		{"产品很好，用户都满意", []string{"产", "品", "很", "好", B, "用", "户", "都", "满", "意"}},
		{"预，算", []string{"预", B, "算"}},
		{"今年 预 算", []string{"今", "年", B, "预", B, "算"}},
		{"好 ， 。用", []string{"好", B, "用"}},
		{"很好用", []string{"很", "好", "用"}},
		{"カタカナ、ひらがな", []string{"カ", "タ", "カ", "ナ", B, "ひ", "ら", "が", "な"}},
		// A word and a CJK character are neighbours whatever stands
		// between them, as the lone character is iphone's neighbour in
		// search.
		{"买iPhone", []string{"买", "iphone"}},
		{"买 iPhone", []string{"买", "iphone"}},
		{"好，ok，用", []string{"好", "ok", "用"}},
		{"，好", []string{"好"}},
		{"好。", []string{"好"}},
		{"好\u0301，用", []string{"好", B, "用"}}, // a mark is no separator
		// Digits joined by a mark UAX #29 keeps inside a number stay one
		// word; the mark alone, or beside a letter, separates.
		{"3.5%", []string{"3.5"}},
		{"1,000,000 users", []string{"1,000,000", "users"}},
		{"３．５折", []string{"3.5", "折"}},
		{"价格3，5个", []string{"价", "格", "3,5", "个"}},
		{"v2.0", []string{"v2.0"}},
		{"3.", []string{"3"}},
		{"3..5", []string{"3", "5"}},
		{"3. 5", []string{"3", "5"}},
		{"a.b", []string{"a", "b"}},
		{"2.x", []string{"2", "x"}},
		{"90's", []string{"90", "s"}},
		{"3-5", []string{"3", "5"}},
	}
	for _, tc := range tests {
		if got := MatchTokens(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("MatchTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A keyword is cut as a sentence is, but spaces alone between two Han
// characters join them, as search.Parse joins the words of a phrase.
func TestKeywordTokens(t *testing.T) {
	const B = Boundary
	tests := []struct {
		in   string
		want []string
	}{
		{"好用", []string{"好", "用"}},
		{"预算 有限", []string{"预", "算", "有", "限"}},
		{"预算  有限", []string{"预", "算", "有", "限"}},
		{"预算，有限", []string{"预", "算", B, "有", "限"}},
		{"预算 ，有限", []string{"预", "算", B, "有", "限"}},
		{"カタ カナ", []string{"カ", "タ", B, "カ", "ナ"}}, // kana words are spaced
		{"free trial", []string{"free", "trial"}},
		{"买 iPhone", []string{"买", "iphone"}},
		{"3.5", []string{"3.5"}},
	}
	for _, tc := range tests {
		if got := KeywordTokens(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("KeywordTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Digits stay one word across a separator exactly where the tokenizer of
// the embedded search engine (UAX #29, as Elasticsearch's standard
// tokenizer) keeps them in one token. Left out: connectors (_), which join
// letters as well as digits in search, where tracker keywords split words
// as they always did; and what UAX #29 takes for letters or digits though
// Unicode does not (Ⓐ, ꛦ, ׳).
func TestMatchTokensKeepNumbersAsSearchDoes(t *testing.T) {
	tok := unicodetok.NewUnicodeTokenizer()
	for r := rune(0x20); r < 0x10000; r++ {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || IsCJK(r) || unicode.In(r, unicode.Cf, unicode.Pc, unicode.Other_Alphabetic) ||
			r == '\u05f3' || (r >= '！' && r <= '～') || (r >= 0xd800 && r < 0xe000) {
			continue
		}
		text := "3" + string(r) + "5"
		search := tok.Tokenize([]byte(text))
		got := MatchTokens(text)
		if (len(search) == 1) != (len(got) == 1) {
			t.Errorf("%q (%U): search has %d tokens, MatchTokens %q", text, r, len(search), got)
		}
	}
}
