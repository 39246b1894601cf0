package privacy

import (
	"errors"
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
		{Subject{Phone: "12"}, "", "", "phone"},
		{Subject{OriginUserID: string(make([]byte, 129))}, "", "", "origin_user_id"},
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
