package audit

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
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

// verifyTrail is a Trail holding one tenant's rows and head row; moved,
// when set, is the head Ends returns from its second call on (an append
// that committed while Verify read).
type verifyTrail struct {
	Trail
	ends  ChainEnds
	moved *ChainEnds
	calls int
	rows  []Entry
}

// testRegister is the register of chains of the fake trails, sealed:
// tenants 4, 5 and 6 registered.
var testRegister = func() *verifyTrail {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var recs []Record
	for _, t := range []int64{4, 5, 6} {
		recs = append(recs, RegisterRecord(t, OpChainBegin, at))
	}
	rows, head := Chain(RegisterTenant, Link{Hash: Genesis}, recs)
	for i := range rows {
		rows[i].ID = int64(900 + i)
	}
	return &verifyTrail{ends: sealEnds(RegisterTenant, ChainEnds{Found: true, Anchor: Link{Hash: Genesis}, Head: head}), rows: rows}
}()

// Tenants are the chains of the fake trails: those the register holds.
func (v *verifyTrail) Tenants(context.Context) ([]int64, error) {
	return []int64{RegisterTenant, 4, 5, 6}, nil
}

func (v *verifyTrail) Ends(ctx context.Context, t int64) (ChainEnds, error) {
	if t == RegisterTenant && v != testRegister {
		return testRegister.Ends(ctx, t)
	}
	v.calls++
	if v.moved != nil && v.calls > 1 {
		return *v.moved, nil
	}
	return v.ends, nil
}

// Snapshot runs fn: the rows and ends of the fake are one snapshot.
func (v *verifyTrail) Snapshot(ctx context.Context, fn func(context.Context) error) error {
	return fn(ctx)
}

func (v *verifyTrail) Entries(ctx context.Context, t, after int64, limit int) ([]Entry, error) {
	if t == RegisterTenant && v != testRegister {
		return testRegister.Entries(ctx, t, after, limit)
	}
	rows := slices.Clone(v.rows)
	// Rows that share a seq come in id order here; a database without
	// the unique key gives them in any order.
	slices.SortFunc(rows, func(a, b Entry) int { return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.ID, b.ID)) })
	var out []Entry
	for _, e := range rows {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

// Verify cannot be blinded by editing the head row or by rows outside the
// range between the anchor and the head: each is reported, naming the
// record, and the ends it trusted are in its report.
func TestVerifyChecksEveryRow(t *testing.T) {
	const tenant = 5
	genesis := Link{Hash: Genesis}
	entries, head := Chain(tenant, genesis, sample(8))
	for i := range entries {
		entries[i].ID = int64(100 + i)
	}
	headAt := time.Date(2026, 12, 3, 10, 0, 8, 0, time.UTC)
	intact := sealEnds(tenant, ChainEnds{Found: true, Anchor: genesis, Head: head, HeadAt: headAt})
	run := func(tr *verifyTrail) (VerifyResult, error) {
		var got VerifyResult
		one := int64(tenant)
		err := Verify(context.Background(), tr, testSealer, &one, func(r VerifyResult) { got = r })
		return got, err
	}
	r, err := run(&verifyTrail{ends: intact, rows: entries})
	if err != nil || r.Checked != 8 {
		t.Fatalf("intact chain: %+v %v", r, err)
	}
	for _, want := range []string{"8 records verified", "trusted head seq 8 hash " + head.Hash, "moved at 2026-12-03T10:00:08Z"} {
		if !strings.Contains(r.String(), want) {
			t.Fatalf("report %q does not say %q", r, want)
		}
	}
	link := func(i int) Link { return Link{Seq: entries[i].Seq, Hash: entries[i].Hash} }
	withRow := func(e Entry) []Entry { return append(slices.Clone(entries), e) }
	stray := entries[7]
	stray.ID = 999
	cases := []struct {
		name   string
		ends   ChainEnds
		rows   []Entry
		wantID int64
		want   string
	}{
		{"head row deleted", ChainEnds{Anchor: genesis, Head: genesis}, entries, 100, "no head"},
		{"head lowered", ChainEnds{Found: true, Anchor: genesis, Head: link(4)}, entries, 105, "beyond the chain's head (seq 5)"},
		{"row beyond the head", intact, withRow(Entry{ID: 999, Seq: 9, PrevHash: head.Hash, Record: Record{TenantID: tenant}}), 999, "beyond the chain's head"},
		{"seq 0", intact, withRow(func() Entry { e := stray; e.Seq = 0; return e }()), 999, "at or below the trim anchor"},
		{"negative seq", intact, withRow(func() Entry { e := stray; e.Seq = -3; return e }()), 999, "at or below the trim anchor"},
		{"anchor moved over rows still there", ChainEnds{Found: true, Anchor: link(3), Head: head}, entries, 100, "at or below the trim anchor (seq 4)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(&verifyTrail{ends: tc.ends, rows: tc.rows})
			var b *Broken
			if !errors.As(err, &b) || b.ID != tc.wantID || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tenant 5") {
				t.Fatalf("got %v, want record id %d reported: %q", err, tc.wantID, tc.want)
			}
		})
	}
}

// TestVerifyReadsRowsSharingASeqAcrossPages: a row sharing the seq of the
// last row of a page (the unique key on the seq dropped), hashed onto the
// record before it, is read on the next page and reported, whichever of
// the two has the lower id.
func TestVerifyReadsRowsSharingASeqAcrossPages(t *testing.T) {
	const tenant = 5
	entries, head := Chain(tenant, Link{Hash: Genesis}, sample(verifyPage+1))
	for i := range entries {
		entries[i].ID = int64(100 + i)
	}
	ends := ChainEnds{Found: true, Anchor: Link{Hash: Genesis}, Head: head}
	at := entries[verifyPage-1]
	forged := at.Record
	forged.Operation = "conversation.delete"
	for _, id := range []int64{at.ID + 10000, 1} {
		t.Run(strconv.FormatInt(id, 10), func(t *testing.T) {
			row := Entry{ID: id, Record: forged, Seq: at.Seq, PrevHash: at.PrevHash, Hash: Hash(at.PrevHash, tenant, at.Seq, forged)}
			one := int64(tenant)
			err := Verify(context.Background(), &verifyTrail{ends: ends, rows: append(slices.Clone(entries), row)}, testSealer, &one, nil)
			// The second of the two in id order is the one out of place.
			want := max(id, at.ID)
			var b *Broken
			if !errors.As(err, &b) || b.ID != want || b.Seq != at.Seq {
				t.Fatalf("got %v, want record id %d at seq %d reported", err, want, at.Seq)
			}
		})
	}
}
