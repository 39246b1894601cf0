package conversation

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/embedded"
)

// fakeRepo is an in-memory IngestRepo, DealRepo and Transactor of tenant 1.
type fakeRepo struct {
	nextID        int64
	convs         map[int64]model.Conversation
	participants  map[int64][]model.Participant
	users         map[int64]model.User
	stored        map[int64]int
	replaced      int
	inTx          bool
	beforeCreate  func() // runs as Create starts: a concurrent request lands here
	creates       int
	metricsStored []model.ConversationMetrics
	txMu          sync.Mutex
	groups        []int                        // transcripts per LockForTranscripts
	onLock        func([]TranscriptTarget)     // runs as LockForTranscripts starts
	failReplace   func([]TranscriptRows) error // fails ReplaceTranscripts when it errs
}

func newFakeRepo() *fakeRepo {
	origin := "crm-7"
	return &fakeRepo{
		nextID: 100, convs: map[int64]model.Conversation{}, participants: map[int64][]model.Participant{},
		users:  map[int64]model.User{7: {ID: 7, TenantID: 1, Name: "rep", OriginUserID: &origin}},
		stored: map[int64]int{},
	}
}

func (f *fakeRepo) addConversation(c model.Conversation) int64 {
	f.nextID++
	c.ID = f.nextID
	f.convs[c.ID] = c
	return c.ID
}

var errConvNotFound = errs.NotFound("CONVERSATION_NOT_FOUND", "no such conversation")

func (f *fakeRepo) Get(_ context.Context, s model.Scope, id int64) (model.Conversation, error) {
	c, ok := f.convs[id]
	if !ok || c.TenantID != s.TenantID {
		return model.Conversation{}, errConvNotFound
	}
	return c, nil
}

func (f *fakeRepo) ByOrigin(_ context.Context, tenantID int64, origin string) (model.Conversation, error) {
	for _, c := range f.convs {
		if c.TenantID == tenantID && c.OriginConversationID == origin {
			return c, nil
		}
	}
	return model.Conversation{}, errConvNotFound
}

func (f *fakeRepo) Create(_ context.Context, c *model.Conversation, ps []model.Participant) error {
	f.creates++
	if f.beforeCreate != nil {
		f.beforeCreate()
	}
	if _, err := f.ByOrigin(context.Background(), c.TenantID, c.OriginConversationID); err == nil {
		return errs.Of(errs.ReasonAlreadyExists, "duplicate")
	}
	c.ID = f.addConversation(*c)
	f.participants[c.ID] = ps
	return nil
}

func (f *fakeRepo) User(_ context.Context, tenantID, id int64, origin, field string) (model.User, error) {
	for _, u := range f.users {
		if u.TenantID == tenantID && (u.ID == id || (id == 0 && u.OriginUserID != nil && *u.OriginUserID == origin)) {
			return u, nil
		}
	}
	return model.User{}, errs.NotFound("USER_NOT_FOUND", "%s: no such user", field).With("field", field)
}

func (f *fakeRepo) LockForTranscripts(_ context.Context, targets []TranscriptTarget) (map[int64]TranscriptLock, error) {
	f.groups = append(f.groups, len(targets))
	if f.onLock != nil {
		f.onLock(targets)
	}
	out := map[int64]TranscriptLock{}
	for _, t := range targets {
		if _, dup := out[t.ID]; dup {
			return nil, fmt.Errorf("conversation %d twice in one write", t.ID)
		}
		c, ok := f.convs[t.ID]
		if !ok || c.TenantID != t.TenantID {
			continue
		}
		c.TranscriptVersion++
		c.SentenceCount, c.Status = t.N, model.StatusReady
		f.convs[t.ID] = c
		out[t.ID] = TranscriptLock{Conversation: c, Speakers: slices.Clone(f.participants[t.ID])}
	}
	return out, nil
}

func (f *fakeRepo) AddParticipants(_ context.Context, ps []model.Participant) error {
	for _, p := range ps {
		f.participants[p.ConversationID] = append(f.participants[p.ConversationID], p)
	}
	return nil
}

func (f *fakeRepo) ReplaceTranscripts(_ context.Context, ts []TranscriptRows) error {
	if f.failReplace != nil {
		if err := f.failReplace(ts); err != nil {
			return err
		}
	}
	f.replaced += len(ts)
	return nil
}

func (f *fakeRepo) SaveMetrics(_ context.Context, ms ...model.ConversationMetrics) error {
	f.metricsStored = append(f.metricsStored, ms...)
	return nil
}

func (f *fakeRepo) QueueTranscriptIndexing(_ context.Context, cs ...model.Conversation) error {
	for _, c := range cs {
		f.stored[c.ID] = c.SentenceCount
	}
	return nil
}

// InTx runs one transaction at a time, as SQLite does; a failed one rolls
// nothing back (the tests that fail one look at what commits after).
func (f *fakeRepo) InTx(ctx context.Context, fn func(context.Context) error) error {
	f.txMu.Lock()
	defer f.txMu.Unlock()
	f.inTx = true
	defer func() { f.inTx = false }()
	return fn(ctx)
}

// ErasedUsers returns the users of ids the fake holds erased.
func (f *fakeRepo) ErasedUsers(_ context.Context, tenantID int64, ids []int64) ([]int64, error) {
	var erased []int64
	for _, id := range ids {
		if u, ok := f.users[id]; ok && u.TenantID == tenantID && u.Erased() {
			erased = append(erased, id)
		}
	}
	return erased, nil
}

// plainTx runs each function as it comes, in no transaction.
type plainTx struct{}

func (plainTx) InTx(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
func (plainTx) InTransaction(context.Context) bool                             { return false }
func (plainTx) AfterCommit(_ context.Context, fn func())                       { fn() }

// InTransaction is false: the fake's transactions do not mark the context.
func (f *fakeRepo) InTransaction(context.Context) bool { return false }

// AfterCommit runs fn at once: the fake's transactions always commit.
func (f *fakeRepo) AfterCommit(_ context.Context, fn func()) { fn() }

// fakeDeals is a DealRepo knowing deal 5 ("deal-5").
type fakeDeals struct{ *fakeRepo }

func (fakeDeals) Upsert(context.Context, *model.Deal) (bool, error) { return true, nil }

func (d fakeDeals) Get(_ context.Context, _, id int64, origin, field string) (model.Deal, error) {
	if id == 5 || origin == "deal-5" {
		return model.Deal{ID: 5, TenantID: 1}, nil
	}
	return model.Deal{}, errs.NotFound("DEAL_NOT_FOUND", "%s: no such deal", field).With("field", field)
}

func validCreate() CreateRequest {
	return CreateRequest{
		OriginConversationID: "crm-call-1", Owner: Ref{OriginID: "crm-7"}, Channel: model.ChannelCall,
		BeginTime: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), DurationMS: 60_000,
		Participants: []ParticipantInput{{SpeakerKey: "0", User: Ref{ID: 7}}, {SpeakerKey: "1", Name: "王总"}},
	}
}

func TestCreateConversationIdempotent(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	first, err := in.CreateConversation(ctx, validCreate())
	if err != nil || !first.Created {
		t.Fatalf("first: %+v %v", first, err)
	}
	c := repo.convs[first.ConversationID]
	if c.Direction != model.DirectionUnknown || c.Status != model.StatusPending || c.CustomData != "{}" || len(c.RequestHash) != 64 {
		t.Fatalf("stored: %+v", c)
	}
	ps := repo.participants[first.ConversationID]
	if ps[0].Affiliation != model.AffiliationInternal || ps[1].Affiliation != model.AffiliationUnknown || *ps[0].UserID != 7 {
		t.Fatalf("participants: %+v", ps)
	}

	// The same conversation again, with participants in another order and
	// the owner by id: the same answer, nothing created.
	same := validCreate()
	same.Owner = Ref{ID: 7}
	same.Participants[0], same.Participants[1] = same.Participants[1], same.Participants[0]
	again, err := in.CreateConversation(ctx, same)
	if err != nil || again.Created || again.ConversationID != first.ConversationID || repo.creates != 1 {
		t.Fatalf("retry: %+v %v (creates %d)", again, err, repo.creates)
	}

	for name, mut := range map[string]func(*CreateRequest){
		"title":       func(r *CreateRequest) { r.Title = "other" },
		"begin time":  func(r *CreateRequest) { r.BeginTime = r.BeginTime.Add(time.Second) },
		"custom data": func(r *CreateRequest) { r.CustomData = map[string]any{"a": 1} },
		"participant": func(r *CreateRequest) { r.Participants[1].Affiliation = model.AffiliationExternal },
		"deal":        func(r *CreateRequest) { r.Deal = Ref{ID: 5} },
	} {
		req := validCreate()
		mut(&req)
		_, err := in.CreateConversation(ctx, req)
		if e := errs.From(err); e == nil || e.Reason != errs.ReasonConversationConflict {
			t.Errorf("%s differs: %v, want CONVERSATION_CONFLICT", name, err)
		}
	}
}

func TestCreateConversationLosesTheRace(t *testing.T) {
	for _, tc := range []struct {
		name        string
		winnerTitle string
		wantErr     string
	}{
		{"the winner sent the same request", "", ""},
		{"the winner sent another request", "other", errs.ReasonConversationConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newFakeRepo()
			in := NewIngest(repo, fakeDeals{repo}, repo)
			req := validCreate()
			// Between our look-up and our insert, a concurrent request
			// inserts the conversation: our insert hits the unique key.
			// The winner's transaction is its own: the fake's are not
			// reentrant.
			other := NewIngest(repo, fakeDeals{repo}, plainTx{})
			repo.beforeCreate = func() {
				repo.beforeCreate = nil
				winner := validCreate()
				winner.Title = tc.winnerTitle
				if _, err := other.CreateConversation(accesstest.App(1, "ingest"), winner); err != nil {
					t.Fatal(err)
				}
			}
			res, err := in.CreateConversation(accesstest.App(1, "ingest"), req)
			if got := errs.ReasonOf(err); got != tc.wantErr {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if tc.wantErr == "" && (res.Created || res.ConversationID == 0) {
				t.Fatalf("result %+v, want the winner's id with created=false", res)
			}
			if len(repo.convs) != 1 {
				t.Fatalf("%d conversations", len(repo.convs))
			}
		})
	}
}

func TestCreateConversationValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mut   func(*CreateRequest)
		field string
	}{
		{"no origin id", func(r *CreateRequest) { r.OriginConversationID = "" }, "origin_conversation_id"},
		{"origin id too long", func(r *CreateRequest) { r.OriginConversationID = strings.Repeat("x", 129) }, "origin_conversation_id"},
		{"no owner", func(r *CreateRequest) { r.Owner = Ref{} }, "owner_user_id"},
		{"negative owner", func(r *CreateRequest) { r.Owner = Ref{ID: -1} }, "owner_user_id"},
		{"owner origin too long", func(r *CreateRequest) { r.Owner = Ref{OriginID: strings.Repeat("u", 129)} }, "origin_owner_user_id"},
		{"title too long", func(r *CreateRequest) { r.Title = strings.Repeat("标", 256) }, "title"},
		{"escape sequence in the title", func(r *CreateRequest) { r.Title = "call \x1b[2J" }, "title"},
		{"NUL in a participant name", func(r *CreateRequest) { r.Participants[1].Name = "Erin\x00" }, "participants[1].name"},
		{"no channel", func(r *CreateRequest) { r.Channel = "" }, "channel"},
		{"bad channel", func(r *CreateRequest) { r.Channel = "7" }, "channel"},
		{"bad direction", func(r *CreateRequest) { r.Direction = "sideways" }, "direction"},
		{"no begin time", func(r *CreateRequest) { r.BeginTime = time.Time{} }, "begin_time"},
		{"begin time in 1900", func(r *CreateRequest) { r.BeginTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }, "begin_time"},
		{"no duration", func(r *CreateRequest) { r.DurationMS = 0 }, "duration_ms"},
		{"duration over 24 hours", func(r *CreateRequest) { r.DurationMS = 86_400_001 }, "duration_ms"},
		{"language too long", func(r *CreateRequest) { r.Language = strings.Repeat("z", 17) }, "language"},
		{"custom data too big", func(r *CreateRequest) { r.CustomData = map[string]any{"x": strings.Repeat("d", 16<<10)} }, "custom_data"},
		{"too many participants", func(r *CreateRequest) { r.Participants = make([]ParticipantInput, 101) }, "participants"},
		{"participant without speaker", func(r *CreateRequest) { r.Participants[1].SpeakerKey = "" }, "participants[1].speaker_key"},
		{"duplicate speaker", func(r *CreateRequest) { r.Participants[1].SpeakerKey = "0" }, "participants[1].speaker_key"},
		{"bad affiliation", func(r *CreateRequest) { r.Participants[1].Affiliation = "enemy" }, "participants[1].affiliation"},
		{"participant name too long", func(r *CreateRequest) { r.Participants[1].Name = strings.Repeat("n", 256) }, "participants[1].name"},
		{"unknown owner", func(r *CreateRequest) { r.Owner = Ref{OriginID: "nobody"} }, "origin_owner_user_id"},
		{"unknown participant user", func(r *CreateRequest) { r.Participants[1].User = Ref{ID: 8} }, "participants[1].user_id"},
		{"unknown deal", func(r *CreateRequest) { r.Deal = Ref{OriginID: "deal-6"} }, "origin_deal_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newFakeRepo()
			in := NewIngest(repo, fakeDeals{repo}, repo)
			req := validCreate()
			tc.mut(&req)
			_, err := in.CreateConversation(accesstest.App(1, "ingest"), req)
			if e := errs.From(err); e == nil || e.Metadata["field"] != tc.field {
				t.Fatalf("got %v, want an error naming %s", err, tc.field)
			}
			if repo.creates != 0 {
				t.Fatal("an invalid request reached the store")
			}
		})
	}
}

func TestIngestNeedsTheIngestScope(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	for name, ctx := range map[string]context.Context{
		"app without ingest": accesstest.App(1, "read"),
		"rep":                model.WithScope(context.Background(), model.Scope{TenantID: 1, UserID: 7, Role: model.RoleRep}),
		"manager":            model.WithScope(context.Background(), model.Scope{TenantID: 1, UserID: 7, Role: model.RoleManager, DepartmentPath: "/1/"}),
	} {
		if _, err := in.CreateConversation(ctx, validCreate()); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := in.CreateConversation(context.Background(), validCreate()); errs.ReasonOf(err) != errs.ReasonUnauthenticated {
		t.Errorf("anonymous: %v", err)
	}
	admin := model.WithScope(context.Background(), model.Scope{TenantID: 1, UserID: 7, Role: model.RoleAdmin})
	if _, err := in.CreateConversation(admin, validCreate()); err != nil {
		t.Errorf("admin: %v", err)
	}
}

// A transcript read marks what search would find: whole English words and
// numbers, a phrase's words together, a Chinese word's characters together
// and never across punctuation, a one-character Chinese word wherever its
// character stands.
func TestTranscriptQueryMatchesAsSearchDoes(t *testing.T) {
	for _, tc := range []struct {
		q, text string
		want    bool
	}{
		{"art", "let us start the pilot", false},
		{"price", "that is priceless", false},
		{"price", "the Price? too high", true},
		{"price", "our prices went up", true},
		{"discounts", "we discussed a discount", true},
		{"“free trial”", "trial for free", false},
		{"ＰＲＩＣＥ", "the price is fine", true},
		{"120万", "报价是１２０万，含ＶＡＴ", true},
		{"vat", "报价是１２０万，含ＶＡＴ", true},
		{`"free trial"`, "a free-trial month", true},
		{`"free trial"`, "trial for free", false},
		{"free trial", "trial for free", true},
		{`Budget “next  Quarters” 预算 ?! "unclosed phrase`, "预算 for the next quarter: budget the unclosed phrases", true},
		{"预算", "我们今年的预算有限", true},
		{"预算", "预计下周签约", false},
		{"预算 pilot", "预算 for the pilot", true},
		{"预算 pilot", "预算 only", false},
		{"贵", "太贵了，我们买不起", true},
		{"价", "价格表在这里", true},
		{"贵", "价格表在这里", false},
		{"好用", "这套系统非常好用", true},
		{"好用", "产品很好，用户都满意", false},
		{"3", "covid-19 and e-mail at 3.5% rate", false},
		{"3.5", "covid-19 and e-mail at 3.5% rate", true},
	} {
		m, err := queryTerms(tc.q)
		if err != nil {
			t.Fatalf("q %q: %v", tc.q, err)
		}
		if got := m.Matches(tc.text); got != tc.want {
			t.Errorf("q %q on %q: %v, want %v", tc.q, tc.text, got, tc.want)
		}
	}
}

// The transcript's q marks a sentence exactly where the search engine
// finds it (the embedded engine, whose analysis the marks use).
func TestTranscriptQueryMarksWhatSearchFinds(t *testing.T) {
	cases := []struct{ sentence, q string }{
		{"太贵了，我们买不起", "贵"},
		{"价格表在这里", "价"},
		{"产品很好，用户都满意", "好用"},
		{"这套系统非常好用", "好用"},
		{"covid-19 and e-mail at 3.5% rate", "3"},
		{"covid-19 and e-mail at 3.5% rate", "e-mail 3.5"},
		{"Our budgets are approved every January", "budget approve"},
		{"我想买iPhone", "买iPhones"},
	}
	e, err := embedded.Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	for i, c := range cases {
		id := int64(i + 1)
		doc := &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 1, Version: 1,
			Sentences: []search.Sentence{{Seq: 0, SpeakerKey: "a", Affiliation: "external", EndMS: 3000, Text: c.sentence}}}
		if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: id, Doc: doc}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cases {
		m, err := queryTerms(c.q)
		if err != nil {
			t.Fatal(err)
		}
		terms, _ := search.Parse(c.q)
		res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Conversations: []int64{int64(i + 1)}, Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		if marked, found := m.Matches(c.sentence), res.Total == 1; marked != found {
			t.Errorf("q %q in %q: the transcript marks it %v, search finds it %v", c.q, c.sentence, marked, found)
		}
	}
}

// A conversation, participant or deal attributed to a user a privacy
// erasure anonymised is USER_ERASED naming the request's field, and
// nothing is stored.
func TestIngestRefusesAnErasedUser(t *testing.T) {
	repo := newFakeRepo()
	repo.users[8] = model.User{ID: 8, TenantID: 1, Status: model.UserDisabled} // as AnonymiseUser leaves them
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	for field, mut := range map[string]func(*CreateRequest){
		"owner_user_id": func(r *CreateRequest) { r.Owner = Ref{ID: 8} },
		"participants[1].user_id": func(r *CreateRequest) {
			r.Participants[1] = ParticipantInput{SpeakerKey: "1", User: Ref{ID: 8}, Name: "王总"}
		},
	} {
		req := validCreate()
		mut(&req)
		_, err := in.CreateConversation(ctx, req)
		e := errs.From(err)
		if e == nil || e.Reason != errs.ReasonUserErased || e.Metadata["field"] != field || e.Metadata["user_id"] != "8" || !strings.Contains(e.Message, "user 8") {
			t.Errorf("%s erased: %v %+v, want USER_ERASED naming the field and user 8", field, err, e)
		}
	}
	if repo.creates != 0 || len(repo.convs) != 0 {
		t.Fatalf("%d creates, %d conversations after refusals", repo.creates, len(repo.convs))
	}
	_, _, err := in.UpsertDeal(ctx, UpsertDealRequest{OriginDealID: "d-1", Name: "deal", Owner: Ref{ID: 8}})
	if e := errs.From(err); e == nil || e.Reason != errs.ReasonUserErased || e.Metadata["field"] != "owner_user_id" {
		t.Errorf("deal owned by an erased user: %v, want USER_ERASED on owner_user_id", err)
	}
	if _, err := in.CreateConversation(ctx, validCreate()); err != nil {
		t.Fatalf("a user who is not erased: %v", err)
	}
}

// A transcript's q refused by the search syntax says why, as search does,
// about the field q.
func TestQueryTermsSayWhyAboutQ(t *testing.T) {
	for q, want := range map[string]string{
		"a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg": "q: must have at most 32 words and phrases (got 33)",
		strings.Repeat("预", 300):  "q: must be at most",
		"?! ...":                  "q: has no word to search for",
		string([]byte{0xff, 'a'}): "q: must be valid UTF-8",
	} {
		_, err := queryTerms(q)
		var e *errs.Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), want) || e.Field() != "q" {
			t.Errorf("q %.20q: %v, want %q", q, err, want)
		}
	}
}

// A create an earlier release took, with a speaker key, a participant name
// or an origin id that access.CheckName refuses, is answered again when
// retried as it was sent; a new conversation with such names is refused
// naming the field. A title is free text and keeps access.CheckLine.
func TestCreateConversationRetryOfStoredNames(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	old := validCreate()
	old.OriginConversationID = "crm\u202ecall"
	old.Title = "\u202bعرض\u202c price"
	old.Participants[0].SpeakerKey = "\u200b"
	old.Participants[1].Name = "\u202bمحمد\u202c"
	// As an earlier release stored it.
	stored := old
	if err := validateCreate(&stored); err != nil {
		t.Fatal(err)
	}
	conv, parts, _, err := in.resolve(ctx, 1, stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, &conv, parts); err != nil {
		t.Fatal(err)
	}
	again, err := in.CreateConversation(ctx, old)
	if err != nil || again.Created || again.ConversationID != conv.ID || repo.creates != 1 {
		t.Fatalf("retry: %+v %v (creates %d)", again, err, repo.creates)
	}

	for field, mut := range map[string]func(*CreateRequest){
		"origin_conversation_id":      func(r *CreateRequest) { r.OriginConversationID = "new\u202e" },
		"participants[0].speaker_key": func(r *CreateRequest) { r.Participants[0].SpeakerKey = "\u200b" },
		"participants[1].name":        func(r *CreateRequest) { r.Participants[1].Name = "\u202bمحمد\u202c" },
	} {
		req := validCreate()
		mut(&req)
		_, err := in.CreateConversation(ctx, req)
		if e := errs.From(err); e == nil || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != field {
			t.Errorf("new conversation with %s refused by CheckName: %v", field, err)
		}
	}
	titled := validCreate()
	titled.Title = "\u202bعرض\u202c price"
	if res, err := in.CreateConversation(ctx, titled); err != nil || !res.Created {
		t.Fatalf("a title with an embedding is free text: %+v %v", res, err)
	}
}

// storedDeals is a DealRepo keeping deals by origin id.
type storedDeals struct {
	fakeDeals
	deals map[string]model.Deal
}

func (d storedDeals) Upsert(_ context.Context, deal *model.Deal) (bool, error) {
	_, found := d.deals[deal.OriginDealID]
	d.deals[deal.OriginDealID] = *deal
	return !found, nil
}

func (d storedDeals) Get(_ context.Context, _, _ int64, origin, field string) (model.Deal, error) {
	if deal, ok := d.deals[origin]; ok {
		return deal, nil
	}
	return model.Deal{}, errs.NotFound("DEAL_NOT_FOUND", "%s: no such deal", field).With("field", field)
}

// A deal an earlier release stored with names access.CheckName refuses is
// taken again when re-sent unchanged, and with another amount; a new or
// changed name is refused naming the field.
func TestUpsertDealResendsStoredNames(t *testing.T) {
	repo := newFakeRepo()
	deals := storedDeals{fakeDeals{repo}, map[string]model.Deal{}}
	in := NewIngest(repo, deals, repo)
	ctx := accesstest.App(1, "ingest")
	req := UpsertDealRequest{OriginDealID: "deal\u202e1", Name: "\u202bصفقة\u202c", AccountName: "\u200b", Stage: "\u202ewon"}
	deals.deals[req.OriginDealID] = model.Deal{TenantID: 1, OriginDealID: req.OriginDealID, Name: req.Name, AccountName: req.AccountName, Stage: req.Stage}
	if _, created, err := in.UpsertDeal(ctx, req); err != nil || created {
		t.Fatalf("re-sent: created %v, %v", created, err)
	}
	req.AmountCents = 500
	if d, _, err := in.UpsertDeal(ctx, req); err != nil || d.AmountCents != 500 {
		t.Fatalf("new amount: %+v, %v", d, err)
	}
	for field, mut := range map[string]func(*UpsertDealRequest){
		"origin_deal_id": func(r *UpsertDealRequest) { r.OriginDealID = "deal\u202e2" },
		"name":           func(r *UpsertDealRequest) { r.Name = "x\u202e" },
		"account_name":   func(r *UpsertDealRequest) { r.AccountName = "\u200b\u200b" },
		"stage":          func(r *UpsertDealRequest) { r.Stage = "\u202elost" },
	} {
		r := req
		mut(&r)
		_, _, err := in.UpsertDeal(ctx, r)
		if e := errs.From(err); e == nil || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != field {
			t.Errorf("%s refused by CheckName: %v", field, err)
		}
	}
}
