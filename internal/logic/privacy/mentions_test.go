package privacy

import (
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/model"
)

func TestMentionsOfAPhoneNumberInTheWaysTextWritesIt(t *testing.T) {
	m := newMentions(nil, []string{"+8613800138000"})
	for _, tc := range []struct{ text, want string }{
		{"call 13800138000 today", "call [erased] today"},
		{"call +86 138 0013 8000.", "call [erased]."},
		{"call +86-138-0013-8000, or", "call [erased], or"},
		{"电话0086 13800138000谢谢", "电话[erased]谢谢"},
		{"号码是8613800138000", "号码是[erased]"},
		{"(+86) 138.0013.8000", "[erased]"},
		{"打１３８００１３８０００吧", "打[erased]吧"},
		{"号码幺三八零零幺三八零零零。", "号码[erased]。"},
		{"138，0013，8000", "[erased]"},
		{"一三八，零零一三，八零零零", "[erased]"},
		{"138、0013、8000", "[erased]"},
		{"138 - 0013 - 8000", "[erased]"},
		{"138\u200b0013 8000", "[erased]"},
		{"138/0013/8000", "[erased]"},
		{"我的号码是138。\n0013。\n8000。", "我的号码是[erased]。"},
		{"138…0013…8000", "[erased]"},
		{"手机13800138000一直打不通", "手机[erased]一直打不通"},
		{"第一13800138000", "第一[erased]"},
		{"138-0013-8000一起", "[erased]一起"},
		{"１３８－００１３－８０００", "[erased]"},
		{"+86 138 0013 8000 ext 12", "[erased] ext 12"},
		{"138 0013 8000 1234", "[erased] 1234"},
		{"8613800138000", "[erased]"},
		{"813800138000", "813800138000"},
		{"138    0013 8000", "138    0013 8000"},
		{"一三八 零零一三 八零零零", "[erased]"},
		{"twice: 13800138000 and 138-0013-8000", "twice: [erased] and [erased]"},
		{"013800138000", "[erased]"},
		// Not this number: a longer one, or another.
		{"order 913800138000", "order 913800138000"},
		{"order 138001380001", "order 138001380001"},
		{"call 13800138001", "call 13800138001"},
		{"call 1380013800", "call 1380013800"},
		{"一千三百八十万", "一千三百八十万"},
		{"幺三八零零幺三八零零零零", "幺三八零零幺三八零零零零"},
		{"一三八零零一三八零零零九", "一三八零零一三八零零零九"},
	} {
		got, changed := redact(m, tc.text)
		if got != tc.want || changed != (got != tc.text) {
			t.Errorf("Redact(%q) = %q, %v; want %q", tc.text, got, changed, tc.want)
		}
	}
}

// redact writes Redacted for every mention in text, as the erasure does,
// and reports whether there was any.
func redact(m *mentions, text string) (string, bool) {
	spans := m.Spans(text)
	return model.Redact(text, spans), len(spans) > 0
}

func TestMentionsOfAFixedLineTakeItsTrunkPrefix(t *testing.T) {
	m := newMentions(nil, []string{"+861012345678"})
	for _, text := range []string{"010-1234-5678", "(010) 12345678", "+86 10 1234 5678", "+86 (0)10 1234 5678"} {
		if got, _ := redact(m, "tel "+text+" ok"); got != "tel [erased] ok" {
			t.Errorf("Redact(%q) = %q", text, got)
		}
	}
}

// A national number of few digits (Tokelau's) is found only after its
// country code: alone, its digits are amounts, years and order numbers.
func TestMentionsOfAShortNumberTakeItsCountryCode(t *testing.T) {
	m := newMentions(nil, []string{"+6903000"})
	for _, tc := range []struct{ text, want string }{
		{"call +690 3000 today", "call [erased] today"},
		{"call 00690-3000", "call [erased]"},
		{"预算是3000元, 最多 3,000 吧, 二〇二六年三〇〇〇台", "预算是3000元, 最多 3,000 吧, 二〇二六年三〇〇〇台"},
		{"room 3000", "room 3000"},
	} {
		if got, _ := redact(m, tc.text); got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.text, got, tc.want)
		}
	}
}

func TestMentionsOfAnEmailAddress(t *testing.T) {
	m := newMentions([]string{"jose.nunez@example.com"}, nil)
	for _, tc := range []struct{ text, want string }{
		{"mail Jose.Nunez@Example.COM today", "mail [erased] today"},
		{"写信到jose.nunez＠example．com。", "写信到[erased]。"},
		{"write to jose.nunez@example.com.", "write to [erased]."},
		{"<jose.nunez@example.com>", "<[erased]>"},
		{"copy x@y.org on everything " + strings.Repeat("z", 150) + " or jose.nunez@example.com, thanks", "copy x@y.org on everything " + strings.Repeat("z", 150) + " or [erased], thanks"},
		{strings.Repeat("\x80", 100) + "jose.nunez@example.com", strings.Repeat("\x80", 100) + "[erased]"},
		{"'jose.nunez@example.com'", "'[erased]'"},
		{"(jose.nunez@example.com&", "([erased]&"},
		{"x-jose.nunez@example.com", "x-jose.nunez@example.com"},
		{"jose.nunez @ example.com", "[erased]"},
		{"jose.nunez艾特example点com", "[erased]"},
		{"jose.nunez(at)example(dot)com", "[erased]"},
		{"ｊｏｓｅ.ｎｕｎｅｚ@ＥＸＡＭＰＬＥ.ｃｏｍ", "[erased]"},
		// Other addresses.
		{"xjose.nunez@example.com", "xjose.nunez@example.com"},
		{"jose.nunez@example.com.cn", "jose.nunez@example.com.cn"},
		{"jose.nunez@example.community", "jose.nunez@example.community"},
		{"jose_nunez@example.com", "jose_nunez@example.com"},
	} {
		if got, _ := redact(m, tc.text); got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.text, got, tc.want)
		}
	}
}

func TestMentionsOfSeveralIdentifiersOverlapping(t *testing.T) {
	m := newMentions([]string{"13800138000@example.com"}, []string{"+8613800138000"})
	got, _ := redact(m, "a 13800138000@example.com b 13800138000 c")
	// The address, then the number inside it, are merged into one span.
	if strings.Count(got, Redacted) != 2 || strings.Contains(got, "1380013") || strings.Contains(got, "example") {
		t.Errorf("Redact = %q", got)
	}
	if newMentions([]string{"not an address"}, []string{"not a number"}) != nil {
		t.Error("nothing to find should give no mentions")
	}
}

// BenchmarkMentions reads a transcript of 1,000 sentences (about 60 KB,
// Chinese and English, with amounts, dates and other numbers, one line
// each as the erasure reads a part) for an address and a number.
func BenchmarkMentions(b *testing.B) {
	lines := []string{
		"您好，请问今年在销售培训上的预算大概是多少？", "嗯", "预算大概五十万，but it depends on the pricing.",
		"We price per seat and larger teams get a discount, 1,200 yuan per seat for 35 seats.",
		"我们可以先做两周的试用，您看可以吗？订单号 20261205-00731，合同 2026 年 12 月 5 日签。",
		"you can mail sales@example.org or call 400-800-1234 (ext. 5521)",
	}
	var text strings.Builder
	for i := range 1000 {
		if i > 0 {
			text.WriteByte('\n')
		}
		text.WriteString(lines[i%len(lines)])
	}
	m := newMentions([]string{"jose.nunez@example.com"}, []string{"+8613800138000"})
	b.SetBytes(int64(text.Len()))
	for b.Loop() {
		if len(m.Spans(text.String())) != 0 {
			b.Fatal("found a mention that is not there")
		}
	}
}
