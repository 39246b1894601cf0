package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sealer seals a chain's ends: the head and the anchor of a tenant's chain
// and the time the seal began, MAC'd with a key kept outside the database
// (config audit.chain_key). The hashes of the records alone can be
// recomputed by anyone who can write the table: a record edited, the
// hashes after it computed again and the head moved to match verify as a
// chain. A new head needs a new seal, which only a holder of the key can
// make, and so does a head lowered over records deleted from the end or an
// anchor moved over records deleted from the start. What a seal cannot
// show is a chain's ends put back as they were earlier, with the seal they
// had then: compare the ends `audit verify` states with a copy kept
// elsewhere for that.
type Sealer struct{ key []byte }

// NewSealer seals with a key derived from key under its own label.
func NewSealer(key string) Sealer {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("mgv-audit-seal-key-v1"))
	return Sealer{key: mac.Sum(nil)}
}

// Seal is the seal of a tenant's chain whose ends are head and anchor,
// sealed since since (to the millisecond, as stored), in hex.
func (s Sealer) Seal(tenantID int64, head, anchor Link, since time.Time) string {
	if len(s.key) == 0 {
		panic("audit: a Sealer without a key")
	}
	b := make([]byte, 0, 200)
	b = append(b, "mgv-audit-seal-v1"...)
	for _, f := range []string{
		strconv.FormatInt(tenantID, 10),
		strconv.FormatInt(head.Seq, 10), head.Hash,
		strconv.FormatInt(anchor.Seq, 10), anchor.Hash,
		strconv.FormatInt(since.UTC().UnixMilli(), 10),
	} {
		b = append(b, '|')
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write(b)
	return hex.EncodeToString(mac.Sum(nil))
}

// Check reports whether ends carry the seal of their head and anchor:
// nil, ErrUnsealed when they have none, or ErrSealMismatch.
func (s Sealer) Check(tenantID int64, ends ChainEnds) error {
	switch {
	case ends.Seal == "":
		return ErrUnsealed
	case !hmac.Equal([]byte(ends.Seal), []byte(s.Seal(tenantID, ends.Head, ends.Anchor, ends.SealedAt))):
		return ErrSealMismatch
	}
	return nil
}

var (
	// ErrUnsealed is a chain's ends without a seal: written before seals
	// were kept, or the seal removed.
	ErrUnsealed = errors.New("the chain's ends are not sealed")
	// ErrSealMismatch is a seal that is not the one of the ends it is kept
	// with.
	ErrSealMismatch = errors.New("the chain's ends do not match their seal")
)

// sealWhy explains a failed Check for audit verify.
func sealWhy(err error) string {
	if errors.Is(err, ErrUnsealed) {
		return fmt.Sprintf("%v: written before seals were kept, or the seal was removed; once you know which, "+
			"`mgvcore audit seal --force` seals the ends as they stand if the records verify", err)
	}
	return fmt.Sprintf("%v: the head or the anchor was moved, or records rewritten with the head, by someone without audit.chain_key; "+
		"or audit.chain_key (or auth.jwt_secret, which it is derived from when empty) is not the key that sealed them; "+
		"or a process of an earlier version appended to the chain. Once you know which, `mgvcore audit seal --force` seals "+
		"the ends as they stand if the records verify", err)
}
