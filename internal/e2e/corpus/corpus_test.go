package corpus

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func testGenerator(spec Spec) *Generator {
	return NewGenerator(spec, 7, 1000, []Owner{{ID: 11, Name: "rep1", DepartmentPath: "/1/"}, {ID: 12, Name: "rep2", DepartmentPath: "/1/2/"}, {ID: 13, Name: "rep3"}})
}

func TestDeterministicAndExactTotal(t *testing.T) {
	for _, spec := range []Spec{{Conversations: 101, Sentences: 40, Seed: 1}, {Conversations: 200, Sentences: 125, Seed: 9}} {
		g := testGenerator(spec)
		total, han, latin := 0, 0, 0
		for i := 0; i < spec.Conversations; i++ {
			c := g.Conversation(i)
			if !reflect.DeepEqual(c, g.Conversation(i)) {
				t.Fatalf("conversation %d differs between two generations", i)
			}
			if c.Doc.ConversationID != 1000+int64(i) || c.Doc.TenantID != 7 || len(c.Doc.Sentences) == 0 {
				t.Fatalf("conversation %d: %+v", i, c.Doc)
			}
			for j, s := range c.Doc.Sentences {
				if s.Seq != j || s.EndMS <= s.StartMS || s.Text == "" || (j > 0 && s.StartMS < c.Doc.Sentences[j-1].EndMS) {
					t.Fatalf("conversation %d sentence %d: %+v", i, j, s)
				}
				if strings.ContainsFunc(s.Text, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
					han++
				} else {
					latin++
				}
			}
			total += len(c.Doc.Sentences)
		}
		if total != spec.Total() {
			t.Errorf("%+v: %d sentences, want %d", spec, total, spec.Total())
		}
		if han < total/3 || latin < total/5 {
			t.Errorf("%+v: %d Chinese and %d English sentences", spec, han, latin)
		}
	}
	if Default.Total() < 1_000_000 {
		t.Errorf("the default corpus has %d sentences", Default.Total())
	}
}

func TestSample(t *testing.T) {
	g := testGenerator(Default)
	for i := 0; i < 3; i++ {
		c := g.Conversation(i)
		t.Logf("%d %s %s %s %s %d sentences", c.Doc.ConversationID, c.Doc.Language, c.Doc.Title, c.Doc.Channel, c.Doc.BeginTime, len(c.Doc.Sentences))
		for _, s := range c.Doc.Sentences[:8] {
			t.Logf("  %-5s %-8s %6d %s", s.SpeakerKey, s.Affiliation, s.StartMS, s.Text)
		}
	}
}

func BenchmarkConversation(b *testing.B) {
	g := testGenerator(Default)
	for i := 0; b.Loop(); i++ {
		g.Conversation(i % Default.Conversations)
	}
}
