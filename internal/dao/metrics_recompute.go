package dao

import (
	"context"
	"strings"

	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// StaleMetrics lists, in id order, up to limit conversations after the id
// after whose metrics an algorithm older than version computed (one
// tenant's, or every tenant's when tenantID is 0). The primary key orders
// the walk, so a batch reads only its rows however many are current.
func (r *Conversations) StaleMetrics(ctx context.Context, tenantID, after int64, version, limit int) ([]conversation.MetricsKey, error) {
	q := conn(ctx, r.db).Table("conversation_metrics").Select("conversation_id, tenant_id").
		Where("conversation_id > ? AND algo_version < ?", after, version)
	if tenantID != 0 {
		q = q.Where("tenant_id = ?", tenantID)
	}
	var out []conversation.MetricsKey
	err := q.Order("conversation_id").Limit(limit).Scan(&out).Error
	return out, dbError(err, nil)
}

// MetricsSource reads what a conversation's metrics are computed from:
// its duration, its speakers' sides and its transcript. A conversation
// not there (deleted meanwhile) is conversation.ErrNotFound.
func (r *Conversations) MetricsSource(ctx context.Context, k conversation.MetricsKey) (conversation.MetricsSource, error) {
	var src conversation.MetricsSource
	db := conn(ctx, r.db)
	var c model.Conversation
	err := db.Select("duration_ms, transcript_version").Where("tenant_id = ? AND id = ?", k.TenantID, k.ConversationID).Take(&c).Error
	if err != nil {
		return src, dbError(err, conversation.ErrNotFound)
	}
	src.DurationMS, src.TranscriptVersion = c.DurationMS, c.TranscriptVersion
	if src.Speakers, err = r.Participants(ctx, k.TenantID, k.ConversationID); err != nil {
		return src, err
	}
	src.Sentences, err = r.Sentences(ctx, k.TenantID, k.ConversationID)
	return src, err
}

// ReplaceStaleMetrics stores m, computed from the transcript of version
// transcriptVersion, over metrics an older algorithm than m.AlgoVersion
// computed, and reports whether it did. Metrics of that version or later
// are left as they are, and so are those of a conversation whose
// transcript was written again since (whatever version computed its
// metrics: an instance of the release before may have written it), or
// that was deleted meanwhile.
func (r *Conversations) ReplaceStaleMetrics(ctx context.Context, m model.ConversationMetrics, transcriptVersion int64) (bool, error) {
	args := appendMetrics(make([]any, 0, len(metricsColumns)+5), m)[2:] // the values, then the key
	args = append(args, m.ConversationID, m.TenantID, m.AlgoVersion, m.ConversationID, m.TenantID, transcriptVersion)
	res := conn(ctx, r.db).Exec(replaceStaleMetricsSQL, args...)
	return res.RowsAffected == 1, dbError(res.Error, nil)
}

// replaceStaleMetricsSQL sets every column of conversation_metrics but
// the key (conversation_id, tenant_id), where the metrics are older.
var replaceStaleMetricsSQL = "UPDATE conversation_metrics SET " + strings.Join(metricsColumns[2:], " = ?, ") + " = ? " +
	"WHERE conversation_id = ? AND tenant_id = ? AND algo_version < ? " +
	"AND EXISTS (SELECT 1 FROM conversations WHERE id = ? AND tenant_id = ? AND transcript_version = ?)"
