package access

import (
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
)

func TestCheckLine(t *testing.T) {
	for _, ok := range []string{"", "Acme 销售部", "O'Brien – 李娜", "emoji 🙂", "张 三\u3000😀\u200d👩", "\u202Ebidi is a format character, not a control"} {
		if err := CheckLine("name", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, tc := range []struct{ v, msg string }{
		{"nul\x00x", "name: must not contain control characters or line breaks (U+0000 is character 4)"},
		{"两行\n文本", "name: must not contain control characters or line breaks (U+000A is character 3)"},
		{"tab\there", "name: must not contain control characters or line breaks (U+0009 is character 4)"},
		{"esc\x1b[31m", "name: must not contain control characters or line breaks (U+001B is character 4)"},
		{"c1\u0085", "name: must not contain control characters or line breaks (U+0085 is character 3)"},
		{"del\x7f", "name: must not contain control characters or line breaks (U+007F is character 4)"},
		{"ls\u2028", "name: must not contain control characters or line breaks (U+2028 is character 3)"},
		{"ps\u2029", "name: must not contain control characters or line breaks (U+2029 is character 3)"},
	} {
		err := CheckLine("name", tc.v)
		if e := errs.From(err); err == nil || e.Reason != errs.ReasonInvalidArgument || e.Message != tc.msg {
			t.Errorf("%q: %v, want INVALID_ARGUMENT %q", tc.v, err, tc.msg)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{
		"", "Acme 销售部", "张三", "O'Brien – 李娜", "emoji 🙂", "👩\u200d💻", "👨\u200d👩\u200d👧", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
		"\u200fשלום\u200f", "مرحبا\u200e 123", "كلمة\u200cكلمة", "क्\u200dष", "a\u200bb", "\ufeffname", "Ａｃｍｅ", "é",
	} {
		if err := CheckName("name", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	const bidi = "name: must not contain bidirectional embedding, override or isolate controls, which make text show in another order than it is written"
	const blank = "name: must contain a visible character, not only spaces and invisible format characters"
	for _, tc := range []struct{ v, msg string }{
		{"\u202e\u202e\u202e", bidi + " (U+202E is character 1)"},
		{"gnp.\u202eexe", bidi + " (U+202E is character 5)"},
		{"\u202eX", bidi + " (U+202E is character 1)"},
		{"a\u202ab", bidi + " (U+202A is character 2)"},
		{"isolate\u2066x\u2069", bidi + " (U+2066 is character 8)"},
		{"\u2069", bidi + " (U+2069 is character 1)"},
		{"\uffff\ufffe", "name: must not contain noncharacters (U+FFFF is character 1)"},
		{"x\ufdd0", "name: must not contain noncharacters (U+FDD0 is character 2)"},
		{"x\U0010FFFE", "name: must not contain noncharacters (U+10FFFE is character 2)"},
		{"\U0001FFFF", "name: must not contain noncharacters (U+1FFFF is character 1)"},
		{"\u200b\u200b", blank},
		{"\ufeff", blank},
		{"   ", blank},
		{"\u3000\u00a0\u200d\u200c\u200e\u200f\u2060", blank},
		{"\u3164\u115f", blank},
		{"\u0301\ufe0f", blank},
		{"\u2800", blank},
		{"nul\x00x", "name: must not contain control characters or line breaks (U+0000 is character 4)"},
	} {
		err := CheckName("name", tc.v)
		if e := errs.From(err); err == nil || e.Reason != errs.ReasonInvalidArgument || e.Message != tc.msg {
			t.Errorf("%q: %v, want INVALID_ARGUMENT %q", tc.v, err, tc.msg)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, ok := range []string{"", "第一行\n第二行", "a\r\nb", "col\tcol", "\u202Ebidi", "\u2028ls"} {
		if err := CheckText("text", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, tc := range []struct{ v, msg string }{
		{"nul\x00x", "text: must not contain control characters other than line breaks and tabs (U+0000 is character 4)"},
		{"esc\x1b[31m", "text: must not contain control characters other than line breaks and tabs (U+001B is character 4)"},
		{"bs\x08", "text: must not contain control characters other than line breaks and tabs (U+0008 is character 3)"},
		{"c1\u0085", "text: must not contain control characters other than line breaks and tabs (U+0085 is character 3)"},
		{"del\x7f", "text: must not contain control characters other than line breaks and tabs (U+007F is character 4)"},
	} {
		err := CheckText("text", tc.v)
		if e := errs.From(err); err == nil || e.Reason != errs.ReasonInvalidArgument || e.Message != tc.msg {
			t.Errorf("%q: %v, want INVALID_ARGUMENT %q", tc.v, err, tc.msg)
		}
	}
}
