package dao_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// The conversation store on the embedded SQLite dialect, through the logic
// that uses it; internal/e2e runs the same paths on MariaDB.

type org struct {
	db                   *gorm.DB
	tenant, other        int64
	sales, east, support model.Department
	admin, manager       model.User
	reps                 []model.User // sales, sales, east, support
	stranger             model.User   // a rep of the other tenant
	ingest               *conversation.Ingest
	read                 *conversation.Reader
}

func newOrg(t *testing.T) *org {
	t.Helper()
	return newOrgOn(t, daotest.Open(t))
}

// newOrgOn is newOrg on db, a fresh database of either dialect.
func newOrgOn(t *testing.T, db *gorm.DB) *org {
	t.Helper()
	o := &org{db: db}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	tenant := func() int64 {
		tn := model.Tenant{Name: "T", Timezone: "UTC", RateTier: "standard", CreatedAt: now, UpdatedAt: now}
		must(db.Create(&tn).Error)
		return tn.ID
	}
	o.tenant, o.other = tenant(), tenant()
	dept := func(name string, parent *model.Department) model.Department {
		d := model.Department{TenantID: o.tenant, Name: name, CreatedAt: now, UpdatedAt: now}
		must(db.Create(&d).Error)
		d.Path = fmt.Sprintf("/%d/", d.ID)
		if parent != nil {
			d.ParentID, d.Path = &parent.ID, fmt.Sprintf("%s%d/", parent.Path, d.ID)
		}
		must(db.Save(&d).Error)
		return d
	}
	o.sales = dept("sales", nil)
	o.east = dept("east", &o.sales)
	o.support = dept("support", nil)
	user := func(tenant int64, name, role string, d *model.Department) model.User {
		origin := "crm-" + name
		u := model.User{TenantID: tenant, Name: name, Role: role, Status: model.UserActive, OriginUserID: &origin, CreatedAt: now, UpdatedAt: now}
		if d != nil {
			u.DepartmentID = &d.ID
		}
		must(db.Create(&u).Error)
		return u
	}
	o.admin = user(o.tenant, "admin", model.RoleAdmin, nil)
	o.manager = user(o.tenant, "manager", model.RoleManager, &o.sales)
	o.reps = []model.User{
		user(o.tenant, "rep1", model.RoleRep, &o.sales),
		user(o.tenant, "rep2", model.RoleRep, &o.sales),
		user(o.tenant, "rep3", model.RoleRep, &o.east),
		user(o.tenant, "rep4", model.RoleRep, &o.support),
	}
	o.stranger = user(o.other, "stranger", model.RoleRep, nil)
	convs := dao.NewConversations(db)
	o.ingest = conversation.NewIngest(convs, dao.NewDeals(db), dao.NewTransactor(db))
	o.read = conversation.NewReader(convs)
	return o
}

func (o *org) app() context.Context {
	return model.WithScope(context.Background(), model.Scope{TenantID: o.tenant, Role: model.RoleApp, AppScopes: []string{"ingest", "read"}})
}

func (o *org) as(u model.User) context.Context {
	s := model.Scope{TenantID: u.TenantID, UserID: u.ID, Role: u.Role}
	if u.Role == model.RoleManager {
		s.DepartmentPath = o.sales.Path
	}
	return model.WithScope(context.Background(), s)
}

func (o *org) create(t *testing.T, origin string, owner model.User, begin time.Time, mut func(*conversation.CreateRequest)) int64 {
	t.Helper()
	req := conversation.CreateRequest{
		OriginConversationID: origin, Owner: conversation.Ref{ID: owner.ID}, Channel: model.ChannelCall,
		Direction: model.DirectionOutbound, BeginTime: begin, DurationMS: 60_000,
		Participants: []conversation.ParticipantInput{{SpeakerKey: "rep", User: conversation.Ref{ID: owner.ID}}, {SpeakerKey: "cust", Name: "王总", Affiliation: model.AffiliationExternal}},
	}
	if mut != nil {
		mut(&req)
	}
	res, err := o.ingest.CreateConversation(o.app(), req)
	if err != nil {
		t.Fatalf("create %s: %v", origin, err)
	}
	return res.ConversationID
}

func reason(err error) string {
	if err == nil {
		return ""
	}
	return errs.From(err).Reason
}

func TestIngestAndRead(t *testing.T) {
	o := newOrg(t)
	ctx := o.app()
	begin := time.Date(2026, 3, 1, 8, 30, 0, 123_000_000, time.UTC)
	req := conversation.CreateRequest{
		OriginConversationID: "call-1", Owner: conversation.Ref{OriginID: "crm-rep1"}, Title: "预算沟通", Channel: model.ChannelCall,
		BeginTime: begin, DurationMS: 20_000, Language: "zh-CN", CustomData: map[string]any{"b": 1, "a": []any{"x"}},
		Participants: []conversation.ParticipantInput{
			{SpeakerKey: "0", User: conversation.Ref{OriginID: "crm-rep1"}},
			{SpeakerKey: "1", Name: "王总", Affiliation: model.AffiliationExternal},
		},
	}
	first, err := o.ingest.CreateConversation(ctx, req)
	if err != nil || !first.Created {
		t.Fatalf("create: %+v %v", first, err)
	}
	// A retry naming the owner by the other kind of id is the same request.
	retry := req
	retry.Owner = conversation.Ref{ID: o.reps[0].ID}
	again, err := o.ingest.CreateConversation(ctx, retry)
	if err != nil || again.Created || again.ConversationID != first.ConversationID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	conflict := req
	conflict.DurationMS = 30_000
	if _, err := o.ingest.CreateConversation(ctx, conflict); reason(err) != errs.ReasonConversationConflict || errs.From(err).Status != http.StatusConflict {
		t.Fatalf("conflict: %v", err)
	}
	bad := req
	bad.OriginConversationID, bad.Owner = "call-2", conversation.Ref{OriginID: "nobody"}
	if _, err := o.ingest.CreateConversation(ctx, bad); reason(err) != errs.ReasonUserNotFound || errs.From(err).Metadata["field"] != "origin_owner_user_id" {
		t.Fatalf("unknown owner: %v", err)
	}
	bad.Owner = conversation.Ref{ID: o.stranger.ID}
	if _, err := o.ingest.CreateConversation(ctx, bad); reason(err) != errs.ReasonUserNotFound {
		t.Fatalf("owner of another tenant: %v", err)
	}

	id := first.ConversationID
	sentences := []conversation.SentenceInput{
		{Seq: 0, SpeakerKey: "0", StartMS: 0, EndMS: 4000, Text: "王总您好，我们今年的预算方案您看了吗？"},
		{Seq: 1, SpeakerKey: "1", StartMS: 4200, EndMS: 4600, Text: "嗯"},
		{Seq: 5, SpeakerKey: "1", StartMS: 5000, EndMS: 9000, Text: "看了，Budget is tight this year."},
		{Seq: 6, SpeakerKey: "9", StartMS: 9500, EndMS: 12000, Text: "I joined late, what did I miss?"},
	}
	res, err := o.ingest.PutTranscript(ctx, id, sentences)
	if err != nil || res.SentenceCount != 4 {
		t.Fatalf("put: %+v %v", res, err)
	}
	d, err := o.read.Get(o.as(o.reps[0]), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Conversation.Status != model.StatusReady || d.Conversation.SentenceCount != 4 || !d.Conversation.BeginTime.Equal(begin) ||
		string(d.Conversation.CustomData) != `{"a":["x"],"b":1}` || d.Conversation.Title != "预算沟通" {
		t.Fatalf("conversation: %+v", d.Conversation)
	}
	want := []conversation.ParticipantView{
		{SpeakerKey: "0", UserID: &o.reps[0].ID, Name: "rep1", Affiliation: model.AffiliationInternal},
		{SpeakerKey: "1", Name: "王总", Affiliation: model.AffiliationExternal},
		{SpeakerKey: "9", Affiliation: model.AffiliationUnknown},
	}
	if fmt.Sprint(deref(d.Participants)) != fmt.Sprint(deref(want)) {
		t.Fatalf("participants: %v, want %v", deref(d.Participants), deref(want))
	}
	if d.Metrics == nil || d.Metrics.QuestionCountInternal != 1 || d.Metrics.QuestionCountExternal != 1 ||
		d.Metrics.TalkRatio != res.Metrics.TalkRatio || d.Metrics.AlgoVersion != interaction.AlgoVersion {
		t.Fatalf("metrics: %+v, computed %+v", d.Metrics, res.Metrics)
	}
	tr, err := o.read.TranscriptPage(o.as(o.manager), conversation.TranscriptPageRequest{ID: id, Q: `"budget IS" tight`})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Sentences) != 4 || tr.Sentences[2].Seq != 5 || !tr.Sentences[2].Matches || tr.Sentences[0].Matches || tr.MatchCount != 1 {
		t.Fatalf("transcript: %+v", tr)
	}
	// Replacing the transcript replaces everything derived from it.
	if _, err := o.ingest.PutTranscript(ctx, id, sentences[:1]); err != nil {
		t.Fatal(err)
	}
	if tr, _ := o.read.TranscriptPage(ctx, conversation.TranscriptPageRequest{ID: id}); len(tr.Sentences) != 1 {
		t.Fatalf("after replace: %+v", tr)
	}
	var jobs []model.OutboxJob
	if err := o.db.Where("conversation_id = ?", id).Order("id").Find(&jobs).Error; err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[0].Kind != model.OutboxConversation || jobs[1].Kind != model.OutboxTranscript || jobs[1].Version != 1 || jobs[2].Version != 2 {
		t.Fatalf("outbox: %+v", jobs)
	}

	// Out of scope and other tenants: 404, never 403.
	strangerCtx := model.WithScope(context.Background(), model.Scope{TenantID: o.other, UserID: o.stranger.ID, Role: model.RoleRep})
	for name, ctx := range map[string]context.Context{"rep2": o.as(o.reps[1]), "support rep": o.as(o.reps[3]), "other tenant": strangerCtx} {
		if _, err := o.read.Get(ctx, id); reason(err) != errs.ReasonConversationNotFound {
			t.Errorf("%s get: %v", name, err)
		}
		if _, err := o.read.TranscriptPage(ctx, conversation.TranscriptPageRequest{ID: id}); reason(err) != errs.ReasonConversationNotFound {
			t.Errorf("%s transcript: %v", name, err)
		}
	}
	if _, err := o.ingest.PutTranscript(model.WithScope(context.Background(), model.Scope{TenantID: o.other, Role: model.RoleApp, AppScopes: []string{"ingest"}}), id, sentences); reason(err) != errs.ReasonConversationNotFound {
		t.Errorf("put from another tenant: %v", err)
	}
	readOnly := model.WithScope(context.Background(), model.Scope{TenantID: o.tenant, Role: model.RoleApp, AppScopes: []string{"read"}})
	if _, err := o.ingest.PutTranscript(readOnly, id, sentences); errs.From(err).Status != http.StatusForbidden {
		t.Errorf("put without the ingest scope: %v", err)
	}
	if _, err := o.ingest.CreateConversation(o.as(o.reps[0]), req); errs.From(err).Status != http.StatusForbidden {
		t.Errorf("create as a rep: %v", err)
	}
}

func deref(ps []conversation.ParticipantView) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		uid := int64(0)
		if p.UserID != nil {
			uid = *p.UserID
		}
		out[i] = fmt.Sprintf("%s/%d/%s/%s", p.SpeakerKey, uid, p.Name, p.Affiliation)
	}
	return out
}

func TestListScopeFiltersAndPages(t *testing.T) {
	o := newOrg(t)
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	dirs := []string{model.DirectionInbound, model.DirectionOutbound, model.DirectionUnknown}
	byOwner := map[int64][]int64{}
	var all []int64
	for i := range 24 {
		owner := o.reps[i%4]
		// Pairs of conversations share a begin_time, so ties need the id.
		id := o.create(t, fmt.Sprintf("c-%02d", i), owner, base.Add(time.Duration(i/2)*time.Hour), func(r *conversation.CreateRequest) {
			r.Direction = dirs[i%3]
			r.DurationMS = int64(1000 * (i + 1))
		})
		byOwner[owner.ID] = append(byOwner[owner.ID], id)
		all = append(all, id)
	}
	list := func(ctx context.Context, f model.ConversationFilter) []int64 {
		t.Helper()
		var ids []int64
		token := ""
		for {
			page, err := o.read.List(ctx, conversation.ListRequest{Filter: f, PageSize: 5, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Conversations {
				ids = append(ids, c.ID)
			}
			if page.NextPageToken == "" {
				if int(page.Total) != len(ids) {
					t.Fatalf("total %d, listed %d", page.Total, len(ids))
				}
				return ids
			}
			token = page.NextPageToken
		}
	}
	sorted := func(ids []int64) []int64 { return slices.Sorted(slices.Values(ids)) }
	desc := slices.Clone(all)
	slices.Reverse(desc)
	if got := list(o.as(o.admin), model.ConversationFilter{}); !slices.Equal(got, desc) {
		t.Fatalf("admin: %v, want %v (begin_time desc, id desc)", got, desc)
	}
	if got := list(o.as(o.reps[1]), model.ConversationFilter{}); !slices.Equal(sorted(got), byOwner[o.reps[1].ID]) {
		t.Fatalf("rep2 sees %v", got)
	}
	subtree := sorted(append(append(slices.Clone(byOwner[o.reps[0].ID]), byOwner[o.reps[1].ID]...), byOwner[o.reps[2].ID]...))
	if got := list(o.as(o.manager), model.ConversationFilter{}); !slices.Equal(sorted(got), subtree) {
		t.Fatalf("manager sees %v, want %v", sorted(got), subtree)
	}
	if got := list(o.as(o.admin), model.ConversationFilter{DepartmentID: o.east.ID}); !slices.Equal(sorted(got), byOwner[o.reps[2].ID]) {
		t.Fatalf("department east: %v", got)
	}
	if _, err := o.read.List(o.as(o.admin), conversation.ListRequest{Filter: model.ConversationFilter{DepartmentID: 999_999}}); errs.ReasonOf(err) != errs.ReasonDepartmentNotFound {
		t.Fatalf("unknown department: %v", err)
	}
	if got := list(o.as(o.reps[3]), model.ConversationFilter{DepartmentID: o.sales.ID}); len(got) != 0 {
		t.Fatalf("a filter never widens the scope: %v", got)
	}
	minD, maxD := int64(5000), int64(10_000)
	got := list(o.as(o.admin), model.ConversationFilter{
		From: base.Add(2 * time.Hour), To: base.Add(8 * time.Hour), Direction: model.DirectionInbound, MinDurationMS: &minD, MaxDurationMS: &maxD,
	})
	// i in [4, 16) (from incl., to excl.), inbound (i%3 == 0), duration 5..10 s (i in [4, 9]): 6 and 9.
	if want := []int64{all[9], all[6]}; !slices.Equal(got, want) {
		t.Fatalf("filters: %v, want %v", got, want)
	}
	if got := list(o.as(o.admin), model.ConversationFilter{OwnerIDs: []int64{o.reps[3].ID, o.reps[3].ID}}); !slices.Equal(sorted(got), byOwner[o.reps[3].ID]) {
		t.Fatalf("owner filter: %v", got)
	}
	// Tracker filter: EXISTS on the hits of a live tracker; a deleted
	// one's hits, which the purge has not reached yet, match nothing.
	trackers := dao.NewTrackers(o.db)
	tr := &model.Tracker{TenantID: o.tenant, Name: "budget", Keywords: `["预算"]`, Affiliation: model.AffiliationAnyone}
	if err := trackers.CreateTracker(t.Context(), tr, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.db.Create(&model.TrackerHit{TenantID: o.tenant, TrackerID: tr.ID, ConversationID: all[3], Phrase: "预算", SpeakerKey: "x"}).Error; err != nil {
		t.Fatal(err)
	}
	if got := list(o.as(o.admin), model.ConversationFilter{TrackerID: tr.ID}); !slices.Equal(got, []int64{all[3]}) {
		t.Fatalf("tracker filter: %v", got)
	}
	if err := trackers.DeleteTracker(t.Context(), o.tenant, tr.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.read.List(o.as(o.admin), conversation.ListRequest{Filter: model.ConversationFilter{TrackerID: tr.ID}}); errs.ReasonOf(err) != errs.ReasonTrackerNotFound {
		t.Fatalf("deleted tracker filter: %v", err)
	}
	// The list refuses a deleted tracker before it queries; one deleted
	// between that check and the query matches nothing either.
	adminScope, _ := model.ScopeFrom(o.as(o.admin))
	if got, err := dao.NewConversations(o.db).List(t.Context(), adminScope, model.ConversationFilter{TrackerID: tr.ID}, nil, 100); err != nil || len(got) != 0 {
		t.Fatalf("deleted tracker filter in the query: %v %v", got, err)
	}

	// Pages stay stable while conversations arrive: every conversation that
	// existed at the start is listed exactly once.
	ctx := o.as(o.admin)
	page, err := o.read.List(ctx, conversation.ListRequest{PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	for _, c := range page.Conversations {
		seen[c.ID]++
	}
	for i := 0; page.NextPageToken != ""; i++ {
		o.create(t, fmt.Sprintf("new-%d", i), o.reps[0], base.Add(time.Duration(i%30)*time.Hour), nil)
		if page, err = o.read.List(ctx, conversation.ListRequest{PageSize: 7, PageToken: page.NextPageToken}); err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Conversations {
			seen[c.ID]++
		}
	}
	for _, id := range all {
		if seen[id] != 1 {
			t.Fatalf("conversation %d listed %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("conversation %d listed %d times", id, n)
		}
	}

	// A token belongs to its filter.
	first, _ := o.read.List(ctx, conversation.ListRequest{PageSize: 1})
	_, err = o.read.List(ctx, conversation.ListRequest{PageSize: 1, PageToken: first.NextPageToken, Filter: model.ConversationFilter{DealID: 1}})
	if errs.From(err).Metadata["field"] != "page_token" {
		t.Fatalf("token of another filter: %v", err)
	}
}

func TestConcurrentCreateMakesOneConversation(t *testing.T) {
	o := newOrg(t)
	begin := time.Now().UTC()
	var wg sync.WaitGroup
	results := make([]conversation.CreateResult, 8)
	errList := make([]error, 8)
	for i := range results {
		wg.Go(func() {
			results[i], errList[i] = o.ingest.CreateConversation(o.app(), conversation.CreateRequest{
				OriginConversationID: "same", Owner: conversation.Ref{ID: o.reps[0].ID}, Channel: model.ChannelMeeting,
				BeginTime: begin, DurationMS: 1000,
			})
		})
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if errList[i] != nil {
			t.Fatalf("create %d: %v", i, errList[i])
		}
		if r.ConversationID != results[0].ConversationID {
			t.Fatalf("two ids: %+v", results)
		}
		if r.Created {
			created++
		}
	}
	var n int64
	o.db.Model(&model.Conversation{}).Where("origin_conversation_id = ?", "same").Count(&n)
	if created != 1 || n != 1 {
		t.Fatalf("created %d, rows %d", created, n)
	}
}

func TestConcurrentTranscriptsSerialize(t *testing.T) {
	o := newOrg(t)
	id := o.create(t, "busy", o.reps[0], time.Now().UTC(), func(r *conversation.CreateRequest) { r.DurationMS = 3_600_000 })
	transcript := func(writer, n int) []conversation.SentenceInput {
		out := make([]conversation.SentenceInput, n)
		for i := range out {
			speaker := []string{"rep", "cust"}[(i+writer)%2]
			out[i] = conversation.SentenceInput{Seq: int64(i), SpeakerKey: speaker, StartMS: int64(i * 3000), EndMS: int64(i*3000 + 1000 + 500*writer),
				Text: fmt.Sprintf("writer %d sentence %d, is that right?", writer, i)}
		}
		return out
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 3 {
				if _, err := o.ingest.PutTranscript(o.app(), id, transcript(w, 300+100*w)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	assertMetricsMatchTranscript(t, o, id)
}

// assertMetricsMatchTranscript recomputes the metrics from what is stored.
func assertMetricsMatchTranscript(t *testing.T, o *org, id int64) {
	t.Helper()
	ctx := o.app()
	d, err := o.read.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := o.read.TranscriptPage(ctx, conversation.TranscriptPageRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	internal := map[string]bool{}
	for _, p := range d.Participants {
		internal[p.SpeakerKey] = p.Affiliation == model.AffiliationInternal
	}
	ms := make([]interaction.Sentence, len(tr.Sentences))
	for i, s := range tr.Sentences {
		side := interaction.SideExternal
		if internal[s.SpeakerKey] {
			side = interaction.SideInternal
		}
		ms[i] = interaction.Sentence{Seq: int(s.Seq), StartMS: s.StartMS, EndMS: s.EndMS, Side: side, Text: s.Text}
	}
	want := interaction.Compute(d.Conversation.DurationMS, ms)
	if d.Conversation.SentenceCount != len(tr.Sentences) || d.Metrics.TalkRatio != want.TalkRatio ||
		d.Metrics.LongestMonologueMS != want.LongestMonologueMS || d.Metrics.SilenceMS != want.SilenceMS ||
		d.Metrics.QuestionCountInternal != want.QuestionCountInternal {
		t.Fatalf("stored metrics %+v (sentence_count %d) do not match the stored transcript (%d sentences): %+v",
			d.Metrics, d.Conversation.SentenceCount, len(tr.Sentences), want)
	}
}

func TestDealUpsert(t *testing.T) {
	o := newOrg(t)
	ctx := o.app()
	req := conversation.UpsertDealRequest{OriginDealID: "d-1", Name: "Big deal", AmountCents: 100, Owner: conversation.Ref{OriginID: "crm-rep1"}}
	d, created, err := o.ingest.UpsertDeal(ctx, req)
	if err != nil || !created || d.OwnerUserID == nil || *d.OwnerUserID != o.reps[0].ID {
		t.Fatalf("create: %+v %v %v", d, created, err)
	}
	again, created, err := o.ingest.UpsertDeal(ctx, req)
	if err != nil || created || again.ID != d.ID || !again.UpdatedAt.Equal(d.UpdatedAt) {
		t.Fatalf("same again: %+v %v %v", again, created, err)
	}
	req.Owner, req.Stage = conversation.Ref{}, "won"
	upd, created, err := o.ingest.UpsertDeal(ctx, req)
	if err != nil || created || upd.ID != d.ID || upd.OwnerUserID != nil || upd.Stage != "won" {
		t.Fatalf("update: %+v %v %v", upd, created, err)
	}
	req.Owner = conversation.Ref{ID: o.stranger.ID}
	if _, _, err := o.ingest.UpsertDeal(ctx, req); reason(err) != errs.ReasonUserNotFound {
		t.Fatalf("owner of another tenant: %v", err)
	}
	// A conversation names its deal by either id.
	id := o.create(t, "with-deal", o.reps[0], time.Now(), func(r *conversation.CreateRequest) { r.Deal = conversation.Ref{OriginID: "d-1"} })
	c, err := o.read.Get(ctx, id)
	if err != nil || c.Conversation.DealID == nil || *c.Conversation.DealID != d.ID {
		t.Fatalf("deal of conversation: %+v %v", c.Conversation, err)
	}
	_, err = o.ingest.CreateConversation(ctx, conversation.CreateRequest{OriginConversationID: "x", Owner: conversation.Ref{ID: o.reps[0].ID},
		Deal: conversation.Ref{ID: 424242}, Channel: model.ChannelCall, BeginTime: time.Now(), DurationMS: 1})
	if reason(err) != errs.ReasonDealNotFound || errs.From(err).Metadata["field"] != "deal_id" {
		t.Fatalf("unknown deal: %v", err)
	}
}

func TestSearchDocsFromCommittedTranscripts(t *testing.T) {
	o := newOrg(t)
	var committed []*conversation.TranscriptWrite
	o.ingest.OnCommitted(func(w *conversation.TranscriptWrite) {
		if w != nil {
			committed = append(committed, w)
		}
	})
	id := o.create(t, "known", o.reps[2], time.Now().UTC(), nil)
	put := func(words string) {
		t.Helper()
		in := []conversation.SentenceInput{
			{Seq: 0, SpeakerKey: "rep", StartMS: 0, EndMS: 900, Text: "您好，" + words},
			{Seq: 3, SpeakerKey: "cust", StartMS: 1000, EndMS: 2000, Text: "budget " + words},
			{Seq: 4, SpeakerKey: "new speaker", StartMS: 2100, EndMS: 2500, Text: "\"quoted\" \\ " + words},
		}
		if _, err := o.ingest.PutTranscript(o.app(), id, in); err != nil {
			t.Fatal(err)
		}
	}
	put("first")
	put("second")
	if len(committed) != 2 || committed[1].Conversation.TranscriptVersion != 2 || len(committed[1].Sentences) != 3 {
		t.Fatalf("committed writes: %+v", committed)
	}
	docs := dao.NewSearchDocs(o.db)
	fromDB, stamps, err := docs.Load(t.Context(), []int64{id}, nil)
	if err != nil || fromDB[id] == nil || len(fromDB[id].Sentences) != 3 {
		t.Fatalf("load: %v %+v", err, fromDB)
	}
	// Given the committed write, the document is the same without reading
	// the sentences back; an older version given is not used.
	for _, w := range committed {
		var asked []int64
		got, gotStamps, err := docs.Load(t.Context(), []int64{id}, func(cid, version int64) ([]model.Sentence, bool) {
			asked = append(asked, cid, version)
			return w.Sentences, version == w.Conversation.TranscriptVersion
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(asked, []int64{id, 2}) {
			t.Errorf("asked for %v, want conversation %d version 2", asked, id)
		}
		if !reflect.DeepEqual(got, fromDB) || !reflect.DeepEqual(gotStamps, stamps) {
			t.Errorf("version %d given: %+v, from the database %+v", w.Conversation.TranscriptVersion, got[id], fromDB[id])
		}
	}
	if s := fromDB[id].Sentences; s[0].Affiliation != model.AffiliationInternal || s[1].Affiliation != model.AffiliationExternal ||
		s[2].Affiliation != model.AffiliationUnknown || s[2].Text != "\"quoted\" \\ second" {
		t.Errorf("sentences: %+v", s)
	}
}

func TestLockForTranscriptReturnsTheRowAndItsSpeakers(t *testing.T) {
	o := newOrg(t)
	id := o.create(t, "lock", o.reps[0], time.Now().UTC(), nil)
	bare := o.create(t, "bare", o.reps[0], time.Now().UTC(), func(r *conversation.CreateRequest) { r.Participants = nil })
	lock := func(tenant, id int64, n int) (model.Conversation, []model.Participant, error) {
		l, err := lockFor(t, o, tenant, id, n)
		return l.Conversation, l.Speakers, err
	}
	c, speakers, err := lock(o.tenant, id, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.TranscriptVersion != 1 || c.SentenceCount != 7 || c.Status != model.StatusReady || c.DurationMS != 60_000 || c.OwnerUserID != o.reps[0].ID {
		t.Errorf("row %+v", c)
	}
	want := []model.Participant{
		{TenantID: o.tenant, ConversationID: id, SpeakerKey: "cust", Affiliation: model.AffiliationExternal},
		{TenantID: o.tenant, ConversationID: id, SpeakerKey: "rep", Affiliation: model.AffiliationInternal},
	}
	if !slices.Equal(speakers, want) {
		t.Errorf("speakers %+v, want %+v", speakers, want)
	}
	if c, speakers, err := lock(o.tenant, bare, 0); err != nil || c.ID != bare || len(speakers) != 0 {
		t.Errorf("no participants: %+v %+v %v", c, speakers, err)
	}
	for _, miss := range [][2]int64{{o.tenant, id + 100}, {o.other, id}} {
		if _, _, err := lock(miss[0], miss[1], 1); !errors.Is(err, conversation.ErrNotFound) {
			t.Errorf("lock%v: %v", miss, err)
		}
	}
}

func lockFor(t *testing.T, o *org, tenant, id int64, n int) (conversation.TranscriptLock, error) {
	t.Helper()
	locks, err := lockAll(t, o, conversation.TranscriptTarget{TenantID: tenant, ID: id, N: n})
	if l, ok := locks[id]; ok || err != nil {
		return l, err
	}
	return conversation.TranscriptLock{}, conversation.ErrNotFound
}

func lockAll(t *testing.T, o *org, targets ...conversation.TranscriptTarget) (map[int64]conversation.TranscriptLock, error) {
	t.Helper()
	var locks map[int64]conversation.TranscriptLock
	err := dao.NewTransactor(o.db).InTx(t.Context(), func(ctx context.Context) error {
		var err error
		locks, err = dao.NewConversations(o.db).LockForTranscripts(ctx, targets)
		return err
	})
	return locks, err
}

// A transcript written inside the caller's transaction joins it (and
// rolls back with it) rather than waiting for a transaction of its own,
// which on SQLite would wait for the caller's write lock forever.
func TestPutTranscriptJoinsTheCallersTransaction(t *testing.T) {
	o := newOrg(t)
	id := o.create(t, "in-tx", o.reps[0], time.Now().UTC(), nil)
	lines := []conversation.SentenceInput{{Seq: 0, SpeakerKey: "rep", StartMS: 0, EndMS: 1500, Text: "您好，今天聊聊预算吗"}}
	rolledBack := errors.New("rolled back")
	ctx, cancel := context.WithTimeout(o.app(), 10*time.Second)
	defer cancel()
	err := dao.NewTransactor(o.db).InTx(ctx, func(ctx context.Context) error {
		if _, err := o.ingest.PutTranscript(ctx, id, lines); err != nil {
			return err
		}
		return rolledBack
	})
	if !errors.Is(err, rolledBack) {
		t.Fatalf("InTx: %v", err)
	}
	if got, err := dao.NewConversations(o.db).Sentences(t.Context(), o.tenant, id); err != nil || len(got) != 0 {
		t.Fatalf("after the rollback: %d sentences, %v", len(got), err)
	}
	if _, err := o.ingest.PutTranscript(o.app(), id, lines); err != nil {
		t.Fatal(err)
	}
	if got, _ := dao.NewConversations(o.db).Sentences(t.Context(), o.tenant, id); len(got) != 1 {
		t.Fatalf("written alone: %d sentences", len(got))
	}
}

// Several conversations, of several tenants, are locked at once; each
// answer is its own row, speakers and tracker stamp, and a target that is
// not there (or not in its tenant) is left out and not written.
func TestLockForTranscriptsLocksEachTarget(t *testing.T) {
	o := newOrg(t)
	a := o.create(t, "lock-a", o.reps[0], time.Now().UTC(), nil)
	b := o.create(t, "lock-b", o.reps[0], time.Now().UTC(), func(r *conversation.CreateRequest) { r.Participants = nil })
	if _, err := lockFor(t, o, o.tenant, b, 1); err != nil {
		t.Fatal(err)
	}
	tr := &model.Tracker{TenantID: o.tenant, Name: "price", Keywords: `["价格"]`, Affiliation: model.AffiliationAnyone}
	if err := dao.NewTrackers(o.db).CreateTracker(t.Context(), tr, 0); err != nil {
		t.Fatal(err)
	}
	locks, err := lockAll(t, o,
		conversation.TranscriptTarget{TenantID: o.tenant, ID: b, N: 3},
		conversation.TranscriptTarget{TenantID: o.other, ID: a, N: 9}, // a is not the other tenant's
		conversation.TranscriptTarget{TenantID: o.tenant, ID: a, N: 5},
		conversation.TranscriptTarget{TenantID: o.tenant, ID: b + 100, N: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 2 {
		t.Fatalf("locked %d conversations, want 2: %+v", len(locks), locks)
	}
	stamp := conversation.TrackersStamp{Count: 1, Versions: 1}
	if l := locks[a]; l.Conversation.TranscriptVersion != 1 || l.Conversation.SentenceCount != 5 || len(l.Speakers) != 2 ||
		l.Speakers[0].SpeakerKey != "cust" || l.Speakers[1].SpeakerKey != "rep" || l.Trackers != stamp {
		t.Errorf("a: %+v", l)
	}
	if l := locks[b]; l.Conversation.TranscriptVersion != 2 || l.Conversation.SentenceCount != 3 || len(l.Speakers) != 0 || l.Trackers != stamp {
		t.Errorf("b: %+v", l)
	}
	var c model.Conversation
	if err := o.db.First(&c, a).Error; err != nil || c.TranscriptVersion != 1 || c.SentenceCount != 5 {
		t.Errorf("a as stored: %+v %v", c, err)
	}
}

// The stamp of a tenant's trackers changes with every change that matters
// to matching, and only with the tenant's own trackers.
func TestTranscriptLockStampsTheTrackers(t *testing.T) {
	o := newOrg(t)
	id := o.create(t, "stamp", o.reps[0], time.Now().UTC(), nil)
	trackers := dao.NewTrackers(o.db)
	stamp := func() conversation.TrackersStamp {
		t.Helper()
		l, err := lockFor(t, o, o.tenant, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		return l.Trackers
	}
	seen := map[conversation.TrackersStamp]string{stamp(): "no trackers"}
	changed := func(what string) {
		t.Helper()
		s := stamp()
		if before, ok := seen[s]; ok {
			t.Fatalf("%s: stamp %+v, as after %s", what, s, before)
		}
		seen[s] = what
	}
	tr := &model.Tracker{TenantID: o.tenant, Name: "price", Keywords: `["价格"]`, Affiliation: model.AffiliationAnyone}
	if err := trackers.CreateTracker(t.Context(), tr, 0); err != nil {
		t.Fatal(err)
	}
	changed("create")
	tr.Keywords = `["价格","报价"]`
	if _, err := trackers.UpdateTracker(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	changed("keywords")
	tr.Affiliation = model.AffiliationExternal
	if _, err := trackers.UpdateTracker(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	changed("affiliation")
	before := stamp()
	tr.Name = "pricing"
	if _, err := trackers.UpdateTracker(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	if s := stamp(); s != before {
		t.Errorf("a new name, which matching does not use, changed the stamp: %+v to %+v", before, s)
	}
	other := &model.Tracker{TenantID: o.other, Name: "x", Keywords: `["x"]`, Affiliation: model.AffiliationAnyone}
	if err := trackers.CreateTracker(t.Context(), other, 0); err != nil {
		t.Fatal(err)
	}
	if s := stamp(); s != before {
		t.Errorf("another tenant's tracker changed the stamp: %+v to %+v", before, s)
	}
	if err := trackers.DeleteTracker(t.Context(), o.tenant, tr.ID); err != nil {
		t.Fatal(err)
	}
	changed("delete")
}

// Speaker keys are the partner's labels, compared byte for byte on both
// engines: "rep", "REP", "rep " and "ä" next to "a" are different speakers
// of a conversation and of its transcript, stored and returned as given,
// in byte order, and a privacy lookup of one speaker counts that speaker's
// sentences only. MariaDB's collation took them for one key.
func TestSpeakerKeysAreComparedByteForByte(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		o := newOrgOn(t, db)
		res, err := o.ingest.CreateConversation(o.app(), conversation.CreateRequest{
			OriginConversationID: "speaker-keys", Owner: conversation.Ref{ID: o.reps[0].ID}, Channel: model.ChannelCall,
			BeginTime: time.Now().UTC(), DurationMS: 10_000,
			Participants: []conversation.ParticipantInput{
				{SpeakerKey: "rep", User: conversation.Ref{ID: o.reps[0].ID}},
				{SpeakerKey: "REP", Name: "Rep Two", Affiliation: model.AffiliationExternal},
				{SpeakerKey: "rep ", Name: "Rep Three", Affiliation: model.AffiliationExternal},
				{SpeakerKey: "ä", Name: "Anna", Affiliation: model.AffiliationExternal},
			},
		})
		if err != nil {
			t.Fatalf("participants rep, REP, \"rep \", ä: %v", err)
		}
		said := []string{"rep", "REP", "rep ", "ä", "a", "new", "NEW", "REP"}
		sentences := make([]conversation.SentenceInput, len(said))
		for i, key := range said {
			sentences[i] = conversation.SentenceInput{Seq: int64(i), SpeakerKey: key, StartMS: int64(i) * 1000, EndMS: int64(i)*1000 + 900, Text: "line of " + key}
		}
		if _, err := o.ingest.PutTranscript(o.app(), res.ConversationID, sentences); err != nil {
			t.Fatalf("transcript with new keys a, new, NEW: %v", err)
		}
		d, err := o.read.Get(o.app(), res.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, p := range d.Participants {
			if !utf8.ValidString(p.SpeakerKey) {
				t.Errorf("speaker key %q is not UTF-8", p.SpeakerKey)
			}
			keys = append(keys, p.SpeakerKey)
		}
		if want := []string{"NEW", "REP", "a", "new", "rep", "rep ", "ä"}; !slices.Equal(keys, want) {
			t.Errorf("participants %q, want %q in byte order", keys, want)
		}
		var got []string
		if _, err := o.read.StreamTranscript(o.app(), res.ConversationID, "", func(s conversation.TranscriptSentence) error {
			if s.Text != "line of "+s.SpeakerKey {
				t.Errorf("sentence %d: %q said %q", s.Seq, s.SpeakerKey, s.Text)
			}
			got = append(got, s.SpeakerKey)
			return nil
		}); err != nil || !slices.Equal(got, said) {
			t.Errorf("transcript speakers %q, %v; want %q", got, err, said)
		}
		p := dao.NewPrivacy(db)
		m, err := p.FindPerson(t.Context(), o.tenant, model.SubjectName, []string{"Rep Two"}, []string{"Rep Two"})
		if err != nil || !slices.Equal(m.Conversations[res.ConversationID], []string{"REP"}) {
			t.Fatalf("speakers named Rep Two: %v, %v; want REP", m.Conversations, err)
		}
		if n, err := p.CountSentences(t.Context(), o.tenant, m.Conversations); err != nil || n != 2 {
			t.Errorf("sentences of REP: %d, %v; want 2", n, err)
		}
	})
}

// A speaker key given twice is an invalid request, not a conversation
// created meanwhile under the origin id (which, not found, was an internal
// error), also from the store.
func TestSameSpeakerKeyTwiceIsInvalid(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		o := newOrgOn(t, db)
		_, err := o.ingest.CreateConversation(o.app(), conversation.CreateRequest{
			OriginConversationID: "keys-twice", Owner: conversation.Ref{ID: o.reps[0].ID}, Channel: model.ChannelCall,
			BeginTime: time.Now().UTC(), DurationMS: 1000,
			Participants: []conversation.ParticipantInput{{SpeakerKey: "rep", Name: "a"}, {SpeakerKey: "rep", Name: "b"}},
		})
		if !errs.Is(err, errs.ReasonInvalidArgument) {
			t.Fatalf("logic: %v, want INVALID_ARGUMENT", err)
		}
		c := &model.Conversation{TenantID: o.tenant, OriginConversationID: "keys-twice", OwnerUserID: o.reps[0].ID,
			Channel: model.ChannelCall, BeginTime: time.Now().UTC(), Status: model.StatusPending}
		err = dao.NewConversations(db).Create(t.Context(), c, []model.Participant{{SpeakerKey: "rep", Name: "a"}, {SpeakerKey: "rep", Name: "b"}})
		if !errs.Is(err, errs.ReasonInvalidArgument) {
			t.Fatalf("store: %v, want INVALID_ARGUMENT", err)
		}
	})
}
