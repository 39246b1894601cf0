package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sample(n int) []Record {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	out := make([]Record, n)
	for i := range out {
		out[i] = Normalize(Record{
			Time: t0.Add(time.Duration(i) * time.Second), ActorKind: ActorUser, ActorID: int64(i + 1),
			ClientAddr: "203.0.113.7", Operation: "conversation.create", TargetType: "conversation",
			TargetID: "7", RequestID: "req-" + string(rune('a'+i)),
		}, time.Time{})
	}
	return out
}

func TestCanonicalSeparatesFields(t *testing.T) {
	a := Record{Operation: "ab", TargetType: "c"}
	b := Record{Operation: "a", TargetType: "bc"}
	if string(Canonical(1, 1, a)) == string(Canonical(1, 1, b)) {
		t.Fatal("moving a character between fields kept the canonical form")
	}
	if string(Canonical(1, 1, a)) == string(Canonical(1, 2, a)) || string(Canonical(1, 1, a)) == string(Canonical(2, 1, a)) {
		t.Fatal("the place in the chain is not part of the canonical form")
	}
	r := sample(1)[0]
	// A known answer, computed apart with sha256sum over the genesis hash,
	// a newline and the canonical form: an external verifier can rebuild
	// the chain from the columns alone.
	known := Record{Time: time.Date(2026, 12, 3, 10, 0, 0, 123e6, time.UTC), ActorKind: ActorUser, ActorID: 9, ClientAddr: "203.0.113.7",
		Operation: "transcript.read", TargetType: "conversation", TargetID: "42", Result: ResultOK, RequestID: "req-1"}
	const form = "mgv-audit-v1|1:5|1:3|13:1796292000123|4:user|1:9|11:203.0.113.7|15:transcript.read|12:conversation|2:42|2:ok|5:req-1"
	if got := string(Canonical(5, 3, known)); got != form {
		t.Fatalf("canonical form %s", got)
	}
	if got := Hash(Genesis, 5, 3, known); got != "8eb1ff8acc30ac77ebee06c10f8af5e0933e8971fb72b228b3ed007f7a5ae92e" {
		t.Fatalf("hash %s", got)
	}
	local := r
	local.Time = r.Time.In(time.FixedZone("CST", 8*3600))
	if Hash(Genesis, 1, 1, r) != Hash(Genesis, 1, 1, local) {
		t.Fatal("the time zone of a record changes its hash")
	}
}

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("CST", 8*3600))
	r := Normalize(Record{}, now)
	if r.Result != ResultOK || r.Time.Location() != time.UTC || r.Time.Nanosecond() != 678000000 {
		t.Fatalf("normalised %+v", r)
	}
}

// A value a client chose cannot break a record's line, move a terminal's
// cursor or reverse its text: control and formatting characters are
// written as escapes, invalid UTF-8 as U+FFFD, and what is left is cut to
// the column; printable text, Chinese included, is kept as it is.
func TestNormalizeEscapesHiddenCharacters(t *testing.T) {
	now := time.Now()
	for _, c := range []struct{ in, want string }{
		{"42", "42"},
		{"预算-7", "预算-7"},
		{"1\nforged", "1\\nforged"},
		{"1\n2026-01-01 admin deleted everything", "1\\n2026-01-01 admin deleted everything"},
		{"a\r\x1b[31mred\x00", "a\\r\\x1b[31mred\\x00"},
		{"\u202e7gpj.exe", "\\u202e7gpj.exe"},
		{"zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"},
		{"bad\xff", "bad\uFFFD"},
		{strings.Repeat("\n", 40), strings.Repeat("\\n", 32)},
	} {
		r := Normalize(Record{TargetID: c.in, TargetType: c.in, RequestID: c.in, Operation: c.in, Result: c.in, ClientAddr: c.in}, now)
		for field, got := range map[string]string{"target_id": r.TargetID, "request_id": r.RequestID, "operation": r.Operation, "result": r.Result, "client_addr": r.ClientAddr} {
			if got != c.want {
				t.Errorf("%s %q: normalised to %q, want %q", field, c.in, got, c.want)
			}
		}
		if strings.IndexFunc(r.TargetType, hidden) >= 0 || len(r.TargetType) > 32 {
			t.Errorf("target_type %q: normalised to %q", c.in, r.TargetType)
		}
	}
}

func verify(tenant int64, anchor, head Link, es []Entry) error {
	v := NewVerifier(tenant, anchor)
	for _, e := range es {
		if err := v.Next(e); err != nil {
			return err
		}
	}
	return v.End(head)
}

func TestChainVerify(t *testing.T) {
	genesis := Link{Hash: Genesis}
	entries, head := Chain(5, genesis, sample(6))
	for i := range entries {
		entries[i].ID = int64(100 + i)
	}
	if err := verify(5, genesis, head, entries); err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	// A second batch continues the first.
	more, head2 := Chain(5, head, sample(2))
	if more[0].Seq != 7 || more[0].PrevHash != head.Hash {
		t.Fatalf("second batch starts at %d after %s", more[0].Seq, more[0].PrevHash)
	}
	if err := verify(5, genesis, head2, append(append([]Entry{}, entries...), more...)); err != nil {
		t.Fatalf("two batches: %v", err)
	}

	cases := []struct {
		name   string
		tamper func([]Entry) []Entry
		wantID int64
	}{
		{"edited", func(es []Entry) []Entry { es[2].Result = "PERMISSION_DENIED"; return es }, 102},
		{"edited time", func(es []Entry) []Entry { es[3].Time = es[3].Time.Add(time.Hour); return es }, 103},
		{"edited and rehashed", func(es []Entry) []Entry {
			es[2].ActorID = 99
			es[2].Hash = Hash(es[2].PrevHash, 5, es[2].Seq, es[2].Record)
			return es
		}, 103},
		{"deleted", func(es []Entry) []Entry { return append(es[:2], es[3:]...) }, 103},
		{"deleted and renumbered", func(es []Entry) []Entry {
			es = append(es[:2], es[3:]...)
			for i := 2; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}, 103},
		{"reordered", func(es []Entry) []Entry { es[1], es[2] = es[2], es[1]; return es }, 102},
		{"reordered with seqs swapped", func(es []Entry) []Entry {
			es[1], es[2] = es[2], es[1]
			es[1].Seq, es[2].Seq = es[2].Seq, es[1].Seq
			return es
		}, 102},
		{"last deleted", func(es []Entry) []Entry { return es[:len(es)-1] }, 0},
		{"other tenant", func(es []Entry) []Entry { es[4].TenantID = 6; return es }, 104},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.tamper(append([]Entry{}, entries...))
			err := verify(5, genesis, head, es)
			var b *Broken
			if !errors.As(err, &b) {
				t.Fatalf("tampering not found: %v", err)
			}
			if b.ID != tc.wantID {
				t.Fatalf("first bad record %d, want %d (%v)", b.ID, tc.wantID, err)
			}
			if !strings.Contains(err.Error(), "tenant 5") {
				t.Fatalf("error does not name the tenant: %v", err)
			}
		})
	}
}

func TestChainVerifyFromAnchor(t *testing.T) {
	genesis := Link{Hash: Genesis}
	entries, head := Chain(5, genesis, sample(6))
	// Trimmed up to seq 3: the anchor is the third record's link.
	anchor := Link{Seq: entries[2].Seq, Hash: entries[2].Hash}
	rest := entries[3:]
	if err := verify(5, anchor, head, rest); err != nil {
		t.Fatalf("after a trim: %v", err)
	}
	if err := verify(5, genesis, head, rest); err == nil {
		t.Fatal("a trimmed chain verified from genesis")
	}
	edited := append([]Entry{}, rest...)
	edited[1].TargetID = "8"
	if err := verify(5, anchor, head, edited); err == nil {
		t.Fatal("an edit after a trim was not found")
	}
}
