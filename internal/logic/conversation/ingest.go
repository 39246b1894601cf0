package conversation

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// Limits of CreateConversation (mgv.open.v1 conversation.proto).
const (
	maxOriginIDChars      = 128
	maxTitleChars         = 255
	maxLanguageChars      = 16
	maxNameChars          = 255
	maxSpeakerKeyChars    = 64
	maxParticipants       = 100
	maxCustomDataBytes    = 16 << 10
	maxConversationMS     = 86_400_000
	earliestBeginTimeYear = 1970
	latestBeginTimeYear   = 2100
)

// Transactor runs fn in one transaction: every repository call made with
// the context fn receives joins it, and a call made inside a transaction
// joins the open one.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// InTransaction reports whether ctx carries an open transaction.
	InTransaction(ctx context.Context) bool
	// AfterCommit runs fn once the transaction ctx carries commits (at
	// once outside one).
	AfterCommit(ctx context.Context, fn func())
}

// IngestRepo is the storage ingest writes through.
type IngestRepo interface {
	Get(ctx context.Context, s model.Scope, id int64) (model.Conversation, error)
	ByOrigin(ctx context.Context, tenantID int64, originID string) (model.Conversation, error)
	// Create inserts a conversation and its participants; a taken origin id
	// is ALREADY_EXISTS, a speaker key given twice INVALID_ARGUMENT. Keys
	// are compared byte for byte: "rep" and "REP" are two speakers.
	Create(ctx context.Context, c *model.Conversation, participants []model.Participant) error
	// User finds a user of the tenant by id, or by origin id when id is 0;
	// NOT_FOUND names field.
	User(ctx context.Context, tenantID, id int64, originID, field string) (model.User, error)
	// ErasedUsers holds the tenant's users ids until the transaction of
	// ctx ends and returns those a privacy erasure anonymised: an erasure
	// that anonymises one of them commits before the read, and is seen,
	// or after the transaction.
	ErasedUsers(ctx context.Context, tenantID int64, ids []int64) ([]int64, error)

	// LockForTranscripts serializes the transcript writers of each target's
	// conversation (inside a transaction) and records on its row the
	// transcript being written: transcript_version bumped, sentence_count,
	// status ready. It returns the rows as updated, each with its speakers
	// and the stamp of its tenant's trackers, by id; a target not there is
	// left out.
	LockForTranscripts(ctx context.Context, targets []TranscriptTarget) (map[int64]TranscriptLock, error)
	// AddParticipants inserts new speakers, whose keys differ byte for
	// byte from each other and from the conversation's speakers.
	AddParticipants(ctx context.Context, ps []model.Participant) error
	// ReplaceTranscripts deletes the old transcripts of the locked
	// conversations and their tracker hits, and inserts the new ones.
	ReplaceTranscripts(ctx context.Context, ts []TranscriptRows) error
	SaveMetrics(ctx context.Context, ms ...model.ConversationMetrics) error
	// QueueTranscriptIndexing queues the indexing of the conversations' new
	// transcripts (outbox).
	QueueTranscriptIndexing(ctx context.Context, cs ...model.Conversation) error
}

// Ingest is the open platform's write path: deals, conversations and
// transcripts. Partners call it over gRPC; the demo seed goes through it too.
type Ingest struct {
	convs IngestRepo
	deals DealRepo
	tx    Transactor
	hooks []TranscriptHook
	now   func() time.Time
	// committed runs after each committed write that queued indexing,
	// with the transcript written (nil for a conversation write).
	committed func(*TranscriptWrite)
	// commits are the transcript commits waiting to be written.
	commits commitQueue
	// groupSize observes the transcripts each committed transaction wrote.
	groupSize prometheus.Histogram
	// budget bounds the transcript bytes all uploads buffer at once.
	budget *bound.Budget
	// events receives the partner events of every write; nil writes none.
	events EventLog
}

// NewIngest writes through convs and deals; hooks run inside every
// transcript write's transaction, in order.
func NewIngest(convs IngestRepo, deals DealRepo, tx Transactor, hooks ...TranscriptHook) *Ingest {
	return &Ingest{convs: convs, deals: deals, tx: tx, hooks: hooks, now: time.Now, committed: func(*TranscriptWrite) {},
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mgv_transcript_commit_group_size",
			Help:    "Transcripts written by one committed transaction (commits that arrive together are written together).",
			Buckets: []float64{1, 2, 4, 8, 16},
		})}
}

// RegisterMetrics registers the ingest metrics on reg.
func (in *Ingest) RegisterMetrics(reg prometheus.Registerer) error {
	if err := reg.Register(in.groupSize); err != nil {
		return fmt.Errorf("ingest metrics: %w", err)
	}
	return nil
}

// OnCommitted sets fn to run after every committed conversation or
// transcript write, each of which queues search indexing (the indexer's
// Committed). A transcript write passes what it stored, which must not be
// changed; a conversation write passes nil. fn must not block.
func (in *Ingest) OnCommitted(fn func(w *TranscriptWrite)) { in.committed = fn }

// Ref names a user or a deal by Megaview id or by the partner's origin id;
// the zero Ref names nothing.
type Ref struct {
	ID       int64
	OriginID string
}

// IsZero reports whether r names nothing.
func (r Ref) IsZero() bool { return r.ID == 0 && r.OriginID == "" }

// ParticipantInput is a speaker given at creation.
type ParticipantInput struct {
	SpeakerKey string
	// User is the speaking user; zero for customers and guests.
	User Ref
	// Name of a speaker who is not a user.
	Name string
	// Affiliation is internal, external or unknown; empty means internal
	// for a user and unknown otherwise.
	Affiliation string
}

// CreateRequest creates a conversation. Field names in errors
// are those of mgv.open.v1.CreateConversationRequest.
type CreateRequest struct {
	OriginConversationID string
	Owner                Ref
	Deal                 Ref
	Title                string
	// Channel is call or meeting.
	Channel string
	// Direction is inbound, outbound or unknown; empty means unknown.
	Direction  string
	BeginTime  time.Time
	DurationMS int64
	Language   string
	// CustomData is the partner's JSON object; nil when not given.
	CustomData   map[string]any
	Participants []ParticipantInput
}

// CreateResult says which conversation the request names.
type CreateResult struct {
	ConversationID int64
	// Created is false when the conversation existed already.
	Created bool
}

// CreateConversation creates a conversation, idempotently on its origin id:
// the same request again answers the same id with Created false, whatever
// the timing (the unique key on the origin id decides between concurrent
// requests), while a different request with that origin id is
// ALREADY_EXISTS (CONVERSATION_CONFLICT).
func (in *Ingest) CreateConversation(ctx context.Context, req CreateRequest) (CreateResult, error) {
	s, err := access.Require(ctx, access.Ingest)
	if err != nil {
		return CreateResult{}, err
	}
	if err := validateCreate(&req); err != nil {
		return CreateResult{}, err
	}
	conv, parts, users, err := in.resolve(ctx, s.TenantID, req)
	if err != nil {
		return CreateResult{}, err
	}
	if existing, found, err := in.existing(ctx, conv); found || err != nil {
		return existing, err
	}
	if err := checkNewNames(req); err != nil {
		return CreateResult{}, err
	}
	err = in.createConversation(ctx, &conv, parts, users)
	if errs.IsAlreadyExists(err) {
		// A concurrent request with this origin id won the unique key.
		existing, found, err := in.existing(ctx, conv)
		if !found && err == nil {
			err = errs.Internal(fmt.Errorf("origin id %q taken, but no conversation has it", conv.OriginConversationID))
		}
		return existing, err
	}
	if err != nil {
		return CreateResult{}, err
	}
	in.committed(nil)
	return CreateResult{ConversationID: conv.ID, Created: true}, nil
}

// existing looks for a stored conversation with conv's origin id: found with
// the same request hash, it is the answer; with another, a conflict.
func (in *Ingest) existing(ctx context.Context, conv model.Conversation) (CreateResult, bool, error) {
	old, err := in.convs.ByOrigin(ctx, conv.TenantID, conv.OriginConversationID)
	switch {
	case err != nil && errs.IsNotFound(err):
		return CreateResult{}, false, nil
	case err != nil:
		return CreateResult{}, false, err
	case old.RequestHash != conv.RequestHash:
		return CreateResult{}, true, errs.Of(errs.ReasonConversationConflict,
			"origin_conversation_id: conversation %d has this origin id and was created from a different request", old.ID).
			With("field", "origin_conversation_id").With("conversation_id", fmt.Sprint(old.ID))
	}
	return CreateResult{ConversationID: old.ID}, true, nil
}

// validateCreate checks every field that needs no lookup and fills defaults.
func validateCreate(req *CreateRequest) error {
	if err := checkText("origin_conversation_id", req.OriginConversationID, 1, maxOriginIDChars); err != nil {
		return err
	}
	if err := checkRef(req.Owner, "owner_user_id", "origin_owner_user_id", true); err != nil {
		return err
	}
	if err := checkRef(req.Deal, "deal_id", "origin_deal_id", false); err != nil {
		return err
	}
	if err := checkText("title", req.Title, 0, maxTitleChars); err != nil {
		return err
	}
	switch req.Channel {
	case model.ChannelCall, model.ChannelMeeting:
	case "":
		return errs.InvalidArgument("channel", "required: call or meeting")
	default:
		return errs.InvalidArgument("channel", "must be call or meeting (got %q)", req.Channel)
	}
	switch req.Direction {
	case "":
		req.Direction = model.DirectionUnknown
	case model.DirectionInbound, model.DirectionOutbound, model.DirectionUnknown:
	default:
		return errs.InvalidArgument("direction", "must be inbound, outbound or unknown (got %q)", req.Direction)
	}
	if req.BeginTime.IsZero() {
		return errs.InvalidArgument("begin_time", "required")
	}
	req.BeginTime = req.BeginTime.UTC().Truncate(time.Millisecond)
	if y := req.BeginTime.Year(); y < earliestBeginTimeYear || y >= latestBeginTimeYear {
		return errs.InvalidArgument("begin_time", "must be between %d and %d", earliestBeginTimeYear, latestBeginTimeYear)
	}
	if req.DurationMS < 1 || req.DurationMS > maxConversationMS {
		return errs.InvalidArgument("duration_ms", "must be 1..%d (24 hours; got %d)", maxConversationMS, req.DurationMS)
	}
	if err := checkText("language", req.Language, 0, maxLanguageChars); err != nil {
		return err
	}
	if len(req.Participants) > maxParticipants {
		return errs.InvalidArgument("participants", "at most %d (got %d)", maxParticipants, len(req.Participants))
	}
	req.Participants = slices.Clone(req.Participants) // defaults are filled in below
	seen := make(map[string]bool, len(req.Participants))
	for i := range req.Participants {
		p := &req.Participants[i]
		field := func(name string) string { return fmt.Sprintf("participants[%d].%s", i, name) }
		if err := checkText(field("speaker_key"), p.SpeakerKey, 1, maxSpeakerKeyChars); err != nil {
			return err
		}
		if seen[p.SpeakerKey] {
			return errs.InvalidArgument(field("speaker_key"), "%q is given twice", p.SpeakerKey)
		}
		seen[p.SpeakerKey] = true
		if err := checkRef(p.User, field("user_id"), field("origin_user_id"), false); err != nil {
			return err
		}
		if err := checkText(field("name"), p.Name, 0, maxNameChars); err != nil {
			return err
		}
		switch p.Affiliation {
		case "":
			p.Affiliation = model.AffiliationUnknown
			if !p.User.IsZero() {
				p.Affiliation = model.AffiliationInternal
			}
		case model.AffiliationInternal, model.AffiliationExternal, model.AffiliationUnknown:
		default:
			return errs.InvalidArgument(field("affiliation"), "must be internal, external or unknown (got %q)", p.Affiliation)
		}
		if !p.User.IsZero() {
			p.Name = "" // the user's own name is shown
		}
	}
	return nil
}

// attribution is a user a write attributes something to, and the request
// field that names them.
type attribution struct {
	userID int64
	field  string
}

// refuseErased refuses, as USER_ERASED naming the first one's field, a
// write that attributes something to a user a privacy erasure anonymised.
// Inside the write's transaction it holds the users until it ends, so an
// erasure that anonymises one of them meanwhile is seen, or comes after
// the write and anonymises what it wrote.
func (in *Ingest) refuseErased(ctx context.Context, tenantID int64, users []attribution) error {
	ids := make([]int64, 0, len(users))
	for _, a := range users {
		if !slices.Contains(ids, a.userID) {
			ids = append(ids, a.userID)
		}
	}
	erased, err := in.convs.ErasedUsers(ctx, tenantID, ids)
	if err != nil {
		return err
	}
	for _, a := range users {
		if slices.Contains(erased, a.userID) {
			return errs.UserErased(a.field, a.userID)
		}
	}
	return nil
}

// resolve looks up the owner, deal and participant users, and builds the
// rows to insert with the request's fingerprint; users are the users the
// conversation is attributed to, with the fields naming them.
func (in *Ingest) resolve(ctx context.Context, tenantID int64, req CreateRequest) (model.Conversation, []model.Participant, []attribution, error) {
	users := map[Ref]int64{}
	var named []attribution
	user := func(r Ref, idField, originField string) (int64, error) {
		field := idField
		if r.ID == 0 {
			field = originField
		}
		id, ok := users[r]
		if !ok {
			u, err := in.convs.User(ctx, tenantID, r.ID, r.OriginID, field)
			if err != nil {
				return 0, err
			}
			id, users[r] = u.ID, u.ID
		}
		named = append(named, attribution{userID: id, field: field})
		return id, nil
	}
	owner, err := user(req.Owner, "owner_user_id", "origin_owner_user_id")
	if err != nil {
		return model.Conversation{}, nil, nil, err
	}
	var dealID *int64
	if !req.Deal.IsZero() {
		field := "deal_id"
		if req.Deal.ID == 0 {
			field = "origin_deal_id"
		}
		d, err := in.deals.Get(ctx, tenantID, req.Deal.ID, req.Deal.OriginID, field)
		if err != nil {
			return model.Conversation{}, nil, nil, err
		}
		dealID = &d.ID
	}
	custom := "{}"
	if req.CustomData != nil {
		data, err := json.Marshal(req.CustomData)
		if err != nil {
			return model.Conversation{}, nil, nil, errs.InvalidArgument("custom_data", "is not a JSON object: %v", err)
		}
		if len(data) > maxCustomDataBytes {
			return model.Conversation{}, nil, nil, errs.InvalidArgument("custom_data", "at most %d bytes as JSON (got %d)", maxCustomDataBytes, len(data))
		}
		custom = string(data)
	}
	parts := make([]model.Participant, len(req.Participants))
	for i, p := range req.Participants {
		parts[i] = model.Participant{TenantID: tenantID, SpeakerKey: p.SpeakerKey, Name: p.Name, Affiliation: p.Affiliation}
		if !p.User.IsZero() {
			id, err := user(p.User, fmt.Sprintf("participants[%d].user_id", i), fmt.Sprintf("participants[%d].origin_user_id", i))
			if err != nil {
				return model.Conversation{}, nil, nil, err
			}
			parts[i].UserID = &id
		}
	}
	conv := model.Conversation{
		TenantID: tenantID, OriginConversationID: req.OriginConversationID, OwnerUserID: owner, DealID: dealID,
		Title: req.Title, Channel: req.Channel, Direction: req.Direction, BeginTime: req.BeginTime,
		DurationMS: req.DurationMS, Language: req.Language, Status: model.StatusPending, CustomData: custom,
	}
	conv.RequestHash = requestHash(conv, parts)
	return conv, parts, named, nil
}

// requestHash fingerprints what a create request says about a conversation,
// after defaults and lookups: a retry gives the same hash even when it
// names the owner by the other kind of id.
func requestHash(c model.Conversation, parts []model.Participant) string {
	type participant struct {
		Key         string `json:"k"`
		UserID      *int64 `json:"u"`
		Name        string `json:"n"`
		Affiliation string `json:"a"`
	}
	ps := make([]participant, len(parts))
	for i, p := range parts {
		ps[i] = participant{p.SpeakerKey, p.UserID, p.Name, p.Affiliation}
	}
	slices.SortFunc(ps, func(a, b participant) int { return cmp.Compare(a.Key, b.Key) })
	data, _ := json.Marshal(struct {
		Origin       string          `json:"o"`
		Owner        int64           `json:"ow"`
		Deal         *int64          `json:"d"`
		Title        string          `json:"t"`
		Channel      string          `json:"c"`
		Direction    string          `json:"dir"`
		BeginMS      int64           `json:"b"`
		DurationMS   int64           `json:"du"`
		Language     string          `json:"l"`
		CustomData   json.RawMessage `json:"cd"`
		Participants []participant   `json:"p"`
	}{c.OriginConversationID, c.OwnerUserID, c.DealID, c.Title, c.Channel, c.Direction, c.BeginTime.UnixMilli(),
		c.DurationMS, c.Language, json.RawMessage(c.CustomData), ps})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// checkText validates a one-line string field: its length in characters,
// and no control characters or line breaks (access.CheckLine). A name, key
// or id is also held to access.CheckName where it is new (checkNewNames,
// checkNewName), so that a retry of what an earlier release stored is
// still answered.
func checkText(field, v string, minChars, maxChars int) error {
	if !utf8.ValidString(v) {
		return errs.InvalidArgument(field, "must be UTF-8")
	}
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0 && minChars > 0:
		return errs.InvalidArgument(field, "required")
	case n < minChars:
		return errs.InvalidArgument(field, "at least %d characters (got %d)", minChars, n)
	case n > maxChars:
		return errs.InvalidArgument(field, "at most %d characters (got %d)", maxChars, n)
	}
	return access.CheckLine(field, v)
}

// checkNewName holds a name, key or id that is new, or differs from the
// value stored, to access.CheckName; checkText has held it to
// access.CheckLine. stored is "" when nothing is stored.
func checkNewName(field, v, stored string) error {
	if v == stored {
		return nil
	}
	return access.CheckName(field, v)
}

// checkNewNames holds the names, keys and ids of a conversation about to be
// created to access.CheckName. It runs after the lookup of the origin id:
// a retry of a request an earlier release took is answered as before. The
// title is free text a person writes and stays with access.CheckLine.
func checkNewNames(req CreateRequest) error {
	if err := checkNewName("origin_conversation_id", req.OriginConversationID, ""); err != nil {
		return err
	}
	if err := checkNewName("language", req.Language, ""); err != nil {
		return err
	}
	for i, p := range req.Participants {
		field := func(name string) string { return fmt.Sprintf("participants[%d].%s", i, name) }
		if err := checkNewName(field("speaker_key"), p.SpeakerKey, ""); err != nil {
			return err
		}
		if err := checkNewName(field("name"), p.Name, ""); err != nil {
			return err
		}
	}
	return nil
}

// checkRef validates a reference by id or origin id.
func checkRef(r Ref, idField, originField string, required bool) error {
	switch {
	case r.IsZero() && required:
		return errs.InvalidArgument(idField, "required: set %s or %s", idField, originField)
	case r.ID < 0:
		return errs.InvalidArgument(idField, "must be a positive id (got %d)", r.ID)
	case r.ID == 0 && r.OriginID != "":
		return checkText(originField, r.OriginID, 1, maxOriginIDChars)
	}
	return nil
}
