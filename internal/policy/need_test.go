package policy

import (
	"context"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// Need refuses a caller without what the operation needs before the
// handler runs, and lets every other call through untouched.
func TestNeedChecksBeforeTheHandler(t *testing.T) {
	const listed, unlisted = "/mgv.open.v1.X/Listed", "/mgv.open.v1.X/Unlisted"
	h := Need(map[string]access.Need{listed: access.Read})(func(context.Context, any) (any, error) {
		return "handled", nil
	})
	call := func(op string, sc *model.Scope) (any, error) {
		ctx := WithInfo(context.Background(), &Info{Operation: op, Carrier: NoCarrier{}})
		if sc != nil {
			ctx = model.WithScope(ctx, *sc)
		}
		return h(ctx, nil)
	}
	ingest := &model.Scope{TenantID: 1, Role: model.RoleApp, AppScopes: []string{access.ScopeIngest}}
	read := &model.Scope{TenantID: 1, Role: model.RoleApp, AppScopes: []string{access.ScopeRead}}
	for _, c := range []struct {
		name   string
		op     string
		scope  *model.Scope
		reason string
	}{
		{"app without the scope", listed, ingest, errs.ReasonPermissionDenied},
		{"no caller", listed, nil, errs.ReasonUnauthenticated},
		{"app with the scope", listed, read, ""},
		{"operation with no need", unlisted, ingest, ""},
	} {
		resp, err := call(c.op, c.scope)
		switch {
		case c.reason == "" && (err != nil || resp != "handled"):
			t.Errorf("%s: %v %v, want the handler's answer", c.name, resp, err)
		case c.reason != "" && (errs.ReasonOf(err) != c.reason || resp != nil):
			t.Errorf("%s: %v %v, want %s before the handler", c.name, resp, err, c.reason)
		}
	}
}
