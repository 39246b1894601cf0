package interaction

import (
	"slices"
	"testing"
	"unicode"
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
	}
	for _, tc := range tests {
		if got := MatchTokens(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("MatchTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
