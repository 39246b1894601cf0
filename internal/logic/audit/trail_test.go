package audit

import (
	"context"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// listTrail answers List from a slice, newest first, and keeps the query.
type listTrail struct {
	Trail
	entries []Entry
	got     Query
}

func (l *listTrail) List(_ context.Context, q Query) ([]Entry, int64, error) {
	l.got = q
	var out []Entry
	for i := len(l.entries) - 1; i >= 0; i-- {
		if e := l.entries[i]; (q.BeforeSeq == 0 || e.Seq < q.BeforeSeq) && len(out) < q.Limit {
			out = append(out, e)
		}
	}
	return out, int64(len(l.entries)), nil
}

func TestLogList(t *testing.T) {
	trail := &listTrail{}
	for i := range 5 {
		trail.entries = append(trail.entries, Entry{Seq: int64(i + 1), Record: Record{TenantID: 7, Operation: "search"}})
	}
	log := NewLog(trail)
	admin := model.WithScope(context.Background(), model.Scope{TenantID: 7, UserID: 1, Role: model.RoleAdmin})
	page, err := log.List(admin, ListReq{PageSize: 2, Operation: "search", ActorKind: ActorUser})
	if err != nil || len(page.Records) != 2 || page.Records[0].Seq != 5 || page.NextPageToken == "" || page.Total != 5 {
		t.Fatalf("first page: %+v %v", page, err)
	}
	if trail.got.TenantID != 7 || trail.got.Operation != "search" || trail.got.ActorKind != ActorUser {
		t.Fatalf("query: %+v", trail.got)
	}
	next, err := log.List(admin, ListReq{PageSize: 2, PageToken: page.NextPageToken})
	if err != nil || len(next.Records) != 2 || next.Records[0].Seq != 3 {
		t.Fatalf("second page: %+v %v", next, err)
	}

	for _, tc := range []struct {
		name  string
		req   ListReq
		field string
	}{
		{"actor kind", ListReq{ActorKind: "robot"}, "actor_kind"},
		{"actor id", ListReq{ActorID: -1}, "actor_id"},
		{"long operation", ListReq{Operation: string(make([]byte, 65))}, "operation"},
		{"invalid UTF-8", ListReq{TargetID: "\xff"}, "target_id"},
		{"range", ListReq{From: time.Unix(100, 0), To: time.Unix(50, 0)}, "to"},
		{"page size", ListReq{PageSize: 101}, "page_size"},
		{"page token", ListReq{PageToken: "!"}, "page_token"},
	} {
		_, err := log.List(admin, tc.req)
		if e := errs.From(err); !errs.Is(err, errs.ReasonInvalidArgument) || e.Metadata["field"] != tc.field {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, s := range []model.Scope{
		{TenantID: 7, UserID: 2, Role: model.RoleManager},
		{TenantID: 7, AppID: 3, Role: model.RoleApp, AppScopes: []string{"read", "search", "ingest"}},
	} {
		if _, err := log.List(model.WithScope(context.Background(), s), ListReq{}); !errs.Is(err, errs.ReasonPermissionDenied) {
			t.Errorf("%s reads the trail: %v", s.Role, err)
		}
	}
}
