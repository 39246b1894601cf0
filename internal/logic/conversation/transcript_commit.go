package conversation

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// Transcript commits that arrive together are written together. A lane
// (a goroutine writing one transaction after another) takes every commit
// waiting when it starts a transaction, up to commitGroup of them, and
// writes them with one statement per table instead of one per transcript.
// Nothing waits to fill a group: a commit that finds no lane running
// starts one at once, so a lone commit costs what it did alone, while
// under load the statements, round trips and server work per transcript
// fall with the group's size (about half of MariaDB's CPU per transcript at
// eight concurrent streams). One lane makes the largest groups; a second
// opens only when a full group waits, so a transaction held up by a lock
// does not hold up every commit behind it. A group that fails is written
// again one commit per transaction, so each commit gets its own answer and
// one bad write never fails another.
const (
	commitLanes = 2
	commitGroup = 16
)

// pendingCommit is a transcript upload waiting for, then in, its group.
type pendingCommit struct {
	ctx  context.Context
	u    *TranscriptUpload
	done chan struct{} // closed when res, write and err are final

	res   TranscriptResult
	write TranscriptWrite
	err   error
}

// commitQueue holds the commits waiting for a lane.
type commitQueue struct {
	mu      sync.Mutex
	waiting []*pendingCommit
	lanes   int            // running
	writing map[int64]bool // conversations in a running group
}

// commit writes u through a lane and returns its outcome. If ctx ends
// while the commit waits for a group, it is withdrawn and ctx's error
// returned at once; once its group is being written, it waits for the
// outcome (the group's own deadline bounds that).
// Inside a transaction ctx carries, it is written there, as every
// repository call joins that transaction, and groups with no other.
func (in *Ingest) commit(ctx context.Context, u *TranscriptUpload) (TranscriptResult, error) {
	p := &pendingCommit{ctx: ctx, u: u, done: make(chan struct{})}
	if in.tx.InTransaction(ctx) {
		in.writeTranscripts(ctx, []*pendingCommit{p})
		if p.err == nil {
			in.committed(&p.write)
		}
		return p.res, p.err
	}
	q := &in.commits
	q.mu.Lock()
	q.waiting = append(q.waiting, p)
	start := q.lanes == 0 || (q.lanes < commitLanes && len(q.waiting) >= commitGroup)
	if start {
		q.lanes++
	}
	q.mu.Unlock()
	if start {
		go in.runLane()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		if q.withdraw(p) {
			return TranscriptResult{}, ctx.Err()
		}
		<-p.done
	}
	return p.res, p.err
}

// withdraw removes p from the waiting commits; false if a lane took it.
func (q *commitQueue) withdraw(p *pendingCommit) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.waiting, p)
	if i < 0 {
		return false
	}
	q.waiting = slices.Delete(q.waiting, i, i+1)
	return true
}

// runLane writes groups until no waiting commit can join one.
func (in *Ingest) runLane() {
	for {
		group := in.commits.take()
		if len(group) == 0 {
			return
		}
		in.writeGroupRecovering(group)
		in.commits.finish(group)
		for _, p := range group {
			if p.err == nil {
				in.committed(&p.write)
			}
			close(p.done)
		}
	}
}

// take removes the next group from the queue, in arrival order: at most
// commitGroup commits, of distinct conversations, none being written by
// another lane (those wait for a later group, so the writes of one
// conversation stay in order of arrival). With none to take, the lane
// ends; a commit left waiting belongs to a conversation a running lane is
// writing, and that lane takes it when it is done.
func (q *commitQueue) take() []*pendingCommit {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.writing == nil {
		q.writing = map[int64]bool{}
	}
	var group []*pendingCommit
	kept := q.waiting[:0]
	for _, p := range q.waiting {
		if id := p.u.conversationID; len(group) < commitGroup && !q.writing[id] {
			q.writing[id] = true
			group = append(group, p)
			continue
		}
		kept = append(kept, p)
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	if len(group) == 0 {
		q.lanes--
	}
	return group
}

// finish releases the conversations of a written group.
func (q *commitQueue) finish(group []*pendingCommit) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range group {
		delete(q.writing, p.u.conversationID)
	}
}

// writeGroupRecovering is writeGroup, with a panic answered as an
// internal error to every commit of the group (the transaction rolls
// back), as the request's own Recover would have; the lane goes on.
func (in *Ingest) writeGroupRecovering(group []*pendingCommit) {
	defer func() {
		if r := recover(); r != nil {
			err := errs.Internal(fmt.Errorf("panic writing transcripts: %v\n%s", r, debug.Stack()))
			for _, p := range group {
				p.res, p.write, p.err = TranscriptResult{}, TranscriptWrite{}, err
			}
		}
	}()
	in.writeGroup(group)
}

// writeGroup writes a group in one transaction, or, when that fails, each
// commit in a transaction of its own. Commits whose context ended before
// the group started (and were not withdrawn yet) are not written.
func (in *Ingest) writeGroup(group []*pendingCommit) {
	live := group[:0:0]
	for _, p := range group {
		if p.err = p.ctx.Err(); p.err == nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := groupContext(live)
	defer cancel()
	if in.writeTranscripts(ctx, live) || len(live) == 1 {
		return
	}
	for _, p := range live {
		in.writeTranscripts(ctx, []*pendingCommit{p})
	}
}

// groupContext is the context a group is written in: the first commit's
// values (its trace and caller), cancelled by none of the callers, and
// ending at the latest of their deadlines (none if one has none).
func groupContext(group []*pendingCommit) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(group[0].ctx)
	var latest time.Time
	for _, p := range group {
		d, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(ctx)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(ctx, latest)
}

// writeTranscripts stores the group's transcripts in one transaction:
// their conversations' rows are locked first, so concurrent writers of one
// conversation apply one after the other and the last wins; then new
// speakers become unknown participants, the transcripts are replaced, the
// metrics recomputed from exactly these sentences, each conversation
// marked ready, its indexing queued, and the hooks run; the partner
// events of the group are appended last, with one statement. A commit whose
// conversation is not there gets CONVERSATION_NOT_FOUND, one whose new
// speakers would give its conversation more than maxParticipants gets
// INVALID_ARGUMENT, and the others are written. It reports whether the
// transaction committed: if so, each commit has its result and its write,
// and the transcripts written are observed as one group; if not, each
// commit has the transaction's error. Every outcome is on its commit, so
// callers read them there; the report only tells writeGroup whether to
// write the commits one by one.
func (in *Ingest) writeTranscripts(ctx context.Context, group []*pendingCommit) bool {
	type outcome struct {
		res   TranscriptResult
		write TranscriptWrite
		err   error
	}
	var out []outcome
	err := in.tx.InTx(ctx, func(ctx context.Context) error {
		out = make([]outcome, len(group)) // afresh on every attempt
		ctx, flushEvents := in.stageEvents(ctx)
		targets := make([]TranscriptTarget, len(group))
		for i, p := range group {
			targets[i] = TranscriptTarget{TenantID: p.u.scope.TenantID, ID: p.u.conversationID, N: len(p.u.sentences)}
		}
		locks, err := in.convs.LockForTranscripts(ctx, targets)
		if err != nil {
			return err
		}
		var (
			added   []model.Participant
			rows    []TranscriptRows
			metrics []model.ConversationMetrics
			queued  []model.Conversation
		)
		now := in.now()
		for i, p := range group {
			lock, ok := locks[p.u.conversationID]
			if !ok {
				out[i].err = ErrNotFound
				continue
			}
			if err := outsideTheCall(p.u, lock.Conversation.DurationMS); err != nil {
				return refused(group, err)
			}
			w, newSpeakers, m := stageTranscript(p.u, lock)
			if err := newSpeakerKeys(newSpeakers); err != nil {
				return refused(group, err)
			}
			if n := len(lock.Speakers) + len(newSpeakers); n > maxParticipants {
				return refused(group, errs.InvalidArgument("sentence.speaker_key",
					"a conversation has at most %d participants: its %d and the %d new speaker keys of this transcript make %d",
					maxParticipants, len(lock.Speakers), len(newSpeakers), n))
			}
			added = append(added, newSpeakers...)
			rows = append(rows, TranscriptRows{Conversation: w.Conversation, Sentences: w.Sentences})
			metrics = append(metrics, storedMetrics(w.Conversation, m, now))
			queued = append(queued, w.Conversation)
			out[i].res = TranscriptResult{ConversationID: w.Conversation.ID, SentenceCount: len(w.Sentences), Metrics: m}
			out[i].write = w
		}
		if len(rows) == 0 {
			return nil
		}
		if err := in.convs.AddParticipants(ctx, added); err != nil {
			return err
		}
		if err := in.convs.ReplaceTranscripts(ctx, rows); err != nil {
			return err
		}
		if err := in.convs.SaveMetrics(ctx, metrics...); err != nil {
			return err
		}
		if err := in.convs.QueueTranscriptIndexing(ctx, queued...); err != nil {
			return err
		}
		for i := range out {
			if out[i].err != nil {
				continue
			}
			if err := in.appendTranscriptReady(ctx, out[i].write, out[i].res.Metrics); err != nil {
				return err
			}
			for _, h := range in.hooks {
				if err := h.OnTranscript(ctx, out[i].write); err != nil {
					return err
				}
			}
		}
		// Last: it locks the tenants' event sequences until the commit.
		return flushEvents()
	})
	if err != nil {
		for _, p := range group {
			p.err = err
		}
		return false
	}
	written := 0
	for i, p := range group {
		p.res, p.write, p.err = out[i].res, out[i].write, out[i].err
		if p.err == nil {
			written++
		}
	}
	if written > 0 {
		in.groupSize.Observe(float64(written))
	}
	return true
}

// errRefusedInGroup fails the transaction of a group in which a transcript
// was refused once its conversation was locked, so that each is written
// alone: locking a conversation has already moved its transcript version
// and sentence count, which must not be committed for a transcript that
// is not.
var errRefusedInGroup = errors.New("a transcript of the group was refused; writing each alone")

// refused is the error that rolls back a transaction in which a
// transcript was refused: its refusal when it is alone.
func refused(group []*pendingCommit, err error) error {
	if len(group) == 1 {
		return err
	}
	return errRefusedInGroup
}

// outsideTheCall refuses a transcript with speech past the end of its
// call (duration_ms), which the metrics would count as speech the call
// never had (a customer story longer than the call, no silence); comments
// are held to the same bounds.
func outsideTheCall(u *TranscriptUpload, durationMS int64) error {
	for _, s := range u.sentences {
		if s.EndMS > durationMS {
			return errs.InvalidArgument("sentence.end_ms", "seq %d: must be within the call, at most its duration_ms %d (got %d)", s.Seq, durationMS, s.EndMS).
				With("seq", strconv.Itoa(s.Seq))
		}
	}
	return nil
}

// newSpeakerKeys holds the keys of speakers a transcript adds to its
// conversation to access.CheckName, as a participant's key given at its
// create; the keys of participants stored already are not, so a transcript
// naming a speaker an earlier release took is taken.
func newSpeakerKeys(added []model.Participant) error {
	for _, p := range added {
		if problem := access.NameProblem(p.SpeakerKey); problem != "" {
			return errs.InvalidArgument("sentence.speaker_key", "%q: %s", p.SpeakerKey, problem)
		}
	}
	return nil
}

// stageTranscript is what u writes to its locked conversation: the write
// as the hooks see it, the speakers first seen in it (as unknown
// participants), and the metrics of exactly its sentences.
func stageTranscript(u *TranscriptUpload, lock TranscriptLock) (TranscriptWrite, []model.Participant, interaction.Metrics) {
	conv := lock.Conversation
	internal := make(map[string]bool, len(lock.Speakers))
	for _, s := range lock.Speakers {
		internal[s.SpeakerKey] = s.Affiliation == model.AffiliationInternal
	}
	var added []model.Participant
	for _, s := range u.sentences {
		if _, ok := internal[s.SpeakerKey]; !ok {
			internal[s.SpeakerKey] = false
			added = append(added, model.Participant{TenantID: conv.TenantID, ConversationID: conv.ID,
				SpeakerKey: s.SpeakerKey, Affiliation: model.AffiliationUnknown})
		}
	}
	w := TranscriptWrite{Conversation: conv, Participants: append(slices.Clip(lock.Speakers), added...),
		Sentences: u.sentences, Trackers: lock.Trackers}
	return w, added, computeMetrics(conv.DurationMS, internal, u.sentences)
}
