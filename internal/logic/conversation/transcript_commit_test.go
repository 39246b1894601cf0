package conversation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/model"
)

// groupRig is an Ingest on the fake repository whose first transactions
// can be held at LockForTranscripts, so that commits queue up behind them.
type groupRig struct {
	repo      *fakeRepo
	in        *Ingest
	gate      chan struct{} // closed: transactions go on
	committed chan int64
}

func newGroupRig(t *testing.T) *groupRig {
	t.Helper()
	r := &groupRig{repo: newFakeRepo(), gate: make(chan struct{}), committed: make(chan int64, 100)}
	r.repo.onLock = func([]TranscriptTarget) { <-r.gate }
	r.in = NewIngest(r.repo, fakeDeals{r.repo}, r.repo)
	r.in.OnCommitted(func(w *TranscriptWrite) { r.committed <- w.Conversation.ID })
	return r
}

func (r *groupRig) conversation() int64 {
	return r.repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 60_000})
}

type commitOutcome struct {
	id  int64
	res TranscriptResult
	err error
}

// commit starts committing a transcript of n sentences to id.
func (r *groupRig) commit(t *testing.T, ctx context.Context, id int64, n int, out chan<- commitOutcome) {
	t.Helper()
	u, err := r.in.BeginTranscript(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var chunk []SentenceInput
	for i := range n {
		chunk = append(chunk, SentenceInput{Seq: int64(i), SpeakerKey: "1", StartMS: int64(i) * 1000, EndMS: int64(i)*1000 + 500, Text: "你好"})
	}
	if err := u.Add(ctx, chunk); err != nil {
		t.Fatal(err)
	}
	go func() {
		res, err := r.in.CommitTranscript(ctx, u)
		out <- commitOutcome{id, res, err}
	}()
}

// waitQueued waits until n commits wait for a lane, and taken commits are
// in running groups.
func (r *groupRig) waitQueued(t *testing.T, n, taken int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		r.in.commits.mu.Lock()
		queued, writing := len(r.in.commits.waiting), len(r.in.commits.writing)
		r.in.commits.mu.Unlock()
		if queued == n && writing == taken {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued and %d taken, want %d and %d", queued, writing, n, taken)
		}
	}
}

func collect(t *testing.T, out <-chan commitOutcome, n int) map[int64]commitOutcome {
	t.Helper()
	got := map[int64]commitOutcome{}
	for range n {
		select {
		case o := <-out:
			got[o.id] = o
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d commits answered", len(got), n)
		}
	}
	return got
}

// While a lane is busy, commits queue up, and its next transaction writes
// them together; each gets its own answer. A second lane opens when a full
// group waits.
func TestCommitsThatArriveTogetherAreWrittenTogether(t *testing.T) {
	r := newGroupRig(t)
	ctx := accesstest.App(1, "ingest")
	out := make(chan commitOutcome, 30)
	var ids []int64
	for i := range 21 {
		id := r.conversation()
		ids = append(ids, id)
		r.commit(t, ctx, id, i+1, out)
		switch i {
		case 0:
			r.waitQueued(t, 0, 1) // the first lane's transaction
		case commitGroup:
			r.waitQueued(t, 0, 1+commitGroup) // the second lane's
		}
	}
	r.waitQueued(t, 4, 1+commitGroup)
	close(r.gate)
	got := collect(t, out, 21)
	for i, id := range ids {
		if o := got[id]; o.err != nil || o.res.ConversationID != id || o.res.SentenceCount != i+1 {
			t.Errorf("commit %d: %+v", i, o)
		}
		if r.repo.stored[id] != i+1 || r.repo.convs[id].TranscriptVersion != 1 {
			t.Errorf("conversation %d stored %d sentences, version %d", id, r.repo.stored[id], r.repo.convs[id].TranscriptVersion)
		}
	}
	groups := slices.Clone(r.repo.groups)
	slices.Sort(groups)
	if !slices.Equal(groups, []int{1, 4, commitGroup}) {
		t.Errorf("transcripts per transaction %v, want 1, %d and 4", r.repo.groups, commitGroup)
	}
	if len(r.repo.metricsStored) != 21 || r.repo.replaced != 21 {
		t.Errorf("%d metrics, %d transcripts replaced", len(r.repo.metricsStored), r.repo.replaced)
	}
	if len(r.committed) != 21 {
		t.Errorf("OnCommitted ran %d times", len(r.committed))
	}
	var m dto.Metric
	if err := r.in.groupSize.Write(&m); err != nil || m.Histogram.GetSampleCount() != 3 || m.Histogram.GetSampleSum() != 21 {
		t.Errorf("group size histogram: %v %v", m.Histogram, err)
	}
}

// A conversation that is not there fails its own commit only; a group
// that fails is written again one commit at a time, so only the commit
// that fails alone gets the error.
func TestAFailingCommitFailsAlone(t *testing.T) {
	r := newGroupRig(t)
	ctx := accesstest.App(1, "ingest")
	out := make(chan commitOutcome, 20)
	first := r.conversation()
	r.commit(t, ctx, first, 1, out)
	r.waitQueued(t, 0, 1)
	bad := r.conversation()
	var good []int64
	for range 3 {
		id := r.conversation()
		good = append(good, id)
		r.commit(t, ctx, id, 2, out)
	}
	r.commit(t, ctx, bad, 2, out)
	missing := bad + 1000
	r.commit(t, ctx, missing, 2, out)
	r.waitQueued(t, 5, 1)
	refused := errors.New("refused")
	r.repo.failReplace = func(ts []TranscriptRows) error {
		for _, t := range ts {
			if t.Conversation.ID == bad {
				return refused
			}
		}
		return nil
	}
	close(r.gate)
	got := collect(t, out, 6)
	// (The fake rolls nothing back: the good ones' versions went up twice.)
	for _, id := range append(good, first) {
		if o := got[id]; o.err != nil || r.repo.stored[id] != o.res.SentenceCount || o.res.SentenceCount == 0 {
			t.Errorf("conversation %d: %+v, stored %d sentences", id, o, r.repo.stored[id])
		}
	}
	if err := got[bad].err; !errors.Is(err, refused) {
		t.Errorf("the failing commit: %v", err)
	}
	if err := got[missing].err; !errors.Is(err, ErrNotFound) {
		t.Errorf("the commit to no conversation: %v", err)
	}
	if _, ok := r.repo.stored[bad]; ok {
		t.Error("the failing transcript was queued for indexing")
	}
	// The group of 5 failed, then each ran alone.
	g := slices.Clone(r.repo.groups)
	slices.Sort(g)
	if !slices.Equal(g, []int{1, 1, 1, 1, 1, 1, 5}) {
		t.Errorf("transcripts per transaction %v, want 1, 5 and five of 1", r.repo.groups)
	}
}

// Two writes of one conversation are never in one group, and apply in
// the order they arrived; a commit whose caller gave up before its group
// started is not written.
func TestCommitsOfOneConversationApplyInOrder(t *testing.T) {
	r := newGroupRig(t)
	ctx := accesstest.App(1, "ingest")
	out := make(chan commitOutcome, 20)
	a, b, c := r.conversation(), r.conversation(), r.conversation()
	r.commit(t, ctx, a, 1, out)
	r.waitQueued(t, 0, 1)
	gone, cancel := context.WithCancel(ctx)
	for i, w := range []struct {
		ctx context.Context
		id  int64
		n   int
	}{{ctx, b, 1}, {ctx, a, 2}, {ctx, a, 3}, {gone, c, 4}} {
		r.commit(t, w.ctx, w.id, w.n, out)
		r.waitQueued(t, i+1, 1)
	}
	cancel()
	// Withdrawn from the queue, it is answered before the lane goes on.
	select {
	case o := <-out:
		if o.id != c || !errors.Is(o.err, context.Canceled) {
			t.Fatalf("first answer %+v, want the commit given up", o)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the commit given up is not answered while the lane is busy")
	}
	r.waitQueued(t, 3, 1)
	close(r.gate)
	var answers []commitOutcome
	for range 4 {
		select {
		case o := <-out:
			answers = append(answers, o)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 4 commits answered", len(answers))
		}
	}
	// The fake refuses a conversation twice in one transaction: a's three
	// writes took three, the last one last.
	if r.repo.convs[a].TranscriptVersion != 3 || r.repo.stored[a] != 3 {
		t.Errorf("conversation a: version %d, %d sentences", r.repo.convs[a].TranscriptVersion, r.repo.stored[a])
	}
	if g := r.repo.groups; !slices.Equal(g, []int{1, 2, 1}) {
		t.Errorf("transcripts per transaction %v, want 1, 2 (b and a) and 1", g)
	}
	for _, o := range answers {
		if o.err != nil {
			t.Errorf("commit to %d: %v", o.id, o.err)
		}
	}
	if _, ok := r.repo.stored[c]; ok || r.repo.convs[c].TranscriptVersion != 0 {
		t.Error("a commit given up before it was written was written")
	}
}

// A panic while a group is written answers its commits with an internal
// error, as the request's own Recover would have, and the lane goes on.
func TestAPanicInAGroupIsAnErrorAndTheLaneGoesOn(t *testing.T) {
	repo := newFakeRepo()
	var bad int64
	in := NewIngest(repo, fakeDeals{repo}, repo, TranscriptHookFunc(func(_ context.Context, w TranscriptWrite) error {
		if w.Conversation.ID == bad {
			panic("hook bug")
		}
		return nil
	}))
	ctx := accesstest.App(1, "ingest")
	bad = repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 60_000})
	good := repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 60_000})
	lines := []SentenceInput{{Seq: 0, SpeakerKey: "1", StartMS: 0, EndMS: 1000, Text: "你好"}}
	if _, err := in.PutTranscript(ctx, bad, lines); errs.From(err).Reason != errs.ReasonInternal || !strings.Contains(err.Error(), "hook bug") {
		t.Fatalf("the panicking write: %v", err)
	}
	if res, err := in.PutTranscript(ctx, good, lines); err != nil || res.SentenceCount != 1 {
		t.Fatalf("the next write: %+v %v", res, err)
	}
}

// A commit whose caller gave up after a lane took it, but before its
// group started, is not written.
func TestAGroupSkipsCommitsGivenUp(t *testing.T) {
	r := newGroupRig(t)
	close(r.gate)
	gone, cancel := context.WithCancel(accesstest.App(1, "ingest"))
	id := r.conversation()
	u, err := r.in.BeginTranscript(gone, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	p := &pendingCommit{ctx: gone, u: u, done: make(chan struct{})}
	r.in.writeGroup([]*pendingCommit{p})
	if !errors.Is(p.err, context.Canceled) || len(r.repo.groups) != 0 {
		t.Fatalf("err %v, %d transactions", p.err, len(r.repo.groups))
	}
}
