package search

import (
	"reflect"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want []Term
		bad  bool
	}{
		{in: "预算", want: []Term{{Text: "预算"}}},
		{in: "budget  pricing", want: []Term{{Text: "budget"}, {Text: "pricing"}}},
		{in: `"budget is tight" 预算`, want: []Term{{Text: "budget is tight", Phrase: true}, {Text: "预算"}}},
		{in: `“预算 有限”`, want: []Term{{Text: "预算有限"}}},
		{in: `"open quote here`, want: []Term{{Text: "open quote here", Phrase: true}}},
		{in: `title:foo* AND (bar OR -baz)`, want: []Term{{Text: "title:foo*"}, {Text: "AND"}, {Text: "(bar"}, {Text: "OR"}, {Text: "-baz)"}}},
		{in: "a\x00b\tc", want: []Term{{Text: "a"}, {Text: "b"}, {Text: "c"}}},
		{in: "dup dup", want: []Term{{Text: "dup"}}},
		{in: `""`, bad: true},
		{in: "  ", bad: true},
		{in: "!!! --- ***", bad: true},
		{in: strings.Repeat("长", 257), bad: true},
		{in: "\xff\xfe", bad: true},
		{in: strings.Repeat("w ", 33), want: []Term{{Text: "w"}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.bad {
			if e := errs.From(err); err == nil || e.Reason != errs.ReasonInvalidArgument {
				t.Errorf("Parse(%q) = %v, %v; want INVALID_ARGUMENT", tt.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
	var many []string
	for i := 0; i < MaxTerms+1; i++ {
		many = append(many, strings.Repeat("x", i+1))
	}
	if _, err := Parse(strings.Join(many, " ")); err == nil {
		t.Error("too many terms accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"预算", `"a b" c`, `“x`, "\x00", "a:b*?(", strings.Repeat("长", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := Parse(s)
		if err != nil {
			if errs.From(err).Reason != errs.ReasonInvalidArgument {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			return
		}
		if len(terms) == 0 || len(terms) > MaxTerms {
			t.Fatalf("Parse(%q) = %d terms", s, len(terms))
		}
		for _, term := range terms {
			if !hasWordRune(term.Text) || strings.ContainsAny(term.Text, "\"\x00\n") {
				t.Fatalf("Parse(%q) made term %q", s, term.Text)
			}
		}
	})
}

func TestMarkAndCanonical(t *testing.T) {
	text := "我们今年的预算有限 <b>&"
	if got, want := Mark(text, [][2]int{{15, 18}, {18, 21}}), "我们今年的<em>预算</em>有限 &lt;b&gt;&amp;"; got != want {
		t.Errorf("Mark = %q, want %q", got, want)
	}
	if got, want := Mark("abc", [][2]int{{0, 2}, {1, 3}, {5, 9}}), "<em>abc</em>"; got != want {
		t.Errorf("Mark overlap = %q, want %q", got, want)
	}
	for in, want := range map[string]string{
		"我们今年的<em>预</em><em>算</em>有限":                 "我们今年的<em>预算</em>有限",
		"the <em>budget</em> is &lt;tight&gt; &#x27;": "the <em>budget</em> is &lt;tight&gt; '",
		"<em>open":  "<em>open</em>",
		"no marks":  "no marks",
		"a &amp; b": "a &amp; b",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
	// The highlights of one sentence from two fields make one snippet.
	if got, want := Canonical("<em>预算</em>太贵了 &amp;", "预算太<em>贵</em>了 &amp;"), "<em>预算</em>太<em>贵</em>了 &amp;"; got != want {
		t.Errorf("Canonical of two fields = %q, want %q", got, want)
	}
}

func TestHasLoneHan(t *testing.T) {
	for text, want := range map[string]bool{
		"贵": true, "太贵": false, "买iPhone": true, "iPhone买": true, "预算a贵": true, "预算有限": false,
		"budget": false, "3.5%": false, "贵 了": true, "": false,
	} {
		if got := HasLoneHan(text); got != want {
			t.Errorf("HasLoneHan(%q) = %v, want %v", text, got, want)
		}
	}
}
