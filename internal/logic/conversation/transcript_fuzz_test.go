package conversation

import (
	"errors"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// FuzzValidateSentence: every sentence is either accepted with its
// invariants holding, or refused with a 400 that names a sentence field.
func FuzzValidateSentence(f *testing.F) {
	f.Add(int64(-1), int64(0), "spk_0", int64(0), int64(1200), "你好，我们今年的预算有限")
	f.Add(int64(3), int64(3), "A", int64(10), int64(5), "ok")
	f.Add(int64(0), int64(1), "", int64(-1), int64(0), "")
	f.Add(int64(0), int64(1), "B", int64(0), int64(86_400_001), strings.Repeat("x", 5000))
	f.Add(int64(0), int64(1), "\xff", int64(0), int64(1), "\xfe")
	f.Fuzz(func(t *testing.T, prev, seq int64, speaker string, start, end int64, text string) {
		s := SentenceInput{Seq: seq, SpeakerKey: speaker, StartMS: start, EndMS: end, Text: text}
		err := ValidateSentence(prev, s)
		if err == nil {
			_, _, control := access.TextControl(text)
			if seq <= prev || start < 0 || end < start || text == "" || len(text) > MaxSentenceTextBytes || speaker == "" || control {
				t.Fatalf("accepted an invalid sentence %+v after %d", s, prev)
			}
			return
		}
		var e *errs.Error
		if !errors.As(err, &e) || e.Reason != errs.ReasonInvalidArgument || !strings.HasPrefix(e.Metadata["field"], "sentence.") {
			t.Fatalf("refusal %v is not a 400 naming a sentence field", err)
		}
	})
}
