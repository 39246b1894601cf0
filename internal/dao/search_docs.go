package dao

import (
	"context"
	"database/sql"

	"gorm.io/gorm"

	logicsearch "github.com/megaview/mgvcore/internal/logic/search"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
)

// SearchDocs reads conversations from MySQL, the source of truth, into the
// documents the search engines index.
type SearchDocs struct{ db *gorm.DB }

// NewSearchDocs works on db.
func NewSearchDocs(db *gorm.DB) *SearchDocs { return &SearchDocs{db: db} }

// Load builds the documents of the conversations ids, read in one
// transaction so that each is a consistent snapshot (never the metadata of
// one transcript version with the sentences of another). The transcripts
// known (may be nil) gives are not read again. Ids missing from the result
// no longer exist.
func (r *SearchDocs) Load(ctx context.Context, ids []int64, known logicsearch.KnownTranscripts) (map[int64]*search.Doc, map[int64]logicsearch.Stamp, error) {
	docs := make(map[int64]*search.Doc, len(ids))
	stamps := make(map[int64]logicsearch.Stamp, len(ids))
	if len(ids) == 0 {
		return docs, stamps, nil
	}
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var convs []model.Conversation
		if err := tx.Where("id IN ?", ids).Find(&convs).Error; err != nil {
			return err
		}
		if len(convs) == 0 {
			return nil
		}
		owners := make([]int64, 0, len(convs))
		present := make([]int64, 0, len(convs))
		for _, c := range convs {
			owners = append(owners, c.OwnerUserID)
			present = append(present, c.ID)
		}
		var paths []struct {
			ID   int64
			Path sql.NullString
		}
		err := tx.Table("users AS u").Select("u.id, d.path").
			Joins("LEFT JOIN departments AS d ON d.id = u.department_id AND d.tenant_id = u.tenant_id").
			Where("u.id IN ?", owners).Scan(&paths).Error
		if err != nil {
			return err
		}
		pathOf := make(map[int64]string, len(paths))
		for _, p := range paths {
			pathOf[p.ID] = p.Path.String
		}
		var parts []model.Participant
		if err := tx.Select("conversation_id, speaker_key, affiliation").Where("conversation_id IN ?", present).Find(&parts).Error; err != nil {
			return err
		}
		affiliation := make(map[int64]map[string]string, len(convs))
		for _, p := range parts {
			if affiliation[p.ConversationID] == nil {
				affiliation[p.ConversationID] = map[string]string{}
			}
			affiliation[p.ConversationID][p.SpeakerKey] = p.Affiliation
		}
		// add appends a sentence to its conversation's document, with the
		// speaker's affiliation.
		add := func(cid int64, st storedSentence) {
			a := affiliation[cid][st.SpeakerKey]
			if a == "" {
				a = model.AffiliationUnknown
			}
			d := docs[cid]
			d.Sentences = append(d.Sentences, search.Sentence{Seq: st.Seq, SpeakerKey: st.SpeakerKey,
				Affiliation: a, StartMS: st.StartMS, EndMS: st.EndMS, Text: st.Text})
		}
		read := make([]int64, 0, len(convs))
		for _, c := range convs {
			d := &search.Doc{
				TenantID: c.TenantID, ConversationID: c.ID, OwnerUserID: c.OwnerUserID, DepartmentPath: pathOf[c.OwnerUserID],
				Title: c.Title, Channel: c.Channel, Direction: c.Direction, BeginTime: c.BeginTime.UTC(),
				DurationMS: c.DurationMS, Language: c.Language, Version: c.TranscriptVersion,
				Sentences: make([]search.Sentence, 0, c.SentenceCount),
			}
			if c.DealID != nil {
				d.DealID = *c.DealID
			}
			docs[c.ID] = d
			stamps[c.ID] = logicsearch.Stamp{Version: c.TranscriptVersion, UpdatedAt: c.UpdatedAt.UTC()}
			sentences, ok := []model.Sentence(nil), false
			if known != nil {
				sentences, ok = known(c.ID, c.TranscriptVersion)
			}
			if !ok {
				read = append(read, c.ID)
				continue
			}
			for _, st := range sentences {
				add(c.ID, stored(st))
			}
		}
		if len(read) == 0 {
			return nil
		}
		return readParts(tx, 0, read, func(cid, _ int64, run []storedSentence) error {
			for _, st := range run {
				add(cid, st)
			}
			return nil
		})
	}, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, dbError(err, nil)
	}
	return docs, stamps, nil
}

// Stamps reads the current stamps of conversations.
func (r *SearchDocs) Stamps(ctx context.Context, ids []int64) (map[int64]logicsearch.Stamp, error) {
	out := make(map[int64]logicsearch.Stamp, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.Conversation
	err := r.db.WithContext(ctx).Select("id, transcript_version, updated_at").Where("id IN ?", ids).Find(&rows).Error
	for _, c := range rows {
		out[c.ID] = logicsearch.Stamp{Version: c.TranscriptVersion, UpdatedAt: c.UpdatedAt.UTC()}
	}
	return out, dbError(err, nil)
}

// ConversationIDs lists up to limit conversation ids above after, in id
// order, of one tenant (0: of all).
func (r *SearchDocs) ConversationIDs(ctx context.Context, tenantID, after int64, limit int) ([]int64, error) {
	q := r.db.WithContext(ctx).Model(&model.Conversation{}).Where("id > ?", after)
	if tenantID != 0 {
		q = q.Where("tenant_id = ?", tenantID)
	}
	var ids []int64
	err := q.Order("id").Limit(limit).Pluck("id", &ids).Error
	return ids, dbError(err, nil)
}
