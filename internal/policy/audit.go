package policy

import (
	"context"
	"fmt"
	"strconv"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

// AuditRule says whether and how calls of an operation are audited.
type AuditRule struct {
	// Name is the operation's name in the trail (e.g.
	// "conversation.create"); empty for an operation that is not audited
	// (a plain read).
	Name string
	// TargetType names what the operation acts on ("conversation").
	TargetType string
	// TargetParams name the call parameters that may hold the target's
	// id, the first one present wins: an HTTP path parameter or a field of
	// the gRPC request message. A use case may name the target itself
	// (audit.Target), e.g. what it created.
	TargetParams []string
	// Anonymous records calls without a valid token too (sign-ins);
	// other operations are recorded once the caller is known.
	Anonymous bool
}

// Params reads a parameter of the call: an HTTP path parameter or a field
// of the gRPC request message. The transports' carriers implement it.
type Params interface {
	Param(name string) string
}

// Audit records one audit entry per call of each operation that rules
// audit, after the call, with its result (ok or the error's reason). It
// runs before auth, so it sees refused calls too; the caller is the one
// auth established, the one a sign-in noted, or the one whose genuine but
// revoked token auth refused (a disabled user, a deleted app: their
// attempts are charged to them). It writes through rec,
// which queues the record: the call does not wait for the database.
func Audit(rec audit.Recorder, rules map[string]AuditRule) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req any) (any, error) {
			info := InfoFrom(ctx)
			rule := rules[info.Operation]
			if rule.Name == "" {
				return next(ctx, req)
			}
			call := &audit.Call{RequestID: info.RequestID(), ClientAddr: info.ClientIP}
			// A handler that panics failed too: its record says INTERNAL
			// (a write may have committed before the panic), and the
			// panic goes on to Recover, which logs it and answers.
			defer func() {
				if p := recover(); p != nil {
					record(ctx, rec, rule, info, call, errs.Internal(fmt.Errorf("panic: %v", p)))
					panic(p)
				}
			}()
			resp, err := next(audit.WithCall(ctx, call), req)
			record(ctx, rec, rule, info, call, err)
			return resp, err
		}
	}
}

// record takes the audit record of a call that ended with err.
func record(ctx context.Context, rec audit.Recorder, rule AuditRule, info *Info, call *audit.Call, err error) {
	r := audit.Record{Operation: rule.Name, TargetType: rule.TargetType, Result: audit.ResultOK,
		RequestID: call.RequestID, ClientAddr: call.ClientAddr}
	if err != nil {
		r.Result = errs.ReasonOf(err)
	} else if st := info.SuccessStatus(); st >= 400 {
		r.Result = strconv.Itoa(st)
	}
	tenant, kind, id, noted, targetType, targetID := call.Noted()
	c := info.Caller()
	if c.TenantID == "" && r.Result == errs.ReasonRateLimited && !rule.Anonymous {
		// A caller no token vouches for, refused by its address's rate
		// limit: its attempts within the limit are recorded, and the
		// access log has the rest, which would otherwise be a record
		// each, as fast as it asks. (A sign-in throttled is recorded: it
		// is the sign-in's own answer.)
		return
	}
	if c.TenantID == "" {
		c = info.Refused()
	}
	switch {
	case noted:
		r.TenantID, r.ActorKind, r.ActorID = tenant, kind, id
	case c.AppID != "":
		r.TenantID, _ = strconv.ParseInt(c.TenantID, 10, 64)
		r.ActorKind = audit.ActorApp
		r.ActorID, _ = strconv.ParseInt(c.AppID, 10, 64)
	case c.UserID != "":
		r.TenantID, _ = strconv.ParseInt(c.TenantID, 10, 64)
		r.ActorKind = audit.ActorUser
		r.ActorID, _ = strconv.ParseInt(c.UserID, 10, 64)
	case rule.Anonymous:
		r.ActorKind = audit.ActorAnonymous
	default:
		// Refused before anyone was known: there is no tenant to
		// charge it to, and the access log has it.
		return
	}
	switch {
	case targetType != "":
		r.TargetType, r.TargetID = targetType, targetID
	default:
		if p, ok := info.Carrier.(Params); ok {
			for _, name := range rule.TargetParams {
				if r.TargetID = p.Param(name); r.TargetID != "" {
					break
				}
			}
		}
	}
	rec.Record(ctx, r)
}
