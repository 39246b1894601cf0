//go:build e2e

package e2e

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/megaview/mgvcore/internal/logic/identity"
)

// mysqlAddr is the host:port of a MySQL DSN (user:pass@tcp(host:port)/db).
var mysqlAddr = regexp.MustCompile(`@tcp\(([^)]+)\)`)

// An instance that cannot read the token versions of the fleet may miss a
// revocation made on another instance, so it refuses every token (503
// DEPENDENCY_UNAVAILABLE, gRPC UNAVAILABLE) once its last successful read
// is older than the revocation bound, rather than taking them as valid:
// an event stream open on it, which needs the database for nothing while
// no event comes, ends then too. Once the database answers again, tokens
// are taken again.
func TestAnInstanceThatCannotReadRevocationsRefusesTokensOnMariaDB(t *testing.T) {
	dsn := NewDatabase(t)
	m := mysqlAddr.FindStringSubmatch(dsn)
	if m == nil {
		t.Fatalf("no tcp address in the DSN %q", dsn)
	}
	gate := newTCPGate(t, m[1])
	s := NewService(t, map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": mysqlAddr.ReplaceAllString(dsn, "@tcp("+gate.Addr()+")")})
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	p.create("stale-0", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 60_000, nil)
	st := streamEvents(t, s.GRPC(), admin, 0)
	st.next(t, 5*time.Second)

	gate.close()
	at := time.Now()
	took := st.endsRefused(t, at, identity.DefaultStaleAfter+5*time.Second, "database cut off", codes.Unavailable, "DEPENDENCY_UNAVAILABLE")
	if took < identity.DefaultStaleAfter-2*time.Second {
		t.Errorf("the stream ended %v after the cut, before the revocation bound: a short outage should not end it", took)
	}
	authCall(t, s, http.MethodGet, "/api/v1/me", admin, nil).want(t, http.StatusServiceUnavailable, "DEPENDENCY_UNAVAILABLE")

	gate.open()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := tryCall(s, http.MethodGet, "/api/v1/me", admin, nil)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the database came back: %d %s (%v)", r.Status, r.Reason, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
