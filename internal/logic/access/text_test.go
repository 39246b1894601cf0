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
