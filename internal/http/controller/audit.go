package controller

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

// OperationListAuditLogs is GET /api/v1/audit-logs (HTTP only).
const OperationListAuditLogs = "/mgv.web.v1.AuditService/ListAuditLogs"

// AuditLogs serves the audit trail to tenant admins.
type AuditLogs struct {
	Log *audit.Log
}

// Routes adds the routes.
func (h AuditLogs) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/audit-logs", OperationListAuditLogs, h.List,
		"actor_kind", "actor_id", "operation", "target_type", "target_id", "result", "from", "to", "page_size", "page_token")
}

// List is GET /audit-logs: filters actor_kind, actor_id, operation,
// target_type, target_id, result, from (incl.), to (excl.); page_size,
// page_token; newest first.
func (h AuditLogs) List(c echo.Context) error {
	q := c.QueryParams()
	actorID, err := optInt(q, "actor_id")
	if err != nil {
		return err
	}
	size, err := optInt(q, "page_size")
	if err != nil {
		return err
	}
	from, err := optTime(q, "from")
	if err != nil {
		return err
	}
	to, err := optTime(q, "to")
	if err != nil {
		return err
	}
	page, err := h.Log.List(c.Request().Context(), audit.ListReq{
		ActorKind: q.Get("actor_kind"), ActorID: actorID, Operation: q.Get("operation"),
		TargetType: q.Get("target_type"), TargetID: q.Get("target_id"), Result: q.Get("result"),
		From: from, To: to, PageSize: int(size), PageToken: q.Get("page_token"),
	})
	if err != nil {
		return err
	}
	return render.OK(c, AuditLogPageJSON{
		Records: convertAll(page.Records, auditLogJSON), NextPageToken: page.NextPageToken, Total: page.Total,
	})
}

// AuditLogJSON is one audit record in the HTTP API.
type AuditLogJSON struct {
	ID         int64     `json:"id"`
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	ActorKind  string    `json:"actor_kind"`
	ActorID    int64     `json:"actor_id"`
	ClientAddr string    `json:"client_addr"`
	Operation  string    `json:"operation"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	Result     string    `json:"result"`
	RequestID  string    `json:"request_id"`
	Hash       string    `json:"hash"`
}

func auditLogJSON(e audit.Entry) AuditLogJSON {
	return AuditLogJSON{
		ID: e.ID, Seq: e.Seq, Time: e.Time, ActorKind: e.ActorKind, ActorID: e.ActorID, ClientAddr: e.ClientAddr,
		Operation: e.Operation, TargetType: e.TargetType, TargetID: e.TargetID, Result: e.Result,
		RequestID: e.RequestID, Hash: e.Hash,
	}
}

// AuditLogPageJSON is the body of GET /audit-logs.
type AuditLogPageJSON struct {
	Records []AuditLogJSON `json:"records"`
	// NextPageToken is empty on the last page.
	NextPageToken string `json:"next_page_token"`
	Total         int64  `json:"total"`
}
