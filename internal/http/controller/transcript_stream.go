package controller

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// transcriptBuffer is how much of the answer is gathered before a write.
const transcriptBuffer = 32 << 10

// transcriptWriter writes the success envelope of a TranscriptJSON a
// sentence at a time: the same bytes render.OK would write for the whole
// value, without ever holding the transcript or its encoding. match_count
// follows the sentences, so it is known by the time it is written.
//
// The status and the first bytes go out with the first sentence; an error
// before then is answered as any other. An error after (the database, or a
// transcript replaced while it was read) cannot change the status, so the
// connection is closed before the answer is complete: the client sees a
// broken response, never a short transcript that looks whole.
type transcriptWriter struct {
	c       echo.Context
	id      int64
	out     *bufio.Writer
	line    []byte
	started bool
}

func (w *transcriptWriter) begin() error {
	res := w.c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	w.out = bufio.NewWriterSize(res, transcriptBuffer)
	w.started = true
	_, err := w.out.WriteString(`{"code":0,"msg":"ok","data":{"conversation_id":` + strconv.FormatInt(w.id, 10) + `,"sentences":[`)
	return err
}

func (w *transcriptWriter) sentence(s conversation.TranscriptSentence) error {
	if !w.started {
		if err := w.begin(); err != nil {
			return err
		}
	} else if err := w.out.WriteByte(','); err != nil {
		return err
	}
	var err error
	// goccy/go-json escapes as render's serializer does (HTML-safe).
	if w.line, err = gojson.Marshal(TranscriptSentenceJSON(s)); err != nil {
		return err
	}
	_, err = w.out.Write(w.line)
	return err
}

// finish ends the answer after the last sentence, or answers err.
func (w *transcriptWriter) finish(matches int, err error) error {
	if err != nil {
		if w.started {
			w.abort()
		}
		return err
	}
	if !w.started {
		if err := w.begin(); err != nil {
			return err
		}
	}
	requestID, err := gojson.Marshal(render.RequestID(w.c))
	if err != nil {
		return err
	}
	if _, err := w.out.WriteString(`],"match_count":` + strconv.Itoa(matches) + `},"request_id":` + string(requestID) + "}\n"); err != nil {
		return err
	}
	return w.out.Flush()
}

// abort closes the connection under a partly written answer.
func (w *transcriptWriter) abort() {
	if conn, _, err := http.NewResponseController(w.c.Response()).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// revocationRecheck is how often a download asks its token again while it
// writes: with the revocations' own poll, a token revoked on any instance
// stops a download within a few seconds, as it refuses a new call.
const revocationRecheck = time.Second

// revocationWatch cuts a download whose token is revoked while it runs.
// The transcript's reader asks the token before each part it reads, but a
// client that stops reading leaves the handler blocked in a write, where
// nothing is asked until the write deadline: the watch then moves that
// deadline to now, so the blocked write fails at once.
type revocationWatch struct {
	done, exited chan struct{}
	stopped      sync.Once
	revoked      error // set by the watch before exited closes
}

// watchRevocation asks the token of the call ctx carries every interval
// until stop; a call without a token is not watched.
func watchRevocation(ctx context.Context, w http.ResponseWriter, interval time.Duration) *revocationWatch {
	r := &revocationWatch{done: make(chan struct{}), exited: make(chan struct{})}
	if access.CredentialFrom(ctx) == nil {
		close(r.exited)
		return r
	}
	go func() {
		defer close(r.exited)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := access.Revoked(ctx); err != nil {
				r.revoked = err
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now())
				return
			}
		}
	}()
	return r
}

// stop ends the watch, and returns the refusal when it cut the call. Once
// it returns, the watch touches the connection no more. It may be called
// again (deferred, for a handler that panics).
func (r *revocationWatch) stop() error {
	r.stopped.Do(func() { close(r.done) })
	<-r.exited
	return r.revoked
}
