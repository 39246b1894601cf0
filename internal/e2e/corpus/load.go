package corpus

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/elastic"
)

// stream generates the conversations [0, n) in order, in batches of size,
// on a channel that holds at most depth batches: memory stays bounded
// whatever the corpus size.
func stream(ctx context.Context, n, size, depth int, gen func(i int) *Conversation) <-chan []*Conversation {
	out := make(chan []*Conversation, depth)
	go func() {
		defer close(out)
		for from := 0; from < n; from += size {
			batch := make([]*Conversation, 0, size)
			for i := from; i < min(from+size, n); i++ {
				batch = append(batch, gen(i))
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// work generates the n conversations of gen in batches of size and runs fn
// on every batch from workers goroutines, calling progress (when not nil)
// with the number of conversations done after each batch; it returns the
// first error, which stops the generation.
func work(ctx context.Context, n, size, workers int, gen func(int) *Conversation, fn func(context.Context, []*Conversation) error, progress func(conversations int)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := stream(ctx, n, size, 2*workers, gen)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		mu    sync.Mutex
		done  int
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(ctx, b); err != nil {
					once.Do(func() { first = err; cancel() })
					continue
				}
				if progress != nil {
					mu.Lock()
					done += len(b)
					n := done
					mu.Unlock()
					progress(n)
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// partsBytes is about how much transcript one INSERT carries, far below
// MySQL's packet limit.
const partsBytes = 4 << 20

// LoadMySQL inserts the conversations of g, with their participants and
// sentences, as multi-row INSERTs from workers connections, one transaction
// per batch of conversations. The tenant and the owners must exist; the
// conversation ids must be free. db should interpolate parameters
// (interpolateParams=true) to spare a round trip per statement.
func LoadMySQL(ctx context.Context, db *sql.DB, g *Generator, workers int, progress func(conversations int)) error {
	return work(ctx, g.Spec.Conversations, 32, workers, g.Conversation, func(ctx context.Context, b []*Conversation) error {
		return insertBatch(ctx, db, b)
	}, progress)
}

func insertBatch(ctx context.Context, db *sql.DB, b []*Conversation) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var (
		q    strings.Builder
		args []any
	)
	flush := func(what string) error {
		if len(args) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, q.String(), args...)
		q.Reset()
		args = args[:0]
		if err != nil {
			return fmt.Errorf("inserting %s: %w", what, err)
		}
		return nil
	}
	row := func(head string, n int) {
		if len(args) == 0 {
			q.WriteString(head)
		} else {
			q.WriteByte(',')
		}
		q.WriteString("(?" + strings.Repeat(",?", n-1) + ")")
	}

	const convHead = "INSERT INTO conversations (id, tenant_id, origin_conversation_id, owner_user_id, deal_id, title, channel, " +
		"direction, begin_time, duration_ms, language, status, custom_data, request_hash, transcript_version, sentence_count, " +
		"created_at, updated_at) VALUES "
	for _, c := range b {
		d := c.Doc
		row(convHead, 18)
		args = append(args, d.ConversationID, d.TenantID, c.Origin, d.OwnerUserID, nil, d.Title, d.Channel,
			d.Direction, d.BeginTime, d.DurationMS, d.Language, "ready", "{}", "", d.Version, len(d.Sentences),
			c.CreatedAt, c.CreatedAt)
	}
	if err := flush("conversations"); err != nil {
		return err
	}
	const partHead = "INSERT INTO participants (tenant_id, conversation_id, speaker_key, user_id, name, affiliation) VALUES "
	for _, c := range b {
		for _, p := range c.Participants {
			var user any
			if p.UserID != 0 {
				user = p.UserID
			}
			row(partHead, 6)
			args = append(args, c.Doc.TenantID, c.Doc.ConversationID, p.SpeakerKey, user, p.Name, p.Affiliation)
		}
	}
	if err := flush("participants"); err != nil {
		return err
	}
	const partsHead = "INSERT INTO transcript_parts (conversation_id, part, tenant_id, sentences) VALUES "
	size := 0
	for _, c := range b {
		sentences := make([]model.Sentence, len(c.Doc.Sentences))
		for i, s := range c.Doc.Sentences {
			sentences[i] = model.Sentence{ConversationID: c.Doc.ConversationID, TenantID: c.Doc.TenantID, Seq: s.Seq,
				SpeakerKey: s.SpeakerKey, StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text}
		}
		parts, err := dao.TranscriptParts(model.Conversation{ID: c.Doc.ConversationID, TenantID: c.Doc.TenantID}, sentences)
		if err != nil {
			return err
		}
		for _, p := range parts {
			row(partsHead, 4)
			args = append(args, p.ConversationID, p.Part, p.TenantID, p.Sentences)
			if size += len(p.Sentences); size > partsBytes {
				if err := flush("transcript parts"); err != nil {
					return err
				}
				size = 0
			}
		}
	}
	if err := flush("transcript parts"); err != nil {
		return err
	}
	return tx.Commit()
}

// BulkBody is the _bulk request that indexes docs as the indexer does
// (elastic.BulkBody): each document under its conversation id, versioned
// external_gte by the transcript version.
func BulkBody(docs []*search.Doc) ([]byte, error) {
	ops := make([]search.Op, len(docs))
	for i, d := range docs {
		ops[i] = search.Op{TenantID: d.TenantID, ConversationID: d.ConversationID, Doc: d}
	}
	body, err := elastic.BulkBody(ops)
	return []byte(body), err
}

// PostBulk sends a _bulk body to index and fails on any item that failed,
// except a version conflict (a newer or the same version is there). A
// rejection for load (429) is retried with backoff.
func PostBulk(ctx context.Context, hc *http.Client, esURL, index string, body []byte) error {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, err := postBulk(ctx, hc, esURL, index, body)
		if err == nil || !retry || attempt == 8 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

var errRejected = errors.New("rejected")

func postBulk(ctx context.Context, hc *http.Client, esURL, index string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, esURL+"/"+index+"/_bulk", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return true, fmt.Errorf("_bulk: %w: %s", errRejected, data)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("_bulk: %d %s", resp.StatusCode, truncate(data))
	}
	var res struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return false, fmt.Errorf("_bulk answer: %w", err)
	}
	if !res.Errors {
		return false, nil
	}
	for _, item := range res.Items {
		for _, r := range item {
			switch {
			case r.Status < 300, r.Status == http.StatusConflict:
			case r.Status == http.StatusTooManyRequests:
				return true, fmt.Errorf("_bulk item: %w: %s", errRejected, r.Error)
			default:
				return false, fmt.Errorf("_bulk item %d: %s", r.Status, truncate(r.Error))
			}
		}
	}
	return false, nil
}

func truncate(b []byte) string {
	if len(b) > 500 {
		return string(b[:500]) + "…"
	}
	return string(b)
}

// LoadES bulk-loads every conversation of g into index, docsPerRequest
// documents per _bulk request, workers requests at a time.
func LoadES(ctx context.Context, hc *http.Client, esURL, index string, g *Generator, docsPerRequest, workers int, progress func(conversations int)) error {
	return work(ctx, g.Spec.Conversations, docsPerRequest, workers, g.Conversation, func(ctx context.Context, b []*Conversation) error {
		docs := make([]*search.Doc, len(b))
		for i, c := range b {
			docs[i] = c.Doc
		}
		body, err := BulkBody(docs)
		if err != nil {
			return err
		}
		return PostBulk(ctx, hc, esURL, index, body)
	}, progress)
}
