package dao

import (
	"context"
	"database/sql"
	"strings"

	"github.com/megaview/mgvcore/internal/model"
)

// TranscriptLock is what a transcript write learns when it locks its
// conversation.
type TranscriptLock struct {
	// Conversation is the row as updated for the write.
	Conversation model.Conversation
	// Speakers are the conversation's participants, by SpeakerKey and
	// Affiliation.
	Speakers []model.Participant
	// Trackers identifies the state of the tenant's trackers as the
	// transaction sees it: trackers read in a state with the same
	// Trackers are the same trackers.
	Trackers TrackersStamp
}

// TrackersStamp is the number of a tenant's tracker rows and the sum of
// their versions. Every change that matters to matching adds to the sum:
// a new tracker (version 1), a change of keywords or affiliation and a
// deletion (the version goes up, the row stays). The tenant's trackers
// change in one order, so two states with the same sum are the same
// state; the count tells a purge of deleted rows apart.
type TrackersStamp struct {
	Count, Versions int64
}

// LockForTranscript takes the conversation's row for the write of a
// transcript of n sentences and records it there (transcript_version
// increased, sentence_count, status ready), rolled back with the rest if
// the write fails; then it reads the row as updated, the speakers and the
// stamp of the tenant's trackers in one query. It must run in a transaction
// (Transactor.InTx). Writing the row first, rather than
// SELECT … FOR UPDATE, takes the row lock on MySQL and the write lock on
// SQLite alike, so concurrent writers of one conversation queue up here
// (SQLite would otherwise refuse a reader that later tries to write).
func (r *Conversations) LockForTranscript(ctx context.Context, tenantID, id int64, n int) (TranscriptLock, error) {
	db := conn(ctx, r.db)
	res := db.Exec("UPDATE conversations SET transcript_version = transcript_version + 1, sentence_count = ?, status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
		n, model.StatusReady, dbNow(), tenantID, id)
	if res.Error != nil {
		return TranscriptLock{}, dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		return TranscriptLock{}, ErrConversationNotFound
	}
	var rows []struct {
		model.Conversation `gorm:"embedded"`
		TrackerCount       int64
		TrackerVersions    int64
		SpeakerKey         sql.NullString
		Affiliation        sql.NullString
	}
	err := db.Raw("SELECT c.*, "+
		"(SELECT COUNT(*) FROM trackers WHERE tenant_id = c.tenant_id) AS tracker_count, "+
		"(SELECT COALESCE(SUM(version), 0) FROM trackers WHERE tenant_id = c.tenant_id) AS tracker_versions, "+
		"p.speaker_key, p.affiliation FROM conversations AS c "+
		"LEFT JOIN participants AS p ON p.conversation_id = c.id AND p.tenant_id = c.tenant_id "+
		"WHERE c.tenant_id = ? AND c.id = ? ORDER BY p.speaker_key", tenantID, id).Scan(&rows).Error
	if err != nil {
		return TranscriptLock{}, dbError(err, nil)
	}
	if len(rows) == 0 {
		return TranscriptLock{}, ErrConversationNotFound
	}
	out := TranscriptLock{Conversation: rows[0].Conversation, Speakers: make([]model.Participant, 0, len(rows)),
		Trackers: TrackersStamp{Count: rows[0].TrackerCount, Versions: rows[0].TrackerVersions}}
	for _, row := range rows {
		if row.SpeakerKey.Valid {
			out.Speakers = append(out.Speakers, model.Participant{TenantID: tenantID, ConversationID: id,
				SpeakerKey: row.SpeakerKey.String, Affiliation: row.Affiliation.String})
		}
	}
	return out, nil
}

// AddParticipants inserts speakers of a conversation.
func (r *Conversations) AddParticipants(ctx context.Context, ps []model.Participant) error {
	if len(ps) == 0 {
		return nil
	}
	return dbError(conn(ctx, r.db).Create(&ps).Error, nil)
}

// ReplaceSentences replaces the transcript of c, the row LockForTranscript
// returned: the old parts go, and with them the tracker hits that point
// into them. A first transcript (transcript_version 1 once locked) deletes
// nothing, so the common ingest path takes no range locks: on MySQL a range
// delete also locks the gap up to the next conversation's rows, where a
// concurrent first transcript would insert.
func (r *Conversations) ReplaceSentences(ctx context.Context, c model.Conversation, sentences []model.Sentence) error {
	db := conn(ctx, r.db)
	if c.TranscriptVersion > 1 {
		if err := db.Exec("DELETE FROM tracker_hits WHERE tenant_id = ? AND conversation_id = ?", c.TenantID, c.ID).Error; err != nil {
			return dbError(err, nil)
		}
		if err := db.Exec("DELETE FROM transcript_parts WHERE conversation_id = ?", c.ID).Error; err != nil {
			return dbError(err, nil)
		}
	}
	parts, err := TranscriptParts(c, sentences)
	if err != nil {
		return err
	}
	insert := r.insertPart.on(ctx, db)
	for _, p := range parts {
		// One statement per part: each is bounded far below the packet
		// limit, several together need not be.
		if err := insert.Exec(insertPartSQL, p.ConversationID, p.Part, p.TenantID, p.Sentences).Error; err != nil {
			return dbError(err, nil)
		}
	}
	return nil
}

const insertPartSQL = "INSERT INTO transcript_parts (conversation_id, part, tenant_id, sentences) VALUES (?,?,?,?)"

// SaveMetrics stores the metrics of a conversation, replacing older ones.
func (r *Conversations) SaveMetrics(ctx context.Context, m model.ConversationMetrics) error {
	// An upsert, not delete-then-insert: deleting a row that is not there
	// yet takes a gap lock on MySQL that deadlocks first transcripts of
	// neighbouring conversations against each other. Spelled out rather
	// than built by gorm from the struct on every transcript write.
	db := conn(ctx, r.db)
	query := upsertMetricsSQLite
	if db.Dialector.Name() == "mysql" {
		query = upsertMetricsMySQL
	}
	err := db.Exec(query, m.ConversationID, m.TenantID, m.AlgoVersion, m.TalkRatio, m.LongestMonologueMS,
		m.LongestCustomerStoryMS, m.Interactivity, m.PatienceMS, m.QuestionCountInternal, m.QuestionCountExternal,
		m.QuestionRate, m.SilenceMS, m.ComputedAt).Error
	return dbError(err, nil)
}

// metricsColumns are the columns of conversation_metrics in the order
// SaveMetrics binds them; the key comes first.
var metricsColumns = []string{"conversation_id", "tenant_id", "algo_version", "talk_ratio", "longest_monologue_ms",
	"longest_customer_story_ms", "interactivity", "patience_ms", "question_count_internal", "question_count_external",
	"question_rate", "silence_ms", "computed_at"}

var upsertMetricsMySQL, upsertMetricsSQLite = func() (string, string) {
	insert := "INSERT INTO conversation_metrics (" + strings.Join(metricsColumns, ", ") + ") VALUES (?" +
		strings.Repeat(", ?", len(metricsColumns)-1) + ")"
	mysqlSet, sqliteSet := make([]string, 0, len(metricsColumns)-1), make([]string, 0, len(metricsColumns)-1)
	for _, c := range metricsColumns[1:] {
		mysqlSet = append(mysqlSet, c+" = VALUES("+c+")")
		sqliteSet = append(sqliteSet, c+" = excluded."+c)
	}
	return insert + " ON DUPLICATE KEY UPDATE " + strings.Join(mysqlSet, ", "),
		insert + " ON CONFLICT (conversation_id) DO UPDATE SET " + strings.Join(sqliteSet, ", ")
}()

// QueueTranscriptIndexing queues the indexing of c's new transcript.
func (r *Conversations) QueueTranscriptIndexing(ctx context.Context, c model.Conversation) error {
	return enqueue(conn(ctx, r.db), model.OutboxJob{TenantID: c.TenantID, Kind: model.OutboxTranscript, ConversationID: c.ID, Version: c.TranscriptVersion})
}

// Sentences returns a conversation's transcript in seq order.
func (r *Conversations) Sentences(ctx context.Context, tenantID, conversationID int64) ([]model.Sentence, error) {
	out, err := readSentences(conn(ctx, r.db), tenantID, []int64{conversationID})
	return out, dbError(err, nil)
}
