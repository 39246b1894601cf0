package dao

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// LockForTranscripts takes the rows of the targets' conversations for the
// write of their transcripts and records it there (transcript_version
// increased, sentence_count, status ready), rolled back with the rest if
// the transaction fails; it returns each row as updated, with its speakers
// and the stamp of its tenant's trackers, by conversation id. A target
// missing from the answer does not exist in its tenant. It must run in a
// transaction (Transactor.InTx), and the targets' ids must be distinct.
// Writing the rows first, rather than SELECT … FOR UPDATE, takes the row
// locks on MySQL and the write lock on SQLite alike, so concurrent writers
// of one conversation queue up here (SQLite would otherwise refuse a
// reader that later tries to write). One UPDATE per tenant locks its rows
// in primary key order, whatever the order of targets, so two writes of
// overlapping sets cannot lock each other's rows crosswise.
func (r *Conversations) LockForTranscripts(ctx context.Context, targets []conversation.TranscriptTarget) (map[int64]conversation.TranscriptLock, error) {
	db := conn(ctx, r.db)
	byTenant := map[int64][]conversation.TranscriptTarget{}
	var tenants []int64
	for _, t := range targets {
		if _, ok := byTenant[t.TenantID]; !ok {
			tenants = append(tenants, t.TenantID)
		}
		byTenant[t.TenantID] = append(byTenant[t.TenantID], t)
	}
	slices.Sort(tenants)
	out := make(map[int64]conversation.TranscriptLock, len(targets))
	for _, tenant := range tenants {
		if err := lockTenantTranscripts(db, tenant, byTenant[tenant], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lockTenantTranscripts is LockForTranscripts for targets of one tenant.
func lockTenantTranscripts(db *gorm.DB, tenantID int64, targets []conversation.TranscriptTarget, out map[int64]conversation.TranscriptLock) error {
	ids := make([]int64, len(targets))
	var counts strings.Builder
	args := make([]any, 0, 2*len(targets)+4)
	for i, t := range targets {
		ids[i] = t.ID
		counts.WriteString(" WHEN ? THEN ?")
		args = append(args, t.ID, t.N)
	}
	args = append(args, model.StatusReady, dbNow(), tenantID, ids)
	res := db.Exec("UPDATE conversations SET transcript_version = transcript_version + 1, sentence_count = CASE id"+counts.String()+" END, "+
		"status = ?, updated_at = ? WHERE tenant_id = ? AND id IN ?", args...)
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		return nil
	}
	var rows []struct {
		model.Conversation `gorm:"embedded"`
		TrackerCount       int64
		TrackerVersions    int64
		SpeakerKey         sql.NullString
		Affiliation        sql.NullString
	}
	// No ORDER BY: on MySQL it costs a temporary table and a sort per
	// write; the few speakers are sorted here.
	err := db.Raw("SELECT c.*, "+
		"(SELECT COUNT(*) FROM trackers WHERE tenant_id = c.tenant_id) AS tracker_count, "+
		"(SELECT COALESCE(SUM(version), 0) FROM trackers WHERE tenant_id = c.tenant_id) AS tracker_versions, "+
		"p.speaker_key, p.affiliation FROM conversations AS c "+
		"LEFT JOIN participants AS p ON p.conversation_id = c.id AND p.tenant_id = c.tenant_id "+
		"WHERE c.tenant_id = ? AND c.id IN ?", tenantID, ids).Scan(&rows).Error
	if err != nil {
		return dbError(err, nil)
	}
	for _, row := range rows {
		l, ok := out[row.ID]
		if !ok {
			l = conversation.TranscriptLock{Conversation: row.Conversation, Speakers: []model.Participant{},
				Trackers: conversation.TrackersStamp{Count: row.TrackerCount, Versions: row.TrackerVersions}}
		}
		if row.SpeakerKey.Valid {
			l.Speakers = append(l.Speakers, model.Participant{TenantID: tenantID, ConversationID: row.ID,
				SpeakerKey: row.SpeakerKey.String, Affiliation: row.Affiliation.String})
		}
		out[row.ID] = l
	}
	for _, id := range ids {
		if l, ok := out[id]; ok {
			slices.SortFunc(l.Speakers, func(a, b model.Participant) int { return cmp.Compare(a.SpeakerKey, b.SpeakerKey) })
		}
	}
	return nil
}

// AddParticipants inserts speakers of conversations. Their keys are
// compared byte for byte, as logic tells new keys from known ones.
func (r *Conversations) AddParticipants(ctx context.Context, ps []model.Participant) error {
	if len(ps) == 0 {
		return nil
	}
	return dbError(conn(ctx, r.db).Create(&ps).Error, nil)
}

// ReplaceTranscripts replaces the transcripts of locked conversations: the
// old parts go, and with them the tracker hits that point into them. A
// first transcript (transcript_version 1 once locked) deletes nothing, so
// the common ingest path takes no range locks: on MySQL a range delete also
// locks the gap up to the next conversation's rows, where a concurrent
// first transcript would insert. The new parts go in as few INSERTs as
// their size allows.
func (r *Conversations) ReplaceTranscripts(ctx context.Context, ts []conversation.TranscriptRows) error {
	db := conn(ctx, r.db)
	var parts []model.TranscriptPart
	for _, t := range ts {
		c := t.Conversation
		if c.TranscriptVersion > 1 {
			if err := db.Exec("DELETE FROM tracker_hits WHERE tenant_id = ? AND conversation_id = ?", c.TenantID, c.ID).Error; err != nil {
				return dbError(err, nil)
			}
			if err := db.Exec("DELETE FROM transcript_parts WHERE conversation_id = ?", c.ID).Error; err != nil {
				return dbError(err, nil)
			}
		}
		p, err := TranscriptParts(c, t.Sentences)
		if err != nil {
			return err
		}
		parts = append(parts, p...)
	}
	for len(parts) > 0 {
		// Rows while they stay within one part's bound, so a statement is
		// far below the packet limit whatever the parts hold.
		n, size := 1, len(parts[0].Sentences)
		for n < len(parts) && n < maxPartRows && size+len(parts[n].Sentences) <= partBytes {
			size += len(parts[n].Sentences)
			n++
		}
		query, args := insertPartsSQL(n), make([]any, 0, 4*n)
		for _, p := range parts[:n] {
			args = append(args, p.ConversationID, p.Part, p.TenantID, p.Sentences)
		}
		if err := r.insertParts(n).on(ctx, db).Exec(query, args...).Error; err != nil {
			return dbError(err, nil)
		}
		parts = parts[n:]
	}
	return nil
}

// maxPartRows bounds the parts one INSERT carries, and so the statements
// prepared for them (one per row count).
const maxPartRows = 16

func insertPartsSQL(rows int) string {
	return "INSERT INTO transcript_parts (conversation_id, part, tenant_id, sentences) VALUES (?,?,?,?)" +
		strings.Repeat(",(?,?,?,?)", rows-1)
}

// insertParts is the prepared INSERT of n parts.
func (r *Conversations) insertParts(n int) *preparedStatement {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.insertPart[n]
	if !ok {
		p = newPreparedStatement(r.db, insertPartsSQL(n))
		r.insertPart[n] = p
	}
	return p
}

// SaveMetrics stores the metrics of conversations, replacing older ones.
func (r *Conversations) SaveMetrics(ctx context.Context, ms ...model.ConversationMetrics) error {
	if len(ms) == 0 {
		return nil
	}
	// An upsert, not delete-then-insert: deleting a row that is not there
	// yet takes a gap lock on MySQL that deadlocks first transcripts of
	// neighbouring conversations against each other. Spelled out rather
	// than built by gorm from the struct on every transcript write.
	db := conn(ctx, r.db)
	args := make([]any, 0, len(ms)*len(metricsColumns))
	for _, m := range ms {
		args = appendMetrics(args, m)
	}
	return dbError(db.Exec(upsertMetricsSQL(db.Dialector.Name(), len(ms)), args...).Error, nil)
}

// appendMetrics appends m's values in the order of metricsColumns.
func appendMetrics(args []any, m model.ConversationMetrics) []any {
	return append(args, m.ConversationID, m.TenantID, m.AlgoVersion, m.TalkRatio, m.LongestMonologueMS,
		m.LongestCustomerStoryMS, m.Interactivity, m.PatienceMS, m.QuestionCountInternal, m.QuestionCountExternal,
		m.QuestionRate, m.SilenceMS, m.ComputedAt)
}

// metricsColumns are the columns of conversation_metrics in the order
// SaveMetrics binds them; the key comes first.
var metricsColumns = []string{"conversation_id", "tenant_id", "algo_version", "talk_ratio", "longest_monologue_ms",
	"longest_customer_story_ms", "interactivity", "patience_ms", "question_count_internal", "question_count_external",
	"question_rate", "silence_ms", "computed_at"}

// upsertMetricsSQL is the upsert of rows metrics rows in dialect.
func upsertMetricsSQL(dialect string, rows int) string {
	row := "(?" + strings.Repeat(", ?", len(metricsColumns)-1) + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO conversation_metrics (" + strings.Join(metricsColumns, ", ") + ") VALUES " + row)
	for range rows - 1 {
		b.WriteString(", " + row)
	}
	if dialect == "mysql" {
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
	} else {
		b.WriteString(" ON CONFLICT (conversation_id) DO UPDATE SET ")
	}
	for i, c := range metricsColumns[1:] {
		if i > 0 {
			b.WriteString(", ")
		}
		if dialect == "mysql" {
			b.WriteString(c + " = VALUES(" + c + ")")
		} else {
			b.WriteString(c + " = excluded." + c)
		}
	}
	return b.String()
}

// QueueTranscriptIndexing queues the indexing of the conversations' new
// transcripts.
func (r *Conversations) QueueTranscriptIndexing(ctx context.Context, cs ...model.Conversation) error {
	jobs := make([]model.OutboxJob, len(cs))
	for i, c := range cs {
		jobs[i] = model.OutboxJob{TenantID: c.TenantID, Kind: model.OutboxTranscript, ConversationID: c.ID, Version: c.TranscriptVersion}
	}
	return enqueue(conn(ctx, r.db), jobs...)
}

// Sentences returns a conversation's transcript in seq order.
func (r *Conversations) Sentences(ctx context.Context, tenantID, conversationID int64) ([]model.Sentence, error) {
	out, err := readSentences(conn(ctx, r.db), tenantID, []int64{conversationID})
	return out, dbError(err, nil)
}

// transcriptPartSQL reads one part with the version of the transcript it
// belongs to in one statement, so the two agree: a replacement bumps the
// version and swaps the parts in one transaction.
const transcriptPartSQL = "SELECT c.transcript_version, p.sentences FROM conversations c " +
	"LEFT JOIN transcript_parts p ON p.conversation_id = c.id AND p.tenant_id = c.tenant_id AND p.part = ? " +
	"WHERE c.id = ? AND c.tenant_id = ?"

// TranscriptPart returns part part of a conversation's transcript in seq
// order (nil past the last part) and the transcript's version. The part is
// decoded from the driver's buffer, so a read copies its text only once.
func (r *Conversations) TranscriptPart(ctx context.Context, tenantID, conversationID int64, part int) (_ int64, _ []model.Sentence, err error) {
	rows, err := conn(ctx, r.db).Raw(transcriptPartSQL, part, conversationID, tenantID).Rows()
	if err != nil {
		return 0, nil, dbError(err, nil)
	}
	defer func() { err = errors.Join(err, dbError(rows.Close(), nil)) }()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, nil, dbError(err, nil)
		}
		return 0, nil, conversation.ErrNotFound
	}
	var version int64
	var data sql.RawBytes
	if err := rows.Scan(&version, &data); err != nil {
		return 0, nil, dbError(err, nil)
	}
	if data == nil {
		return version, nil, nil
	}
	run, err := decodePart(data)
	if err != nil {
		return 0, nil, dbError(fmt.Errorf("conversation %d part %d: %w", conversationID, part, err), nil)
	}
	out := make([]model.Sentence, len(run))
	for i, s := range run {
		out[i] = s.sentence(conversationID, tenantID)
	}
	return version, out, nil
}
