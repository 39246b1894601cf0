package dao

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	// Parts are decoded for every index write and transcript read;
	// encoding/json took several times as long on them.
	json "github.com/goccy/go-json"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// Limits of one transcript part. The size is bounded before encoding, by
// the most a sentence can take as JSON (every byte of its strings escaped
// as \u00XX), so a part never comes near MySQL's max_allowed_packet
// whatever the text holds; ordinary transcripts of up to partSentences
// sentences are one part.
const (
	partSentences = 1000
	partBytes     = 4 << 20
)

// storedSentence is a sentence as a part holds it: the field names of the
// API, so that the rows read plainly with SQL's JSON functions.
type storedSentence struct {
	Seq        int    `json:"seq"`
	SpeakerKey string `json:"speaker_key"`
	StartMS    int64  `json:"start_ms"`
	EndMS      int64  `json:"end_ms"`
	Text       string `json:"text"`
}

// maxEncoded is the most a sentence can take in a part.
func maxEncoded(s model.Sentence) int {
	return 96 + 6*(len(s.SpeakerKey)+len(s.Text))
}

// TranscriptParts splits a transcript (in seq order) into the parts
// ReplaceTranscripts stores; bulk loaders that write the table directly use
// it too.
func TranscriptParts(c model.Conversation, sentences []model.Sentence) ([]model.TranscriptPart, error) {
	var parts []model.TranscriptPart
	for start := 0; start < len(sentences); {
		end, size := start, 0
		for end < len(sentences) && end-start < partSentences {
			n := maxEncoded(sentences[end])
			if end > start && size+n > partBytes {
				break
			}
			size += n
			end++
		}
		run := make([]storedSentence, end-start)
		for i, s := range sentences[start:end] {
			run[i] = stored(s)
		}
		data, err := json.Marshal(run)
		if err != nil {
			return nil, fmt.Errorf("encoding transcript part: %w", err)
		}
		parts = append(parts, model.TranscriptPart{ConversationID: c.ID, Part: len(parts), TenantID: c.TenantID, Sentences: string(data)})
		start = end
	}
	return parts, nil
}

// stored is a sentence as a part holds it.
func stored(s model.Sentence) storedSentence {
	return storedSentence{Seq: s.Seq, SpeakerKey: s.SpeakerKey, StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text}
}

// sentence is s as a sentence of conversation cid of tenant tid.
func (s storedSentence) sentence(cid, tid int64) model.Sentence {
	return model.Sentence{ConversationID: cid, Seq: s.Seq, TenantID: tid, SpeakerKey: s.SpeakerKey, StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text}
}

// decodePart reads the sentences of one part, in seq order. The decoder
// copies every string, so data may be the driver's own buffer.
func decodePart(data []byte) ([]storedSentence, error) {
	var run []storedSentence
	if err := json.Unmarshal(data, &run); err != nil {
		return nil, fmt.Errorf("decoding transcript part: %w", err)
	}
	// Parts the migration built from rows are ordered by the database;
	// check rather than trust it.
	if !slices.IsSortedFunc(run, bySeq) {
		slices.SortFunc(run, bySeq)
	}
	return run, nil
}

func bySeq(a, b storedSentence) int { return cmp.Compare(a.Seq, b.Seq) }

// partRow is a part as the readers select it.
type partRow struct {
	ConversationID int64
	TenantID       int64
	Sentences      []byte
}

// readParts calls fn with the sentences of each part of the conversations
// ids, in conversation id, part order. tenantID 0 reads any tenant's (the
// indexer, which works across tenants).
func readParts(db *gorm.DB, tenantID int64, ids []int64, fn func(conversationID, tenantID int64, run []storedSentence) error) (err error) {
	q := db.Model(&model.TranscriptPart{}).Select("conversation_id, tenant_id, sentences").Where("conversation_id IN ?", ids)
	if tenantID != 0 {
		q = q.Where("tenant_id = ?", tenantID)
	}
	rows, err := q.Order("conversation_id").Order("part").Rows()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	for rows.Next() {
		var r partRow
		if err := rows.Scan(&r.ConversationID, &r.TenantID, &r.Sentences); err != nil {
			return err
		}
		run, err := decodePart(r.Sentences)
		if err != nil {
			return fmt.Errorf("conversation %d: %w", r.ConversationID, err)
		}
		if err := fn(r.ConversationID, r.TenantID, run); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readSentences returns the transcripts of ids as model sentences, in
// conversation id, seq order.
func readSentences(db *gorm.DB, tenantID int64, ids []int64) ([]model.Sentence, error) {
	var out []model.Sentence
	err := readParts(db, tenantID, ids, func(cid, tid int64, run []storedSentence) error {
		for _, s := range run {
			out = append(out, s.sentence(cid, tid))
		}
		return nil
	})
	return out, err
}
