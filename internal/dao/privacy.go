package dao

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/clip"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Privacy stores personal-data lookups and erasure jobs.
type Privacy struct{ db *gorm.DB }

// NewPrivacy works on db.
func NewPrivacy(db *gorm.DB) *Privacy { return &Privacy{db: db} }

var errErasureNotFound = errs.NotFound(errs.ReasonErasureNotFound, "no such erasure")

// errLeaseLost ends a job's transaction when its lease passed on.
var errLeaseLost = errors.New("erasure: the lease passed to another instance")

// FindPerson finds the user whose identifier is one of values (FindUser),
// the conversations where that user speaks, and those where a speaker who
// is not a user is named one of names (ExternalNames).
func (p *Privacy) FindPerson(ctx context.Context, tenantID int64, kind string, values, names []string) (model.PersonMatch, error) {
	db := conn(ctx, p.db)
	m := model.PersonMatch{Conversations: map[int64][]string{}}
	var err error
	if m.User, err = p.FindUser(ctx, tenantID, kind, values); err != nil {
		return m, err
	}
	var parts []model.Participant
	find := func(where string, args ...any) error {
		var found []model.Participant
		err := db.Select("conversation_id, speaker_key, user_id").Where(where, args...).Find(&found).Error
		parts = append(parts, found...)
		return err
	}
	if m.User != nil {
		if err := find("tenant_id = ? AND user_id = ?", tenantID, m.User.ID); err != nil {
			return m, dbError(err, nil)
		}
	}
	if len(names) > 0 {
		q, args := p.externalMatch(tenantID, names, int64(math.MaxInt64))
		if err := find(q, args...); err != nil {
			return m, dbError(err, nil)
		}
	}
	slices.SortStableFunc(parts, func(a, b model.Participant) int { return cmp.Compare(a.ConversationID, b.ConversationID) })
	for _, pt := range parts {
		m.Conversations[pt.ConversationID] = append(m.Conversations[pt.ConversationID], pt.SpeakerKey)
		if pt.UserID == nil && !slices.Contains(m.External, pt.ConversationID) {
			m.External = append(m.External, pt.ConversationID)
		}
	}
	return m, nil
}

// FindUser finds the tenant's user whose email, phone, origin user id or
// name (by kind) is one of values, byte for byte, the user of the earliest
// value winning (a phone's E.164 form before a form stored before E.164
// normalisation), and of the lowest id among users of one name; nil when
// there is none. MySQL's collation would take another case or accents for
// equal: an erasure of jose@example.com would anonymise josé@example.com
// (see exactly).
func (p *Privacy) FindUser(ctx context.Context, tenantID int64, kind string, values []string) (*model.User, error) {
	column := map[string]string{model.SubjectEmail: "email", model.SubjectPhone: "phone", model.SubjectOriginUserID: "origin_user_id", model.SubjectName: "name"}[kind]
	if column == "" || len(values) == 0 {
		return nil, nil
	}
	var users []model.User
	match, args := exactly(p.db, column, "IN", values)
	if err := conn(ctx, p.db).Where("tenant_id = ? AND "+match, append([]any{tenantID}, args...)...).
		Order("id").Limit(len(values)).Find(&users).Error; err != nil {
		return nil, dbError(err, nil)
	}
	key := func(u model.User) *string {
		return map[string]*string{"email": u.Email, "phone": u.Phone, "origin_user_id": u.OriginUserID, "name": &u.Name}[column]
	}
	for _, v := range values {
		for i := range users {
			if k := key(users[i]); k != nil && *k == v {
				return &users[i], nil
			}
		}
	}
	return nil, nil
}

// CountComments counts the live comments a user wrote.
// Deleted comments keep no text (DeleteComment), so these are all the
// words of the user's that comments hold.
func (p *Privacy) CountComments(ctx context.Context, tenantID, userID int64) (int64, error) {
	var n int64
	err := conn(ctx, p.db).Model(&model.Comment{}).Where("tenant_id = ? AND author_user_id = ? AND deleted_at IS NULL", tenantID, userID).Count(&n).Error
	return n, dbError(err, nil)
}

// countBatch is the conversations whose transcripts CountSentences reads
// at a time.
const countBatch = 100

// CountSentences counts the sentences spoken under the speaker keys of
// each conversation, reading the transcripts a batch at a time.
func (p *Privacy) CountSentences(ctx context.Context, tenantID int64, speakers map[int64][]string) (int64, error) {
	ids := make([]int64, 0, len(speakers))
	for id := range speakers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var n int64
	for start := 0; start < len(ids); start += countBatch {
		err := readParts(conn(ctx, p.db), tenantID, ids[start:min(start+countBatch, len(ids))], func(cid, _ int64, run []storedSentence) error {
			for _, s := range run {
				if slices.Contains(speakers[cid], s.SpeakerKey) {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return 0, dbError(err, nil)
		}
	}
	return n, nil
}

// CreateErasure inserts a job, due at once.
func (p *Privacy) CreateErasure(ctx context.Context, e *model.Erasure) error {
	e.ID, e.CreatedAt = 0, dbNow()
	e.UpdatedAt, e.LeaseUntil = e.CreatedAt, e.CreatedAt
	return dbError(conn(ctx, p.db).Create(e).Error, nil)
}

// GetErasure returns a job of the tenant.
func (p *Privacy) GetErasure(ctx context.Context, tenantID, id int64) (model.Erasure, error) {
	var e model.Erasure
	err := conn(ctx, p.db).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&e).Error
	return e, dbError(err, errErasureNotFound)
}

// ConfirmErasure moves a job awaiting confirmation for total
// conversations to pending: not one whose total changed meanwhile.
func (p *Privacy) ConfirmErasure(ctx context.Context, tenantID, id, total int64) (bool, error) {
	now := dbNow()
	res := conn(ctx, p.db).Exec("UPDATE privacy_erasures SET status = ?, lease_until = ?, updated_at = ? "+
		"WHERE tenant_id = ? AND id = ? AND status = ? AND conversations_total = ?",
		model.ErasurePending, now, now, tenantID, id, model.ErasureAwaitingConfirmation, total)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// RecountErasure sets the total of a job awaiting confirmation.
func (p *Privacy) RecountErasure(ctx context.Context, tenantID, id, total int64) (bool, error) {
	res := conn(ctx, p.db).Exec("UPDATE privacy_erasures SET conversations_total = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND status = ?",
		total, dbNow(), tenantID, id, model.ErasureAwaitingConfirmation)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// ErasureGrew sets the total of owner's job: with confirm, the job goes
// back to awaiting confirmation and its claim is released; otherwise it
// stays owner's and the lease is renewed. False, and nothing written, when
// owner's lease ran out: another instance may be claiming the job.
func (p *Privacy) ErasureGrew(ctx context.Context, id int64, owner string, total int64, confirm bool, lease time.Duration) (bool, error) {
	now := dbNow()
	status, leaseOwner, until := model.ErasurePending, owner, now.Add(lease)
	if confirm {
		status, leaseOwner, until = model.ErasureAwaitingConfirmation, "", now
	}
	res := conn(ctx, p.db).Exec("UPDATE privacy_erasures SET conversations_total = ?, status = ?, lease_owner = ?, lease_until = ?, updated_at = ? "+
		"WHERE id = ? AND lease_owner = ? AND status = ? AND lease_until > ?", total, status, leaseOwner, until, now, id, owner, model.ErasurePending, now)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// tenantTop is the tenant's highest conversation id (0 for none), the
// bound of an erasure requested now: ids only grow.
const tenantTop = "SELECT COALESCE(MAX(id), 0) AS up_to FROM conversations WHERE tenant_id = ?"

// BoundErasure gives a job from before migration 0016, which has no
// bound, the tenant's highest conversation id now, and returns the job's
// bound. A job that has one keeps it, so callers racing agree.
func (p *Privacy) BoundErasure(ctx context.Context, tenantID, id int64) (int64, error) {
	db := conn(ctx, p.db)
	err := db.Exec("UPDATE privacy_erasures SET conversations_up_to = ("+tenantTop+") "+
		"WHERE tenant_id = ? AND id = ? AND conversations_up_to IS NULL", tenantID, tenantID, id).Error
	if err != nil {
		return 0, dbError(err, nil)
	}
	var upTo []int64
	if err := db.Raw("SELECT conversations_up_to FROM privacy_erasures WHERE tenant_id = ? AND id = ?", tenantID, id).Scan(&upTo).Error; err != nil {
		return 0, dbError(err, nil)
	}
	if len(upTo) != 1 {
		return 0, errErasureNotFound
	}
	return upTo[0], nil
}

// ClaimErasure leases a pending job whose lease ran out to owner, tenants
// taking turns: a tenant that holds perTenant leased jobs already (on any
// instance) gets none, and of the others the one with the fewest leased
// goes first, then the one whose due job has waited longest (since its
// last write: its request or confirmation, the hand-back at the end of
// its turn, the last progress of a holder that died), so a tenant that
// keeps asking for more erasures is not sent to the back by them.
// Of the tenant's due jobs, the oldest request goes first, so a job handed
// back at the end of its turn goes on before its tenant's later ones.
//
// The pick is read without locks; the lease is then taken in a
// transaction that holds the tenant's row lock (lockTenant) and counts
// the tenant's leased jobs again, so that claims of one tenant's jobs,
// on every instance, count and lease one after the other and never pass
// perTenant together. On MySQL it runs in READ COMMITTED: the count reads
// what the claim before it committed, without locking the leased rows
// (their holders' batches keep them locked for as long as a batch runs).
// The lease itself is a compare-and-set on lease_until, as before: of two
// claims of one job only one gets it.
func (p *Privacy) ClaimErasure(ctx context.Context, owner string, lease time.Duration, perTenant int) (*model.Erasure, error) {
	now := dbNow()
	var pending []model.Erasure
	err := conn(ctx, p.db).Select("id, tenant_id, lease_until, updated_at").Where("status = ?", model.ErasurePending).Find(&pending).Error
	if err != nil {
		return nil, dbError(err, nil)
	}
	type turn struct {
		tenantID, leased int64
		waiting          time.Time // the earliest last write of its due jobs
	}
	turns := map[int64]*turn{}
	var due []*turn
	for _, e := range pending {
		t := turns[e.TenantID]
		if t == nil {
			t = &turn{tenantID: e.TenantID}
			turns[e.TenantID] = t
		}
		if e.LeaseUntil.After(now) {
			t.leased++
			continue
		}
		if t.waiting.IsZero() {
			due = append(due, t)
			t.waiting = e.UpdatedAt
		}
		if e.UpdatedAt.Before(t.waiting) {
			t.waiting = e.UpdatedAt
		}
	}
	slices.SortFunc(due, func(a, b *turn) int {
		return cmp.Or(cmp.Compare(a.leased, b.leased), a.waiting.Compare(b.waiting), cmp.Compare(a.tenantID, b.tenantID))
	})
	for _, t := range due {
		if t.leased >= int64(perTenant) {
			continue
		}
		e, err := p.claimTurn(ctx, t.tenantID, owner, lease, perTenant)
		if err != nil || e != nil {
			return e, err
		}
	}
	return nil, nil
}

// claimTurn leases the tenant's oldest due job to owner while the tenant
// holds fewer than perTenant leased jobs (ClaimErasure); nil when it
// holds that many, or has no due job left.
func (p *Privacy) claimTurn(ctx context.Context, tenantID int64, owner string, lease time.Duration, perTenant int) (*model.Erasure, error) {
	var claimed *model.Erasure
	claim := func(db *gorm.DB) error {
		claimed = nil
		if err := lockTenant(db, tenantID); err != nil && !errs.IsNotFound(err) {
			return err
		}
		now := dbNow()
		var leased int64
		err := db.Model(&model.Erasure{}).Where("tenant_id = ? AND status = ? AND lease_until > ?", tenantID, model.ErasurePending, now).Count(&leased).Error
		if err != nil || leased >= int64(perTenant) {
			return err
		}
		var due []model.Erasure
		err = db.Where("tenant_id = ? AND status = ? AND lease_until <= ?", tenantID, model.ErasurePending, now).Order("id").Limit(1).Find(&due).Error
		if err != nil || len(due) == 0 {
			return err
		}
		e := due[0]
		// A job that was never claimed has the lease it was created with.
		e.Resumed = !e.LeaseUntil.Equal(e.CreatedAt)
		res := db.Exec("UPDATE privacy_erasures SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ? AND status = ? AND lease_until = ?",
			owner, now.Add(lease), now, e.ID, model.ErasurePending, e.LeaseUntil)
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		e.LeaseOwner, e.LeaseUntil, e.UpdatedAt = owner, now.Add(lease), now
		claimed = &e
		return nil
	}
	err := retryDeadlocks(ctx, func() error {
		return p.db.WithContext(ctx).Transaction(claim, &sql.TxOptions{Isolation: sql.LevelReadCommitted}) // SQLite ignores the level: it is serializable
	})
	return claimed, dbError(err, nil)
}

// ErasureProgress adds deleted to the job's count and renews owner's
// lease. False, and nothing written, when owner no longer holds the job,
// or its lease ran out: another instance may be claiming it (ClaimErasure
// takes a job whose lease_until has passed), and the batch whose count
// this is must roll back rather than count under a lease that is gone.
func (p *Privacy) ErasureProgress(ctx context.Context, id int64, owner string, deleted int, lease time.Duration) (bool, error) {
	return p.progress(ctx, id, owner, lease, "conversations_deleted = conversations_deleted + ?", deleted)
}

// ErasureRedacted adds what owner's job rewrote where free text wrote the
// person's email or phone to its counts, moves its reading on to
// conversation id after (never back), and renews its lease; false, and
// nothing written, as for ErasureProgress.
func (p *Privacy) ErasureRedacted(ctx context.Context, id int64, owner string, conversations, deals int, after int64, lease time.Duration) (bool, error) {
	return p.progress(ctx, id, owner, lease, "conversations_redacted = conversations_redacted + ?, deals_redacted = deals_redacted + ?, "+
		"mentions_after = CASE WHEN mentions_after < ? THEN ? ELSE mentions_after END", conversations, deals, after, after)
}

// MentionsBegin records when owner's job began reading for mentions, and
// renews its lease; false, and nothing written, as for ErasureProgress.
func (p *Privacy) MentionsBegin(ctx context.Context, id int64, owner string, since time.Time, lease time.Duration) (bool, error) {
	return p.progress(ctx, id, owner, lease, "mentions_since = ?", since.UTC().Truncate(time.Millisecond))
}

// progress applies set (with args) to owner's pending job and renews its
// lease, while owner holds a lease that has not run out.
func (p *Privacy) progress(ctx context.Context, id int64, owner string, lease time.Duration, set string, args ...any) (bool, error) {
	now := dbNow()
	res := conn(ctx, p.db).Exec("UPDATE privacy_erasures SET "+set+", lease_until = ?, updated_at = ? "+
		"WHERE id = ? AND lease_owner = ? AND status = ? AND lease_until > ?", append(args, now.Add(lease), now, id, owner, model.ErasurePending, now)...)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// OutboxMark is the highest outbox job id now; 0 when the outbox is empty.
func (p *Privacy) OutboxMark(ctx context.Context) (int64, error) {
	var mark int64
	err := conn(ctx, p.db).Raw("SELECT COALESCE(MAX(id), 0) FROM outbox").Scan(&mark).Error
	return mark, dbError(err, nil)
}

// IndexRemovalPending reports whether a search job of the tenant up to id
// mark is for a conversation that no longer exists: one whose document the
// indexer is still to remove. Conversations are deleted for good, so a
// missing row is a deleted one. The look stays on idx_outbox_tenant, as a
// range up to mark, and the primary key of conversations: however long
// the outbox of other tenants, and however many jobs came after the mark.
func (p *Privacy) IndexRemovalPending(ctx context.Context, tenantID, mark int64) (bool, error) {
	var ids []int64
	err := conn(ctx, p.db).Raw("SELECT o.id FROM outbox AS o WHERE o.tenant_id = ? AND o.kind IN ? AND o.id <= ? AND "+
		"NOT EXISTS (SELECT 1 FROM conversations AS c WHERE c.id = o.conversation_id) LIMIT 1", tenantID, searchKinds, mark).Scan(&ids).Error
	return len(ids) > 0, dbError(err, nil)
}

// SearchJobsPending reports whether a search job of the tenant up to id
// mark is left for a conversation up to id upTo that was changed at or
// after since, or deleted: the search index has not yet written, or
// removed, what it became. A job for a conversation left as it was, or
// ingested after upTo (one whose indexing keeps failing for its own
// reasons), holds nothing back.
func (p *Privacy) SearchJobsPending(ctx context.Context, tenantID, mark, upTo int64, since time.Time) (bool, error) {
	var ids []int64
	err := conn(ctx, p.db).Raw("SELECT o.id FROM outbox AS o LEFT JOIN conversations AS c ON c.id = o.conversation_id "+
		"WHERE o.tenant_id = ? AND o.kind IN ? AND o.id <= ? AND o.conversation_id <= ? AND (c.id IS NULL OR c.updated_at >= ?) LIMIT 1",
		tenantID, searchKinds, mark, upTo, since.UTC()).Scan(&ids).Error
	return len(ids) > 0, dbError(err, nil)
}

// User returns a user of the tenant; nil when there is none.
func (p *Privacy) User(ctx context.Context, tenantID, id int64) (*model.User, error) {
	u, err := NewUsers(p.db).ByID(ctx, tenantID, id)
	if errs.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

// externalMatch is the participants who are not users named, or keyed,
// one of names, byte for byte, in the tenant's conversations up to id upTo
// (an id, or an expression such as gorm.Expr). MySQL's collation would
// also match other cases and accents, and ignore trailing spaces: an
// erasure of "jose nunez" would delete José Núñez's conversations (see
// exactly); speaker keys are binary.
func (p *Privacy) externalMatch(tenantID int64, names []string, upTo any) (string, []any) {
	match, args := exactly(p.db, "name", "IN", names)
	return "tenant_id = ? AND user_id IS NULL AND conversation_id <= ? AND ((" + match + ") OR speaker_key IN ?)",
		append(append([]any{tenantID, upTo}, args...), names)
}

// ExternalNames lists the distinct names and speaker keys, byte for byte,
// of the tenant's speakers who are not users, for which keep holds: the
// labels a person may have been stored under (a phone written with spaces,
// an email in capitals, a call centre's key that is the caller's number),
// which the erasure and lookup then match.
func (p *Privacy) ExternalNames(ctx context.Context, tenantID int64, keep func(name string) bool) ([]string, error) {
	col := "name"
	if p.db.Name() == "mysql" {
		// DISTINCT under the column's collation would keep one of the
		// names that differ only in case or accents.
		col = "CAST(name AS BINARY)"
	}
	rows, err := conn(ctx, p.db).Raw("SELECT DISTINCT "+col+" FROM participants WHERE tenant_id = ? AND user_id IS NULL "+
		"UNION SELECT DISTINCT speaker_key FROM participants WHERE tenant_id = ? AND user_id IS NULL", tenantID, tenantID).Rows()
	if err != nil {
		return nil, dbError(err, nil)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, dbError(err, nil)
		}
		if keep(name) {
			out = append(out, name)
		}
	}
	return out, dbError(rows.Err(), nil)
}

// ExternalConversations lists conversations up to id upTo where a speaker
// who is not a user is named one of names.
func (p *Privacy) ExternalConversations(ctx context.Context, tenantID int64, names []string, upTo int64, limit int) ([]int64, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var ids []int64
	q, args := p.externalMatch(tenantID, names, upTo)
	err := conn(ctx, p.db).Model(&model.Participant{}).Distinct("conversation_id").
		Where(q, args...).
		Order("conversation_id").Limit(limit).Pluck("conversation_id", &ids).Error
	return ids, dbError(err, nil)
}

// CountExternalConversations counts the conversations up to id upTo where
// a speaker who is not a user is named one of names.
func (p *Privacy) CountExternalConversations(ctx context.Context, tenantID int64, names []string, upTo int64) (int64, error) {
	if len(names) == 0 {
		return 0, nil
	}
	var n int64
	q, args := p.externalMatch(tenantID, names, upTo)
	err := conn(ctx, p.db).Raw("SELECT COUNT(DISTINCT conversation_id) FROM participants WHERE "+q, args...).Scan(&n).Error
	return n, dbError(err, nil)
}

// ErasureScope is what an erasure requested now covers: the tenant's
// highest conversation id, and the number of conversations up to it where
// a speaker who is not a user is named one of names. One statement reads
// both, so the count is of the conversations as they were at the bound's
// read, whatever commits meanwhile and whatever the isolation level.
func (p *Privacy) ErasureScope(ctx context.Context, tenantID int64, names []string) (upTo, count int64, err error) {
	var row struct{ UpTo, N int64 }
	q, args := p.externalMatch(tenantID, names, gorm.Expr("m.up_to"))
	err = conn(ctx, p.db).Raw("SELECT m.up_to AS up_to, (SELECT COUNT(DISTINCT conversation_id) FROM participants WHERE "+q+") AS n "+
		"FROM ("+tenantTop+") AS m", append(args, tenantID)...).Scan(&row).Error
	return row.UpTo, row.N, dbError(err, nil)
}

// AnonymiseUser clears what identifies a user, deletes the comments they
// wrote, and queues the re-indexing of the conversations they speak in or
// own.
func (p *Privacy) AnonymiseUser(ctx context.Context, tenantID, userID int64) error {
	return NewTransactor(p.db).InTx(ctx, func(ctx context.Context) error {
		if err := p.KeepAnAdmin(ctx, tenantID, userID); err != nil {
			return err
		}
		db := conn(ctx, p.db)
		now := dbNow()
		err := db.Exec("UPDATE users SET name = '', email = NULL, phone = NULL, origin_user_id = NULL, password_hash = '', status = ?, updated_at = ? "+
			"WHERE tenant_id = ? AND id = ?", model.UserDisabled, now, tenantID, userID).Error
		if err != nil {
			return err
		}
		if err := db.Exec("UPDATE participants SET name = '' WHERE tenant_id = ? AND user_id = ?", tenantID, userID).Error; err != nil {
			return err
		}
		// The create requests named them (a participant's name).
		if err := db.Exec("UPDATE conversations SET request_hash = ? WHERE tenant_id = ? AND id IN (SELECT conversation_id FROM participants WHERE tenant_id = ? AND user_id = ?)",
			model.ErasedRequest, tenantID, tenantID, userID).Error; err != nil {
			return err
		}
		// The comments they wrote are their words: deleted, as a comment
		// is, so replies keep their place.
		if err := db.Exec("UPDATE comments SET text = '', deleted_at = COALESCE(deleted_at, ?) WHERE tenant_id = ? AND author_user_id = ?",
			now, tenantID, userID).Error; err != nil {
			return err
		}
		if err := db.Exec("UPDATE refresh_tokens SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL", now, tenantID, userID).Error; err != nil {
			return err
		}
		q := "INSERT INTO outbox (tenant_id, kind, conversation_id, tracker_id, version, attempts, next_attempt_at, last_error, created_at) " +
			"SELECT c.tenant_id, ?, c.id, 0, c.transcript_version, 0, ?, '', ? FROM conversations AS c WHERE c.tenant_id = ? AND " +
			"(c.owner_user_id = ? OR c.id IN (SELECT conversation_id FROM participants WHERE tenant_id = ? AND user_id = ?))"
		return db.Exec(q, model.OutboxConversation, now, now, tenantID, userID, tenantID, userID).Error
	})
}

// ErasedSpeakerKey is the speaker key an erased user's participant row
// (id) takes: it names no one, and it is unique in its conversation.
func ErasedSpeakerKey(participantID int64) string {
	return model.Redacted + "#" + strconv.FormatInt(participantID, 10)
}

// RekeyUserSpeakers gives the user's participant rows in up to limit
// conversations, those not given it yet, the key ErasedSpeakerKey, in the
// transaction ctx carries: partners key a speaker as their tools label
// them, often by the person's name or phone number, and the key stays in
// the participants, the transcript's sentences, the tracker hits and the
// search index after the name is cleared. Each conversation's row is
// written first, its transcript version raised (a lock against a
// transcript written meanwhile, and the sign to every instance's indexer
// that a transcript it keeps is stale), and its re-indexing is queued.
// It returns how many conversations it re-keyed; 0 when none is left.
func (p *Privacy) RekeyUserSpeakers(ctx context.Context, tenantID, userID int64, limit int) (int, error) {
	db := conn(ctx, p.db)
	type row struct {
		ID, ConversationID int64
		SpeakerKey         string
	}
	pending := func(where, lock string, args ...any) ([]row, error) {
		var rows []row
		err := db.Raw("SELECT id, conversation_id, speaker_key FROM participants WHERE tenant_id = ? AND user_id = ? "+where+" ORDER BY conversation_id, id"+lock,
			append([]any{tenantID, userID}, args...)...).Scan(&rows).Error
		return slices.DeleteFunc(rows, func(r row) bool { return r.SpeakerKey == ErasedSpeakerKey(r.ID) }), err
	}
	// Locking reads throughout: a plain one would read MySQL's snapshot
	// (REPEATABLE READ), fixed by the first plain read of the transaction,
	// maybe before the conversations were locked (the erasure's last
	// transaction reads the user first), and a transcript committed
	// meanwhile would be read as it was and written back over the new one.
	lock := forUpdate(db)
	rows, err := pending("", lock)
	if err != nil {
		return 0, dbError(err, nil)
	}
	var ids []int64
	for _, r := range rows {
		if len(ids) > 0 && ids[len(ids)-1] == r.ConversationID {
			continue
		}
		if len(ids) == limit {
			break
		}
		ids = append(ids, r.ConversationID)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	now := dbNow()
	if err := db.Exec("UPDATE conversations SET transcript_version = transcript_version + 1, updated_at = ? WHERE tenant_id = ? AND id IN ?",
		now, tenantID, ids).Error; err != nil {
		return 0, dbError(err, nil)
	}
	// Read again under the lock: a transcript written before it may have
	// added a speaker.
	if rows, err = pending("AND conversation_id IN ?", lock, ids); err != nil {
		return 0, dbError(err, nil)
	}
	renames := map[int64]map[string]string{}
	for _, r := range rows {
		key := ErasedSpeakerKey(r.ID)
		if renames[r.ConversationID] == nil {
			renames[r.ConversationID] = map[string]string{}
		}
		renames[r.ConversationID][r.SpeakerKey] = key
		if err := db.Exec("UPDATE participants SET speaker_key = ? WHERE id = ?", key, r.ID).Error; err != nil {
			return 0, dbError(err, nil)
		}
		if err := db.Exec("UPDATE tracker_hits SET speaker_key = ? WHERE tenant_id = ? AND conversation_id = ? AND speaker_key = ?",
			key, tenantID, r.ConversationID, r.SpeakerKey).Error; err != nil {
			return 0, dbError(err, nil)
		}
	}
	err = rewriteParts(db, tenantID, ids, lock, func(cid int64, run []storedSentence) bool {
		changed := false
		for i := range run {
			if key, ok := renames[cid][run[i].SpeakerKey]; ok {
				run[i].SpeakerKey, changed = key, true
			}
		}
		return changed
	})
	if err != nil {
		return 0, dbError(err, nil)
	}
	if err := forgetRequests(db, ids); err != nil {
		return 0, dbError(err, nil)
	}
	var convs []model.Conversation
	if err := db.Select("id, transcript_version").Where("tenant_id = ? AND id IN ?", tenantID, ids).Find(&convs).Error; err != nil {
		return 0, dbError(err, nil)
	}
	jobs := make([]model.OutboxJob, 0, len(convs))
	for _, c := range convs {
		jobs = append(jobs, model.OutboxJob{TenantID: tenantID, Kind: model.OutboxTranscript, ConversationID: c.ID, Version: c.TranscriptVersion})
	}
	return len(ids), enqueue(db, jobs...)
}

// DisableUser disables a user whom an erasure anonymises later, and
// revokes their refresh tokens, keeping what identifies them; it refuses
// the tenant's last active admin (LAST_ADMIN), as AnonymiseUser does.
func (p *Privacy) DisableUser(ctx context.Context, tenantID, userID int64) error {
	return NewTransactor(p.db).InTx(ctx, func(ctx context.Context) error {
		if err := p.KeepAnAdmin(ctx, tenantID, userID); err != nil {
			return err
		}
		db := conn(ctx, p.db)
		now := dbNow()
		if err := db.Exec("UPDATE users SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?", model.UserDisabled, now, tenantID, userID).Error; err != nil {
			return err
		}
		return db.Exec("UPDATE refresh_tokens SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL", now, tenantID, userID).Error
	})
}

// ReleaseErasures makes owner's pending jobs due now.
func (p *Privacy) ReleaseErasures(ctx context.Context, owner string) error {
	now := dbNow()
	return dbError(conn(ctx, p.db).Exec("UPDATE privacy_erasures SET lease_until = ?, lease_owner = '', updated_at = ? WHERE lease_owner = ? AND status = ?",
		now, now, owner, model.ErasurePending).Error, nil)
}

// ForgetErasure clears the subject of owner's pending job once its
// conversations are deleted and its user anonymised: what is left is to
// clear the store's own copies of the deleted rows (dao.WAL) and end the
// job, and a job resumed without a subject does only that.
func (p *Privacy) ForgetErasure(ctx context.Context, id int64, owner string) error {
	res := conn(ctx, p.db).Exec("UPDATE privacy_erasures SET subject = '', updated_at = ? WHERE id = ? AND lease_owner = ? AND status = ?",
		dbNow(), id, owner, model.ErasurePending)
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected != 1 {
		return errLeaseLost
	}
	return nil
}

// FinishErasure ends owner's job with status and clears its subject. A
// job done anonymised its user, if it has one; a failed one did not.
func (p *Privacy) FinishErasure(ctx context.Context, id int64, owner, status, lastError string) error {
	now := dbNow()
	res := conn(ctx, p.db).Exec("UPDATE privacy_erasures SET status = ?, subject = '', last_error = ?, finished_at = ?, updated_at = ?, "+
		"users_anonymised = CASE WHEN user_id <> 0 AND ? THEN 1 ELSE 0 END WHERE id = ? AND lease_owner = ? AND status = ?",
		status, clip.String(lastError, 1024), now, now, status == model.ErasureDone, id, owner, model.ErasurePending)
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected != 1 {
		return errLeaseLost
	}
	return nil
}

// ExpireUnconfirmed ends failed, with lastError and without their
// identifier, the jobs that have waited for their confirmation since
// before before, and returns them.
func (p *Privacy) ExpireUnconfirmed(ctx context.Context, before time.Time, lastError string) ([]model.Erasure, error) {
	var due []model.Erasure
	db := conn(ctx, p.db)
	if err := db.Where("status = ? AND updated_at < ?", model.ErasureAwaitingConfirmation, before.UTC()).Limit(100).Find(&due).Error; err != nil {
		return nil, dbError(err, nil)
	}
	var out []model.Erasure
	for _, e := range due {
		now := dbNow()
		// Only while it still waits, unconfirmed since before: a
		// confirmation or a recount made meanwhile wins.
		res := db.Exec("UPDATE privacy_erasures SET status = ?, subject = '', last_error = ?, finished_at = ?, updated_at = ? "+
			"WHERE id = ? AND status = ? AND updated_at < ?",
			model.ErasureFailed, clip.String(lastError, 1024), now, now, e.ID, model.ErasureAwaitingConfirmation, before.UTC())
		if res.Error != nil {
			return out, dbError(res.Error, nil)
		}
		if res.RowsAffected == 1 {
			e.Status, e.Subject, e.LastError = model.ErasureFailed, "", lastError
			out = append(out, e)
		}
	}
	return out, nil
}

// KeepAnAdmin refuses to erase the tenant's last active admin: anonymising
// disables the user, and nobody could manage the tenant afterwards. In a
// transaction the admins' rows stay locked (on MySQL) until it ends, as
// for a change of role or status.
func (p *Privacy) KeepAnAdmin(ctx context.Context, tenantID, userID int64) error {
	users := NewUsers(p.db)
	u, err := users.ByID(ctx, tenantID, userID)
	if errs.IsNotFound(err) {
		return nil // a user already gone leaves the admins as they are
	}
	if err != nil {
		return err
	}
	if u.Role != model.RoleAdmin || u.Status != model.UserActive {
		return nil // nor does one disabled, or not an admin
	}
	n, err := users.ActiveAdmins(ctx, tenantID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return errs.Of(errs.ReasonLastAdmin, "user %d is the tenant's last active admin and cannot be erased; make another user admin first", userID)
	}
	return nil
}
