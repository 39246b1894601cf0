package privacy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

func TestSubjectNormalize(t *testing.T) {
	for _, c := range []struct {
		in          Subject
		kind, value string
		field       string // of the error; "" when none
	}{
		{Subject{Email: "  Zhang.San@Example.COM "}, model.SubjectEmail, "zhang.san@example.com", ""},
		{Subject{Phone: "138 0013 8000"}, model.SubjectPhone, "+8613800138000", ""},
		{Subject{Phone: "+86 (138) 0013-8000"}, model.SubjectPhone, "+8613800138000", ""},
		{Subject{OriginUserID: " hr-7 "}, model.SubjectOriginUserID, "hr-7", ""},
		{Subject{Name: "王总"}, model.SubjectName, "王总", ""},
		{Subject{}, "", "", "email"},
		{Subject{Email: "a@b.c", Phone: "13800138000"}, "", "", "email"},
		{Subject{Name: "   "}, "", "", "email"},
		{Subject{Email: "no-at-sign"}, "", "", "email"},
		// An erasure finds the address in free text: these would match
		// every at sign.
		{Subject{Email: "@"}, "", "", "email"},
		{Subject{Email: " a@ "}, "", "", "email"},
		{Subject{Email: "@example.com"}, "", "", "email"},
		{Subject{Email: "a b@example.com"}, "", "", "email"},
		{Subject{Email: strings.Repeat("a", 244) + "@example.com"}, "", "", "email"},
		{Subject{Email: strings.Repeat("a", 243) + "@example.com"}, model.SubjectEmail, strings.Repeat("a", 243) + "@example.com", ""},
		{Subject{Email: "a@b"}, model.SubjectEmail, "a@b", ""},
		{Subject{Email: ".@."}, "", "", "email"},
		{Subject{Email: "a@b@"}, "", "", "email"},
		{Subject{Email: "Jose <jose@example.com>"}, "", "", "email"},
		{Subject{Phone: "12"}, "", "", "phone"},
		{Subject{OriginUserID: string(make([]byte, 129))}, "", "", "origin_user_id"},
		// A user's origin id is up to 128 characters, 512 bytes of UTF-8.
		{Subject{OriginUserID: strings.Repeat("😀", 128)}, model.SubjectOriginUserID, strings.Repeat("😀", 128), ""},
		{Subject{OriginUserID: strings.Repeat("😀", 129)}, "", "", "origin_user_id"},
		{Subject{OriginUserID: "hr\x007"}, "", "", "origin_user_id"},
		{Subject{Email: "a\x1b[2J@b.c"}, "", "", "email"},
		{Subject{Name: "王\u009b总"}, "", "", "name"},
	} {
		kind, value, err := c.in.normalize()
		if c.field != "" {
			var e *errs.Error
			if err == nil || !errors.As(err, &e) || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != c.field {
				t.Errorf("%+v: got %v, want INVALID_ARGUMENT on %s", c.in, err, c.field)
			}
			continue
		}
		if err != nil || kind != c.kind || value != c.value {
			t.Errorf("%+v: got %s %q %v, want %s %q", c.in, kind, value, err, c.kind, c.value)
		}
	}
}

func TestNameMatcher(t *testing.T) {
	for _, c := range []struct {
		kind, value string
		yes, no     []string
	}{
		{model.SubjectPhone, "+8613912345678",
			[]string{"139 1234 5678", "+86 139-1234-5678", "13912345678", "+8613912345678", "008613912345678", " (139) 1234 5678 ",
				// A label that writes the number among other words.
				"张先生 139 1234 5678", "13912345678 回访", "客户（幺三九 一二三四 五六七八）"},
			[]string{"13912345679", "+8513912345678", "Bob", "", "1391234567", "张先生 139 1234 5679", "订单 913912345678"}},
		{model.SubjectEmail, "alice@example.com",
			[]string{"alice@example.com", " Alice@Example.COM ", "ALICE@EXAMPLE.COM",
				"Alice <alice@example.com>", "客户 alice＠example.com"},
			[]string{"alicé@example.com", "alice@example.co", "alice example.com", "bob@example.com",
				"Bob <malice@example.com>", "alice@example.com.cn"}},
		// A number of few digits is a label's only with its country code.
		{model.SubjectPhone, "+6903000", []string{"+690 3000", "Sione +690 3000"}, []string{"3000", "Sione 3000", "第3000号"}},
		{model.SubjectName, "José Núñez",
			[]string{"José Núñez", " José Núñez "},
			[]string{"jose nunez", "JOSÉ NÚÑEZ", "José  Núñez"}},
		// A user's origin id names no speaker who is not a user, even one
		// whose name reads the same (a partner's contact id, an extension).
		{model.SubjectOriginUserID, "hr-7", nil, []string{"hr-7", " hr-7", "HR-7", "hr-70"}},
	} {
		match := nameMatcher(c.kind, c.value)
		for _, n := range c.yes {
			if !match(n) {
				t.Errorf("%s %q: %q should match", c.kind, c.value, n)
			}
		}
		for _, n := range c.no {
			if match(n) {
				t.Errorf("%s %q: %q should not match", c.kind, c.value, n)
			}
		}
	}
}

// A phone's user is looked for in every form sign-in finds it by: the
// E.164 form first, then the forms stored before E.164 normalisation.
func TestUserKeys(t *testing.T) {
	got := userKeys(Subject{Phone: "138 0013 8000"}, model.SubjectPhone, "+8613800138000")
	if len(got) == 0 || got[0] != "+8613800138000" {
		t.Fatalf("keys %q: want the E.164 form first", got)
	}
	for _, want := range []string{"13800138000", "8613800138000"} {
		if !slices.Contains(got, want) {
			t.Errorf("keys %q: want %q too", got, want)
		}
	}
	for _, s := range []struct {
		subject     Subject
		kind, value string
	}{
		{Subject{Email: "A@B.C"}, model.SubjectEmail, "a@b.c"},
		{Subject{OriginUserID: "hr-7"}, model.SubjectOriginUserID, "hr-7"},
	} {
		if got := userKeys(s.subject, s.kind, s.value); !slices.Equal(got, []string{s.value}) {
			t.Errorf("keys of %+v: %q, want only %q", s.subject, got, s.value)
		}
	}
}
