package dao

import (
	"context"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// Conversations stores conversations, their participants, transcripts and
// metrics.
type Conversations struct {
	db *gorm.DB
	// insertPart are the INSERTs of transcript parts by row count,
	// prepared on MySQL.
	mu         sync.Mutex
	insertPart map[int]*preparedStatement
	filterRefs
}

// NewConversations works on db.
func NewConversations(db *gorm.DB) *Conversations {
	return &Conversations{db: db, insertPart: map[int]*preparedStatement{}, filterRefs: filterRefs{db: db}}
}

// Get returns one conversation the scope may see.
func (r *Conversations) Get(ctx context.Context, s model.Scope, id int64) (model.Conversation, error) {
	var c model.Conversation
	err := ScopeConversations(conn(ctx, r.db).Table("conversations AS c"), s).
		Where("c.id = ?", id).Take(&c).Error
	return c, dbError(err, conversation.ErrNotFound)
}

// List returns up to limit conversations the scope may see that match f,
// newest begin_time first (ties: higher id first), strictly after the
// cursor when one is given.
func (r *Conversations) List(ctx context.Context, s model.Scope, f model.ConversationFilter, after *model.ConversationCursor, limit int) ([]model.Conversation, error) {
	q, err := r.filtered(ctx, s, f)
	if err != nil || q == nil {
		return nil, err
	}
	if after != nil {
		t := after.BeginTime.UTC()
		q = q.Where("(c.begin_time < ? OR (c.begin_time = ? AND c.id < ?))", t, t, after.ID)
	}
	var out []model.Conversation
	err = q.Select("c.*").Order("c.begin_time DESC").Order("c.id DESC").Limit(limit).Find(&out).Error
	return out, dbError(err, nil)
}

// Count counts the conversations the scope may see that match f.
func (r *Conversations) Count(ctx context.Context, s model.Scope, f model.ConversationFilter) (int64, error) {
	q, err := r.filtered(ctx, s, f)
	if err != nil || q == nil {
		return 0, err
	}
	var n int64
	return n, dbError(q.Count(&n).Error, nil)
}

// filtered is the scoped and filtered query on conversations AS c; nil when
// the filter matches nothing (an unknown department).
func (r *Conversations) filtered(ctx context.Context, s model.Scope, f model.ConversationFilter) (*gorm.DB, error) {
	db := conn(ctx, r.db)
	return FilterConversations(ctx, ScopeConversations(db.Table("conversations AS c"), s), db, s.TenantID, f)
}

// FilterConversations narrows a query on conversations (aliased as c) of a
// tenant to those matching f. It returns nil when f can match nothing (a
// department that does not exist in the tenant). db runs the lookups the
// filter needs. Search and statistics share it with the conversation list.
func FilterConversations(ctx context.Context, q, db *gorm.DB, tenantID int64, f model.ConversationFilter) (*gorm.DB, error) {
	if !f.From.IsZero() {
		q = q.Where("c.begin_time >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("c.begin_time < ?", f.To.UTC())
	}
	if len(f.OwnerIDs) > 0 {
		q = q.Where("c.owner_user_id IN ?", f.OwnerIDs)
	}
	if f.DepartmentID != 0 {
		var path string
		err := db.WithContext(ctx).Table("departments").Select("path").
			Where("tenant_id = ? AND id = ?", tenantID, f.DepartmentID).Limit(1).Scan(&path).Error
		if err != nil {
			return nil, dbError(err, nil)
		}
		if path == "" {
			return nil, nil
		}
		q = q.Where("c.owner_user_id IN (?)",
			db.Session(&gorm.Session{NewDB: true}).Table("users AS fu").Select("fu.id").
				Joins("JOIN departments AS fd ON fd.id = fu.department_id").
				Where("fu.tenant_id = ? AND fd.tenant_id = ? AND fd.path LIKE ?", tenantID, tenantID, likePrefix(path)))
	}
	if f.DealID != 0 {
		q = q.Where("c.deal_id = ?", f.DealID)
	}
	if f.Direction != "" {
		q = q.Where("c.direction = ?", f.Direction)
	}
	if f.MinDurationMS != nil {
		q = q.Where("c.duration_ms >= ?", *f.MinDurationMS)
	}
	if f.MaxDurationMS != nil {
		q = q.Where("c.duration_ms <= ?", *f.MaxDurationMS)
	}
	if f.TrackerID != 0 {
		q = q.Where(hitOfLiveTracker, tenantID, f.TrackerID)
	}
	return q, nil
}

// hitOfLiveTracker keeps the conversations (c) with hits of a tracker of
// the tenant (args: tenant id, tracker id) that is not deleted. A deleted
// tracker's hits stay until the background purge reaches them, but count
// for nothing from the moment of the deletion, as in TrackerHitCounts.
const hitOfLiveTracker = "EXISTS (SELECT 1 FROM tracker_hits AS th JOIN trackers AS t ON t.id = th.tracker_id AND t.tenant_id = th.tenant_id " +
	"AND t.deleted_at IS NULL WHERE th.conversation_id = c.id AND th.tenant_id = ? AND th.tracker_id = ?)"

// likePrefix matches every string that starts with prefix. Department
// paths hold only digits and slashes; escaping keeps that an assumption
// nobody has to check.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

// Participants lists the speakers of a conversation by speaker_key; a
// speaker who is a user carries the user's current name.
func (r *Conversations) Participants(ctx context.Context, tenantID, conversationID int64) ([]model.Participant, error) {
	var out []model.Participant
	err := conn(ctx, r.db).Table("participants AS p").
		Select("p.id, p.tenant_id, p.conversation_id, p.speaker_key, p.user_id, COALESCE(u.name, p.name) AS name, p.affiliation").
		Joins("LEFT JOIN users AS u ON u.id = p.user_id AND u.tenant_id = p.tenant_id").
		Where("p.tenant_id = ? AND p.conversation_id = ?", tenantID, conversationID).
		Order("p.speaker_key").Find(&out).Error
	return out, dbError(err, nil)
}

// Metrics returns the stored metrics of a conversation; nil before its
// first transcript.
func (r *Conversations) Metrics(ctx context.Context, tenantID, conversationID int64) (*model.ConversationMetrics, error) {
	var m []model.ConversationMetrics
	err := conn(ctx, r.db).Where("tenant_id = ? AND conversation_id = ?", tenantID, conversationID).Limit(1).Find(&m).Error
	if err != nil || len(m) == 0 {
		return nil, dbError(err, nil)
	}
	return &m[0], nil
}

// TrackerHitCounts counts the hits of each live tracker in a conversation,
// by tracker id.
func (r *Conversations) TrackerHitCounts(ctx context.Context, tenantID, conversationID int64) ([]model.TrackerHitCount, error) {
	var out []model.TrackerHitCount
	err := conn(ctx, r.db).Table("tracker_hits AS th").
		Select("th.tracker_id AS tracker_id, t.name AS tracker_name, COUNT(*) AS hits").
		Joins("JOIN trackers AS t ON t.id = th.tracker_id AND t.tenant_id = th.tenant_id AND t.deleted_at IS NULL").
		Where("th.tenant_id = ? AND th.conversation_id = ?", tenantID, conversationID).
		Group("th.tracker_id, t.name").Order("th.tracker_id").Scan(&out).Error
	return out, dbError(err, nil)
}

// ByOrigin returns the tenant's conversation with this origin id.
func (r *Conversations) ByOrigin(ctx context.Context, tenantID int64, originID string) (model.Conversation, error) {
	var c model.Conversation
	err := conn(ctx, r.db).Where("tenant_id = ? AND origin_conversation_id = ?", tenantID, originID).Take(&c).Error
	return c, dbError(err, conversation.ErrNotFound)
}

// Create inserts a conversation with its participants and the outbox job
// that indexes it, in one transaction. An origin id in use already is
// ALREADY_EXISTS: the unique key decides between concurrent creators.
func (r *Conversations) Create(ctx context.Context, c *model.Conversation, participants []model.Participant) error {
	return NewTransactor(r.db).InTx(ctx, func(ctx context.Context) error {
		db := conn(ctx, r.db)
		// Ids a rolled-back run assigned are not reused by a retry.
		c.ID, c.CreatedAt = 0, dbNow()
		c.UpdatedAt = c.CreatedAt
		if err := db.Create(c).Error; err != nil {
			return dbError(err, nil)
		}
		for i := range participants {
			participants[i].ID, participants[i].TenantID, participants[i].ConversationID = 0, c.TenantID, c.ID
		}
		if len(participants) > 0 {
			err := dbError(db.Create(&participants).Error, nil)
			if isDuplicate(err) {
				// A speaker key given twice (logic refuses it first):
				// not the origin id's key taken by a concurrent creator.
				return errSameSpeakerKey
			}
			if err != nil {
				return err
			}
		}
		return enqueue(db, model.OutboxJob{TenantID: c.TenantID, Kind: model.OutboxConversation, ConversationID: c.ID})
	})
}

// errSameSpeakerKey refuses participants with the same speaker key. Keys
// are compared byte for byte on both engines (MySQL stores them as
// VARBINARY): "rep" and "REP" are two keys.
var errSameSpeakerKey = errs.InvalidArgument("participants", "two participants have the same speaker key")

// User returns the tenant's user with this id, or with this origin id when
// id is 0. field names the request field for the not-found error.
func (r *Conversations) User(ctx context.Context, tenantID, id int64, originID, field string) (model.User, error) {
	q := conn(ctx, r.db).Where("tenant_id = ?", tenantID)
	if id != 0 {
		q = q.Where("id = ?", id)
	} else {
		q = q.Where("origin_user_id = ?", originID)
	}
	var u model.User
	err := q.Take(&u).Error
	return u, dbError(err, errs.NotFound(errs.ReasonUserNotFound, "%s: no such user in this tenant", field).With("field", field))
}

// ErasedUsers holds the tenant's users ids until the transaction of ctx
// ends, and returns those of them a privacy erasure anonymised
// (model.User.Erased). An erasure anonymises a user by updating their row:
// on MySQL the rows are read here with shared locks, so the anonymisation
// waits for this transaction, or this read waits for it and sees the user
// erased; SQLite serialises writers, and the no-op write takes its write
// lock first (it refuses a reader that later tries to write). A user
// attributed something in this transaction is thus either anonymised after
// it commits, as with everything attributed to them before, or refused.
func (r *Conversations) ErasedUsers(ctx context.Context, tenantID int64, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	db := conn(ctx, r.db)
	if db.Name() != "mysql" {
		if err := db.Exec("UPDATE users SET updated_at = updated_at WHERE tenant_id = ? AND id IN ?", tenantID, ids).Error; err != nil {
			return nil, dbError(err, nil)
		}
	}
	var users []model.User
	if err := db.Raw("SELECT * FROM users WHERE tenant_id = ? AND id IN ?"+shareMode(db), tenantID, ids).Scan(&users).Error; err != nil {
		return nil, dbError(err, nil)
	}
	var erased []int64
	for _, u := range users {
		if u.Erased() {
			erased = append(erased, u.ID)
		}
	}
	return erased, nil
}

// dbNow is the time stored in created_at and the like: UTC, in the millisecond
// precision of DATETIME(3), so what is read back equals what was written.
func dbNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
