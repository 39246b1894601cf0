package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

func TestVerifyKeepsVerifiedTokensUntilTheyExpire(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tokens := NewTokens(strings.Repeat("s", 32), 15*time.Minute, time.Hour)
	tokens.now = func() time.Time { return now }
	tok, err := tokens.IssueApp(&model.App{ID: 5, TenantID: 2, Scopes: "ingest read", RateTier: "standard"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := tokens.Verify(tok)
	if err != nil || first.AppID != 5 || first.TenantID != 2 {
		t.Fatalf("verify: %+v %v", first, err)
	}
	if again, err := tokens.Verify(tok); err != nil || again != first {
		t.Fatalf("the verified token was checked again: %p %p %v", again, first, err)
	}
	// Kept or not, a changed token is a different token.
	tampered := tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(tok, "AA")]
	if _, err := tokens.Verify(tampered); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("tampered signature: %v", err)
	}
	other := NewTokens(strings.Repeat("o", 32), 15*time.Minute, time.Hour)
	forged, _ := other.IssueApp(&model.App{ID: 5, TenantID: 2, Scopes: "ingest"}, 0)
	if _, err := tokens.Verify(forged); !errs.Is(err, errs.ReasonUnauthenticated) {
		t.Fatalf("another secret: %v", err)
	}
	// Expired while kept: refused like any expired token, and let go.
	now = now.Add(time.Hour)
	if _, err := tokens.Verify(tok); !errs.Is(err, errs.ReasonUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	if _, ok := tokens.verified[tok]; ok {
		t.Error("an expired token is still kept")
	}
	// Bounded.
	for i := range maxVerified + 10 {
		tok, err := tokens.IssueApp(&model.App{ID: int64(i + 1), TenantID: 2, Scopes: "read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(tok); err != nil {
			t.Fatal(err)
		}
		if len(tokens.verified) > maxVerified {
			t.Fatalf("%d tokens kept, over %d", len(tokens.verified), maxVerified)
		}
	}
}

// A token signed by an instance whose clock runs ahead is taken at once by
// one whose clock runs behind (a fleet's clocks are never quite equal);
// expiry is not widened by it.
func TestTokensFromAnInstanceWhoseClockRunsAhead(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	ahead := NewTokens(strings.Repeat("s", 32), 15*time.Minute, time.Hour)
	ahead.now = func() time.Time { return now.Add(30 * time.Second) }
	behind := NewTokens(strings.Repeat("s", 32), 15*time.Minute, time.Hour)
	behind.now = func() time.Time { return now }
	tok, err := ahead.IssueAccess(&model.User{ID: 7, TenantID: 2, Role: model.RoleRep}, "/1/", "standard", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := behind.Verify(tok); err != nil || c.Subject != "7" {
		t.Fatalf("a token signed 30 s ahead of this clock: %+v %v", c, err)
	}
	late := NewTokens(strings.Repeat("s", 32), 15*time.Minute, time.Hour)
	late.now = func() time.Time { return now.Add(30*time.Second + 15*time.Minute) }
	if _, err := late.Verify(tok); !errs.Is(err, errs.ReasonUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("at its expiry: %v", err)
	}
}
