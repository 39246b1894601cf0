package dao

import (
	"context"
	"database/sql"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// The free text an erasure looks through for mentions of the person: a
// conversation's title, custom data and origin id (a call centre's call id
// often holds the caller's number), its transcript, the names of its
// speakers who are not users and its comments, a deal's name and account
// name, and the data of the tenant's partner events. Names and comments
// are cut to their columns after a redaction, in characters.
const (
	titleChars   = 255
	nameChars    = 255
	commentChars = 2000
	// originChars and originBytes bound an origin id (128 characters, in
	// a VARBINARY(512) column).
	originChars = 128
	originBytes = 512
	// eventDataChars bounds an event's data (VARCHAR(2048)).
	eventDataChars = 2048
)

// mentionBatchBytes bounds the transcript text one FindMentions reads:
// once a conversation takes its batch past it, the batch ends there, so
// that a batch of long transcripts (up to 80 MB each) is read, and its
// job's lease renewed, in seconds, and its rewrite holds no more.
var mentionBatchBytes = 32 << 20

// FindMentions reads the free text of up to limit of the tenant's
// conversations with ids above after and up to upTo (changed, or commented
// on, at or after since, when it is not zero), in id order, and returns
// those where spans finds a mention, with the last id read (0 when none
// was left). The sentences of a transcript part are looked at
// together, one line each, so that a number split across sentences (as
// speech recognition splits one read out slowly) is found. A batch whose
// transcripts run past mentionBatchBytes ends with the conversation that
// took it there.
func (p *Privacy) FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(text string) [][2]int) (found []int64, last int64, err error) {
	in := func(text string) bool { return len(spans(text)) > 0 }
	db := conn(ctx, p.db)
	var convs []struct {
		ID                   int64
		Title                string
		CustomData           sql.NullString
		OriginConversationID string
	}
	q, args := "SELECT id, title, custom_data, origin_conversation_id FROM conversations WHERE tenant_id = ? AND id > ? AND id <= ?", []any{tenantID, after, upTo}
	if !since.IsZero() {
		q += " AND (updated_at >= ? OR id IN (SELECT conversation_id FROM comments WHERE tenant_id = ? AND created_at >= ?))"
		args = append(args, since.UTC(), tenantID, since.UTC())
	}
	err = db.Raw(q+" ORDER BY id LIMIT ?", append(args, limit)...).Scan(&convs).Error
	if err != nil || len(convs) == 0 {
		return nil, 0, dbError(err, nil)
	}
	ids := make([]int64, len(convs))
	hit := map[int64]bool{}
	for i, c := range convs {
		ids[i] = c.ID
		if in(c.Title) || mentionedInJSON(c.CustomData.String, in) || in(c.OriginConversationID) {
			hit[c.ID] = true
		}
	}
	// One conversation's transcript at a time: a result set closed early
	// is still sent whole by MySQL (its driver reads the rest to discard
	// it), so the batch stops between queries.
	read := 0
	for i, id := range ids {
		err = readParts(db, tenantID, []int64{id}, func(cid, _ int64, run []storedSentence) error {
			text, _ := joinRun(run)
			read += len(text)
			if !hit[cid] {
				hit[cid] = in(text)
			}
			return nil
		})
		if err != nil {
			return nil, 0, dbError(err, nil)
		}
		if read >= mentionBatchBytes {
			ids = ids[:i+1]
			break
		}
	}
	texts := func(q string) error {
		rows, err := db.Raw(q, tenantID, ids).Rows()
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var id int64
			var text string
			if err := rows.Scan(&id, &text); err != nil {
				return err
			}
			if !hit[id] && in(text) {
				hit[id] = true
			}
		}
		return rows.Err()
	}
	for _, q := range []string{
		"SELECT conversation_id, name FROM participants WHERE tenant_id = ? AND conversation_id IN ? AND user_id IS NULL AND name <> ''",
		"SELECT conversation_id, text FROM comments WHERE tenant_id = ? AND conversation_id IN ? AND text <> ''",
	} {
		if err := texts(q); err != nil {
			return nil, 0, dbError(err, nil)
		}
	}
	for _, id := range ids {
		if hit[id] {
			found = append(found, id)
		}
	}
	return found, ids[len(ids)-1], nil
}

// joinRun is the text of a run of sentences, one line each, and where
// each sentence's text begins in it.
func joinRun(run []storedSentence) (string, []int) {
	var b strings.Builder
	starts := make([]int, len(run))
	for i, st := range run {
		if i > 0 {
			b.WriteByte('\n')
		}
		starts[i] = b.Len()
		b.WriteString(st.Text)
	}
	return b.String(), starts
}

// redactRun writes model.Redacted over the mentions spans finds in a run of
// sentences, looked at together (joinRun): a mention within a sentence is
// replaced, and one running over several has its first sentence's piece
// replaced and the pieces in the others removed. It reports whether
// there was any.
func redactRun(run []storedSentence, spans func(string) [][2]int) bool {
	text, starts := joinRun(run)
	found := spans(text)
	if len(found) == 0 {
		return false
	}
	pieces := make([][][2]int, len(run)) // per sentence, its ranges; the first of a mention is written over
	over := make([][]bool, len(run))
	for _, sp := range found {
		first := true
		for i := range run {
			lo := starts[i]
			from, to := max(sp[0], lo), min(sp[1], lo+len(run[i].Text))
			if from >= to {
				continue
			}
			pieces[i] = append(pieces[i], [2]int{from - lo, to - lo})
			over[i] = append(over[i], first)
			first = false
		}
	}
	for i, ps := range pieces {
		if len(ps) == 0 {
			continue
		}
		var b strings.Builder
		at, t := 0, run[i].Text
		for k, p := range ps {
			b.WriteString(t[at:p[0]])
			if over[i][k] {
				b.WriteString(model.Redacted)
			}
			at = p[1]
		}
		b.WriteString(t[at:])
		run[i].Text = b.String()
	}
	return true
}

// redactText writes model.Redacted over the mentions spans finds in text,
// and reports whether there was any.
func redactText(text string, spans func(string) [][2]int) (string, bool) {
	found := spans(text)
	return model.Redact(text, found), len(found) > 0
}

// mentionedInJSON reports whether a JSON document mentions the person in
// any of its keys, strings or numbers, decoded; a document that mentions
// them nowhere as written and escapes nothing is not decoded.
func mentionedInJSON(doc string, in func(string) bool) bool {
	if !in(doc) && !strings.Contains(doc, `\`) {
		return false
	}
	v, ok := decodeJSON(doc)
	if !ok {
		return in(doc)
	}
	found := false
	walkJSON(v, func(s string) string {
		found = found || in(s)
		return s
	})
	return found
}

// redactJSON applies redact to every key, string and number of a JSON
// document, decoded, and encodes it again when that changed any: a number
// that is a mention becomes the string Redacted. Text that is not JSON is
// redacted as text.
func redactJSON(doc string, redact func(string) (string, bool)) (string, bool, error) {
	if _, ok := redact(doc); !ok && !strings.Contains(doc, `\`) {
		return doc, false, nil
	}
	v, ok := decodeJSON(doc)
	if !ok {
		out, changed := redact(doc)
		return out, changed, nil
	}
	changed := false
	v = walkJSON(v, func(s string) string {
		out, ok := redact(s)
		changed = changed || ok
		return out
	})
	if !changed {
		return doc, false, nil
	}
	data, err := stdjson.Marshal(v)
	if err == nil && !stdjson.Valid(data) {
		err = errors.New("the redacted document is not valid JSON")
	}
	return string(data), true, err
}

// decodeJSON decodes one JSON document, its numbers kept as written.
func decodeJSON(doc string) (any, bool) {
	d := stdjson.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil || d.More() {
		return nil, false
	}
	return v, true
}

// hasKey reports whether m has the key k.
func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// walkJSON replaces every key, string and number of a decoded JSON value
// by fn of it (a number fn changes becomes a string).
func walkJSON(v any, fn func(string) string) any {
	switch x := v.(type) {
	case string:
		return fn(x)
	case stdjson.Number:
		if out := fn(x.String()); out != x.String() {
			return out
		}
	case []any:
		for i := range x {
			x[i] = walkJSON(x[i], fn)
		}
	case map[string]any:
		// A key changed to one the object has, or another changed key
		// took, is numbered: {"138…": 1, "[erased]": 2} keeps both values.
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			changed := fn(k)
			key := changed
			for n := 2; key != k && (hasKey(x, key) || hasKey(out, key)); n++ {
				key = changed + " " + strconv.Itoa(n)
			}
			out[key] = walkJSON(x[k], fn)
		}
		return out
	}
	return v
}

// RedactConversations rewrites the free text of the tenant's conversations
// ids with redact, in the transaction ctx carries: titles, custom data,
// transcripts, the names of speakers who are not users, comments. Each
// conversation's row is written first, its transcript version raised,
// which locks it against a concurrent transcript write (which waits, and
// then writes a version above it) and tells every instance's indexer that
// the transcript it may keep is stale; its re-indexing is queued. A
// conversation where a speaker who is not a user is the person (speaks
// holds for their name or speaker key, read under that lock) is left as it
// is: it is theirs to delete, and its speaker's label is how the erasure
// finds it again. It returns how many conversations had a mention.
func (p *Privacy) RedactConversations(ctx context.Context, tenantID int64, ids []int64, spans func(string) [][2]int, speaks func(name string) bool) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	redact := func(text string) (string, bool) { return redactText(text, spans) }
	db := conn(ctx, p.db)
	now := dbNow()
	if err := db.Exec("UPDATE conversations SET transcript_version = transcript_version + 1, updated_at = ? WHERE tenant_id = ? AND id IN ?",
		now, tenantID, ids).Error; err != nil {
		return 0, dbError(err, nil)
	}
	spoken, err := spokenIn(db, tenantID, ids, speaks)
	if err != nil {
		return 0, dbError(err, nil)
	}
	var convs []model.Conversation
	if err := db.Select("id, tenant_id, title, custom_data, origin_conversation_id, transcript_version").Where("tenant_id = ? AND id IN ?", tenantID, ids).
		Order("id").Find(&convs).Error; err != nil {
		return 0, dbError(err, nil)
	}
	changed := map[int64]bool{}
	// requested: the conversations where what a create request gave (a
	// title, custom data, an origin id, a speaker's name) was rewritten.
	requested := map[int64]bool{}
	jobs := make([]model.OutboxJob, 0, len(convs))
	for _, c := range convs {
		jobs = append(jobs, model.OutboxJob{TenantID: tenantID, Kind: model.OutboxTranscript, ConversationID: c.ID, Version: c.TranscriptVersion})
		if spoken[c.ID] {
			continue
		}
		title, t := redact(c.Title)
		data, d, err := redactJSON(c.CustomData, redact)
		if err != nil {
			return 0, fmt.Errorf("conversation %d custom_data: %w", c.ID, err)
		}
		origin, o := redact(c.OriginConversationID)
		if !t && !d && !o {
			continue
		}
		changed[c.ID], requested[c.ID] = true, true
		if err := db.Exec("UPDATE conversations SET title = ?, custom_data = ? WHERE id = ?", runes(title, titleChars), data, c.ID).Error; err != nil {
			return 0, dbError(err, nil)
		}
		if o {
			if err := redactOrigin(db, c.ID, origin); err != nil {
				return 0, err
			}
		}
	}
	if ids = slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return spoken[id] }); len(ids) == 0 {
		return 0, dbError(enqueue(db, jobs...), nil)
	}
	if err := redactParts(db, tenantID, ids, spans, changed); err != nil {
		return 0, dbError(err, nil)
	}
	for _, col := range []struct {
		table, column, where string
		chars                int
	}{
		{"participants", "name", "user_id IS NULL AND name <> ''", nameChars},
		{"comments", "text", "text <> ''", commentChars},
	} {
		q := fmt.Sprintf("SELECT id, conversation_id, %s FROM %s WHERE tenant_id = ? AND conversation_id IN ? AND %s", col.column, col.table, col.where)
		err := redactRows(db, q, []any{tenantID, ids}, func(cid int64, text string) (string, bool) {
			out, ok := redact(text)
			if ok {
				changed[cid] = true
				if col.table == "participants" {
					requested[cid] = true
				}
			}
			return runes(out, col.chars), ok
		}, fmt.Sprintf("UPDATE %s SET %s = ? WHERE id = ?", col.table, col.column))
		if err != nil {
			return 0, dbError(err, nil)
		}
	}
	if err := forgetRequests(db, slices.Collect(maps.Keys(requested))); err != nil {
		return 0, dbError(err, nil)
	}
	return len(changed), dbError(enqueue(db, jobs...), nil)
}

// forgetRequests gives the conversations ids the request hash
// model.ErasedRequest.
func forgetRequests(db *gorm.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return db.Exec("UPDATE conversations SET request_hash = ? WHERE id IN ?", model.ErasedRequest, ids).Error
}

// spokenIn are the conversations of ids where a speaker who is not a user
// has a name or a speaker key for which speaks holds.
func spokenIn(db *gorm.DB, tenantID int64, ids []int64, speaks func(string) bool) (map[int64]bool, error) {
	if speaks == nil {
		return nil, nil
	}
	var names []struct {
		ConversationID int64
		Name           string
		SpeakerKey     string
	}
	if err := db.Raw("SELECT conversation_id, name, speaker_key FROM participants WHERE tenant_id = ? AND conversation_id IN ? AND user_id IS NULL",
		tenantID, ids).Scan(&names).Error; err != nil {
		return nil, err
	}
	spoken := map[int64]bool{}
	for _, n := range names {
		if speaks(n.Name) || speaks(n.SpeakerKey) {
			spoken[n.ConversationID] = true
		}
	}
	return spoken, nil
}

// redactParts rewrites the transcript parts of ids that hold a mention,
// marking their conversations changed.
func redactParts(db *gorm.DB, tenantID int64, ids []int64, spans func(string) [][2]int, changed map[int64]bool) error {
	return rewriteParts(db, tenantID, ids, "", func(cid int64, run []storedSentence) bool {
		if !redactRun(run, spans) {
			return false
		}
		changed[cid] = true
		return true
	})
}

// rewriteParts runs fn over each transcript part of ids, and writes back
// those it changed (fn returns true); lock ends its reads (forUpdate: the
// latest parts, whatever snapshot the transaction holds).
func rewriteParts(db *gorm.DB, tenantID int64, ids []int64, lock string, fn func(conversationID int64, run []storedSentence) bool) error {
	// The parts are read one at a time (each up to 1,000 sentences), not
	// the batch's transcripts at once: a batch of long ones would hold
	// gigabytes.
	type part struct {
		ConversationID int64
		Part           int
		Sentences      []byte
	}
	var keys []part
	if err := db.Raw("SELECT conversation_id, part FROM transcript_parts WHERE tenant_id = ? AND conversation_id IN ? ORDER BY conversation_id, part"+lock,
		tenantID, ids).Scan(&keys).Error; err != nil {
		return err
	}
	for _, pt := range keys {
		if err := db.Raw("SELECT sentences FROM transcript_parts WHERE conversation_id = ? AND part = ?"+lock, pt.ConversationID, pt.Part).
			Row().Scan(&pt.Sentences); err != nil {
			return err
		}
		run, err := decodePart(pt.Sentences)
		if err != nil {
			return fmt.Errorf("conversation %d part %d: %w", pt.ConversationID, pt.Part, err)
		}
		if !fn(pt.ConversationID, run) {
			continue
		}
		data, err := json.Marshal(run)
		if err != nil {
			return fmt.Errorf("encoding transcript part: %w", err)
		}
		if err := db.Exec("UPDATE transcript_parts SET sentences = ? WHERE conversation_id = ? AND part = ?", string(data), pt.ConversationID, pt.Part).Error; err != nil {
			return err
		}
	}
	return nil
}

// redactRows runs query, which selects a row's id, its conversation's id
// and a text, and writes update (text, id) for each row whose text fn
// changes.
func redactRows(db *gorm.DB, query string, args []any, fn func(conversationID int64, text string) (string, bool), update string) error {
	type row struct {
		ID, ConversationID int64
		Text               string
	}
	var rows []row
	r, err := db.Raw(query, args...).Rows()
	if err != nil {
		return err
	}
	for r.Next() {
		var x row
		if err := r.Scan(&x.ID, &x.ConversationID, &x.Text); err != nil {
			return errors.Join(err, r.Close())
		}
		rows = append(rows, x)
	}
	if err := errors.Join(r.Err(), r.Close()); err != nil {
		return err
	}
	for _, x := range rows {
		if text, ok := fn(x.ConversationID, x.Text); ok {
			if err := db.Exec(update, text, x.ID).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

// RedactDeals writes model.Redacted over the mentions spans finds in the
// names and account names of up to limit of the tenant's deals with ids
// above after (changed at or after since, when it is not zero), in id
// order, and returns the last id read (0 when none was left) and how many
// deals had a mention. A deal's row is written only while it still holds
// what was read: an upsert made meanwhile wins, and is read again by a
// later call with since.
func (p *Privacy) RedactDeals(ctx context.Context, tenantID, after int64, limit int, since time.Time, spans func(string) [][2]int) (last int64, n int, err error) {
	redact := func(text string) (string, bool) { return redactText(text, spans) }
	db := conn(ctx, p.db)
	q := db.Select("id, name, account_name").Where("tenant_id = ? AND id > ?", tenantID, after)
	if !since.IsZero() {
		q = q.Where("updated_at >= ?", since.UTC())
	}
	var deals []model.Deal
	if err := q.Order("id").Limit(limit).Find(&deals).Error; err != nil {
		return 0, 0, dbError(err, nil)
	}
	for _, d := range deals {
		last = d.ID
		name, a := redact(d.Name)
		account, b := redact(d.AccountName)
		if !a && !b {
			continue
		}
		n++
		err := db.Exec("UPDATE deals SET name = ?, account_name = ?, updated_at = ? WHERE id = ? AND name = ? AND account_name = ?",
			runes(name, nameChars), runes(account, nameChars), dbNow(), d.ID, d.Name, d.AccountName).Error
		if err != nil {
			return 0, 0, dbError(err, nil)
		}
	}
	return last, n, nil
}

// redactOrigin gives a conversation its origin id redacted: that one while
// it fits its column and no other conversation of the tenant has it (two
// call ids may differ only by the number that was erased), else it
// followed by "#" and the conversation's id, else Redacted followed by
// them. Each is tried by its UPDATE, whose unique key decides: a check
// before it would not see what another erasure is writing (MySQL waits
// for that one's commit, then answers a duplicate), and a duplicate undoes
// that statement alone. The partner's old id no longer finds the
// conversation: ingested again, it makes a new one.
func redactOrigin(db *gorm.DB, id int64, redacted string) error {
	for _, origin := range []string{redacted, fmt.Sprintf("%s#%d", redacted, id), fmt.Sprintf("%s#%d", model.Redacted, id)} {
		if utf8.RuneCountInString(origin) > originChars || len(origin) > originBytes {
			continue
		}
		err := db.Exec("UPDATE conversations SET origin_conversation_id = ? WHERE id = ?", origin, id).Error
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			return dbError(err, nil)
		}
	}
	return errs.Conflict("conversation %d: every redacted origin id it could take is another conversation's; the erasure tries again", id)
}

// RedactEvents writes model.Redacted over the mentions spans finds in the
// string values of the data of up to limit of the tenant's partner events
// with ids above after (but those of conversations above upTo, which the
// erasure does not cover), in id order, and returns the last id read (0 when
// none was left) and how many events had a mention. Events carry ids, but
// a partner's ids (a call id holding the caller's number) are theirs to
// choose; the log is read whole, as it is kept only events.retention, and
// a webhook delivery or a redelivery reads the event as it is now.
func (p *Privacy) RedactEvents(ctx context.Context, tenantID, after, upTo int64, limit int, spans func(string) [][2]int) (last int64, n int, err error) {
	redact := func(text string) (string, bool) { return redactText(text, spans) }
	db := conn(ctx, p.db)
	var events []struct {
		ID   int64
		Data string
	}
	if err := db.Raw("SELECT id, data FROM events WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?", tenantID, after, limit).
		Scan(&events).Error; err != nil {
		return 0, 0, dbError(err, nil)
	}
	for _, ev := range events {
		last = ev.ID
		var about struct {
			ConversationID int64 `json:"conversation_id"`
		}
		if json.Unmarshal([]byte(ev.Data), &about) == nil && about.ConversationID > upTo {
			// A conversation ingested after the erasure was asked for is
			// outside it, and keeps what it was created with.
			continue
		}
		data, ok, err := redactJSON(ev.Data, redact)
		if err != nil {
			return 0, 0, fmt.Errorf("event %d data: %w", ev.ID, err)
		}
		if !ok {
			continue
		}
		if utf8.RuneCountInString(data) > eventDataChars {
			return 0, 0, fmt.Errorf("event %d data: %d characters once redacted, over %d", ev.ID, utf8.RuneCountInString(data), eventDataChars)
		}
		n++
		if err := db.Exec("UPDATE events SET data = ? WHERE tenant_id = ? AND id = ?", data, tenantID, ev.ID).Error; err != nil {
			return 0, 0, dbError(err, nil)
		}
	}
	return last, n, nil
}

// ClearWebhookAnswers cuts the receivers' answers that earlier versions
// kept in the tenant's webhook delivery log down to their status, among
// the deliveries with ids in (after, after+span] (see clearAnswers): an
// answer often quoted what the receiver refused, the person's number or a
// partner's id holding it, and such a row lasts until the log is trimmed.
// It returns where to go on from (0: the log is read through) and how
// many it cut.
func (p *Privacy) ClearWebhookAnswers(ctx context.Context, tenantID, after int64, span int) (int64, int, error) {
	return clearAnswers(conn(ctx, p.db), tenantID, after, span)
}

// runes is s cut to at most n characters.
func runes(s string, n int) string {
	i := 0
	for at := range s {
		if i == n {
			return s[:at]
		}
		i++
	}
	return s
}
