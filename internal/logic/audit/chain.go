package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/megaview/mgvcore/internal/clip"
)

// Genesis is the previous hash of the first record of every chain.
var Genesis = strings.Repeat("0", sha256.Size*2)

// Link is a position in a tenant's chain: a record's sequence number and
// hash. The head of a chain is its newest record's link; the anchor is the
// link of the last record trimmed (Genesis at 0 before any trim).
type Link struct {
	Seq  int64
	Hash string
}

// Entry is a stored record: its place in the tenant's chain and its hash,
// H(prev hash, canonical record).
type Entry struct {
	ID int64
	Record
	Seq      int64
	PrevHash string
	Hash     string
}

// Normalize gives r the form it is stored and hashed in: time in UTC to
// the millisecond (now when zero), result ok when empty.
func Normalize(r Record, now time.Time) Record {
	if r.Time.IsZero() {
		r.Time = now
	}
	r.Time = r.Time.UTC().Truncate(time.Millisecond)
	if r.Result == "" {
		r.Result = ResultOK
	}
	// Values a client can choose (a path parameter, a request id) are cut
	// to their columns, so no record is ever refused for its length, and
	// their control and formatting characters are written as escapes, so
	// that no value breaks a line, moves a terminal's cursor or reverses
	// the text of a record as a reader sees it.
	r.ActorKind = clipValid(visible(r.ActorKind), 16)
	r.ClientAddr = clipValid(visible(r.ClientAddr), 64)
	r.Operation = clipValid(visible(r.Operation), 64)
	r.TargetType = clipValid(visible(r.TargetType), 32)
	r.TargetID = clipValid(visible(r.TargetID), 64)
	r.Result = clipValid(visible(r.Result), 64)
	r.RequestID = clipValid(visible(r.RequestID), 64)
	return r
}

// hidden is a character that is not shown as itself: a control character
// (a line break, an escape, NUL) or a formatting one (a bidirectional
// override, a zero-width space).
func hidden(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// visible writes the hidden characters of s as Go escapes (\n, \x00,
// \u202e); invalid UTF-8 becomes U+FFFD.
func visible(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, hidden) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !hidden(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// clipValid cuts s to at most n bytes without splitting a UTF-8 character, and
// replaces invalid UTF-8, which a column of text would refuse.
func clipValid(s string, n int) string {
	return clip.String(strings.ToValidUTF8(s, "\uFFFD"), n)
}

// Canonical is the byte form a record is hashed in: a version tag, then
// every field with its length in a fixed order, so no two different records
// (or places in a chain) share a form.
func Canonical(tenantID, seq int64, r Record) []byte {
	fields := []string{
		strconv.FormatInt(tenantID, 10),
		strconv.FormatInt(seq, 10),
		strconv.FormatInt(r.Time.UTC().UnixMilli(), 10),
		r.ActorKind,
		strconv.FormatInt(r.ActorID, 10),
		r.ClientAddr,
		r.Operation,
		r.TargetType,
		r.TargetID,
		r.Result,
		r.RequestID,
	}
	b := make([]byte, 0, 128)
	b = append(b, "mgv-audit-v1"...)
	for _, f := range fields {
		b = append(b, '|')
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
	}
	return b
}

// Hash is H(prev, canonical record) in hex.
func Hash(prev string, tenantID, seq int64, r Record) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(Canonical(tenantID, seq, r))
	return hex.EncodeToString(h.Sum(nil))
}

// Chain places records of one tenant after head, in order, and returns the
// entries and the new head. The records must be normalised.
func Chain(tenantID int64, head Link, recs []Record) ([]Entry, Link) {
	out := make([]Entry, len(recs))
	for i, r := range recs {
		r.TenantID = tenantID
		seq := head.Seq + 1
		hash := Hash(head.Hash, tenantID, seq, r)
		out[i] = Entry{Record: r, Seq: seq, PrevHash: head.Hash, Hash: hash}
		head = Link{Seq: seq, Hash: hash}
	}
	return out, head
}

// Broken says where a chain stops verifying.
type Broken struct {
	TenantID int64
	// ID and Seq name the first bad record (ID 0 when the record is missing
	// at the end of the chain).
	ID, Seq int64
	Why     string
}

func (b *Broken) Error() string {
	who := fmt.Sprintf("tenant %d", b.TenantID)
	if b.TenantID == RegisterTenant {
		who = "register of chains"
	}
	if b.ID == 0 {
		return fmt.Sprintf("%s: audit chain broken after seq %d: %s", who, b.Seq, b.Why)
	}
	return fmt.Sprintf("%s: audit record id %d (seq %d): %s", who, b.ID, b.Seq, b.Why)
}

// Verifier checks a tenant's entries, read in sequence order, against the
// chain that starts at the anchor: each must follow the one before it
// without a gap, name its predecessor's hash and hash to what it says.
type Verifier struct {
	tenantID int64
	last     Link
	n        int64
}

// NewVerifier starts at anchor (Link{0, Genesis} for an untrimmed chain).
func NewVerifier(tenantID int64, anchor Link) *Verifier {
	return &Verifier{tenantID: tenantID, last: anchor}
}

// Next checks the next entry.
func (v *Verifier) Next(e Entry) error {
	bad := func(why string, args ...any) error {
		return &Broken{TenantID: v.tenantID, ID: e.ID, Seq: e.Seq, Why: fmt.Sprintf(why, args...)}
	}
	switch {
	case e.TenantID != v.tenantID:
		return bad("belongs to tenant %d", e.TenantID)
	case e.Seq != v.last.Seq+1:
		return bad("follows seq %d: a record is missing or out of order", v.last.Seq)
	case e.PrevHash != v.last.Hash:
		return bad("does not name the hash of the record before it: a record was removed, reordered or edited")
	case Hash(e.PrevHash, e.TenantID, e.Seq, e.Record) != e.Hash:
		return bad("its contents do not match its hash: the record was edited")
	}
	v.last = Link{Seq: e.Seq, Hash: e.Hash}
	v.n++
	return nil
}

// End checks that the chain ends at head: records removed from the end of
// a chain leave it short of the head its last append recorded.
func (v *Verifier) End(head Link) error {
	if v.last != head {
		return &Broken{TenantID: v.tenantID, Seq: v.last.Seq,
			Why: fmt.Sprintf("the chain ends at seq %d but its head is seq %d: records at the end were removed or edited", v.last.Seq, head.Seq)}
	}
	return nil
}

// Checked is the number of entries checked.
func (v *Verifier) Checked() int64 { return v.n }
