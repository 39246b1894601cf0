package events

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// StreamOptions tune the live tails.
type StreamOptions struct {
	// Poll is how often the tails look for events appended by other
	// instances (default 500 ms); this instance's appends wake them at once.
	Poll time.Duration
	// Batch is the most events a stream reads, and so holds, at once
	// (default 100).
	Batch int
	// Recheck is how often a stream asks its caller's token again
	// (default 1 s): a token revoked since the stream began ends it.
	// A stream also ends when its token expires.
	Recheck time.Duration
	// SendTimeout is how long one event may wait for the client to take
	// it (default 30 s): a client that stops reading ends its stream,
	// which gives back its slot; it resumes from the last id it got.
	SendTimeout time.Duration
}

// Streams sends the log to readers: the backlog after their cursor, then
// each new event as it commits.
type Streams struct {
	log *Log
	opt StreamOptions
	lg  zerolog.Logger

	mu    sync.Mutex
	tails map[int64]map[*tail]struct{} // by tenant
	heads map[int64]int64              // newest id seen by the poll, by tenant

	stopping chan struct{}
	stopOnce sync.Once
}

// tail is one waiting stream; a send on wake (never blocking) says the
// tenant has new events.
type tail struct{ wake chan struct{} }

// NewStreams reads through log. Run Start to poll for other instances'
// events, and hand Appended to NewLog's appended (see wiring).
func NewStreams(log *Log, lg zerolog.Logger, opt StreamOptions) *Streams {
	if opt.Poll <= 0 {
		opt.Poll = 500 * time.Millisecond
	}
	if opt.Batch <= 0 {
		opt.Batch = 100
	}
	if opt.Recheck <= 0 {
		opt.Recheck = time.Second
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = 30 * time.Second
	}
	return &Streams{log: log, opt: opt, lg: lg.With().Str("worker", "event_tails").Logger(),
		tails: map[int64]map[*tail]struct{}{}, heads: map[int64]int64{},
		stopping: make(chan struct{})}
}

// StreamRequest asks for the caller's tenant's events after Cursor (0:
// from the oldest kept), of Types (none: all). Field names in errors are
// those of mgv.open.v1.StreamEventsRequest.
type StreamRequest struct {
	Cursor int64
	Types  []string
}

// Stream sends the events after the cursor, oldest first, through send,
// and then each new one, until ctx ends, send fails or Stop is called
// (UNAVAILABLE: resume from the last id received). It holds at most
// Batch events at a time. Admins and apps with "read" may stream. A
// cursor above the tenant's newest event is refused (checkCursor).
//
// The caller's token is asked again before every read and every Recheck
// while the stream waits or a send waits for its client, and at its
// expiry: once it has expired or was revoked, the stream ends with the
// refusal a new call would get. A client that takes no event for
// SendTimeout ends its stream (UNAVAILABLE).
func (s *Streams) Stream(ctx context.Context, req StreamRequest, send func(Event) error) error {
	sc, err := access.Require(ctx, access.TenantRead)
	if err != nil {
		return err
	}
	cred := access.CredentialFrom(ctx)
	var recheck, expiry <-chan time.Time
	if cred != nil {
		if err := cred.Check(); err != nil {
			return err
		}
		tick := time.NewTicker(s.opt.Recheck)
		defer tick.Stop()
		end := time.NewTimer(time.Until(cred.Expires()))
		defer end.Stop()
		recheck, expiry = tick.C, end.C
	}
	if req.Cursor < 0 {
		return errs.InvalidArgument("cursor", "must be 0 or the id of an event (got %d)", req.Cursor)
	}
	types, err := CheckTypes("types", req.Types)
	if err != nil {
		return err
	}
	if err := s.log.checkCursor(ctx, sc.TenantID, req.Cursor); err != nil {
		return err
	}
	t := s.subscribe(sc.TenantID)
	defer s.unsubscribe(sc.TenantID, t)
	out := newSender(send)
	defer out.close()
	cursor := req.Cursor
	for {
		// Stop ends a stream between reads, never in the middle of one.
		select {
		case <-s.stopping:
			return errStopping
		default:
		}
		if cred != nil {
			if err := cred.Check(); err != nil {
				return err
			}
		}
		evs, through, more, err := s.log.readThrough(ctx, sc.TenantID, cursor, types, s.opt.Batch)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := s.sendWatched(ctx, cred, recheck, out, e); err != nil {
				return err
			}
		}
		// Past the events of other types too: the next read starts at
		// the first event it has not seen.
		cursor = through
		if len(evs) == s.opt.Batch || more {
			continue
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.stopping:
				return errStopping
			case <-t.wake:
				break wait
			case <-recheck: // recheck and expiry are nil, never ready, without a credential
			case <-expiry:
				// Should the token still pass (a clock stepped back), the
				// recheck ends the stream later.
				expiry = nil
			}
			if err := cred.Check(); err != nil {
				return err
			}
		}
	}
}

// sender calls send on a goroutine of its own, one event at a time, so
// that a stream can stop waiting for a send that blocks: on a client that
// no longer reads, the transport blocks a send until the call ends.
type sender struct {
	in      chan Event
	out     chan error
	timeout *time.Timer // SendTimeout, for the send under way
}

func newSender(send func(Event) error) *sender {
	s := &sender{in: make(chan Event), out: make(chan error, 1), timeout: time.NewTimer(time.Hour)}
	s.timeout.Stop()
	go func() {
		for e := range s.in {
			s.out <- send(e)
		}
	}()
	return s
}

// close lets the goroutine end once its send returns; when the stream has
// given up on a blocked send, that is when the call ends and the transport
// fails it.
func (s *sender) close() {
	s.timeout.Stop()
	close(s.in)
}

// sendWatched sends e and waits for it, asking the caller's token at each
// recheck meanwhile (nil without a token): a stream blocked on a client
// that stopped reading still ends once the token is revoked or expires,
// or after SendTimeout, and so gives back its slot.
func (s *Streams) sendWatched(ctx context.Context, cred access.Credential, recheck <-chan time.Time, out *sender, e Event) error {
	out.in <- e
	out.timeout.Reset(s.opt.SendTimeout)
	defer out.timeout.Stop()
	for {
		select {
		case err := <-out.out:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopping:
			return errStopping
		case <-out.timeout.C:
			return errs.Of(errs.ReasonUnavailable,
				"the client took no event for %s; reconnect with the id of the last event received as the cursor", s.opt.SendTimeout)
		case <-recheck:
			if err := cred.Check(); err != nil {
				return err
			}
		}
	}
}

// errStopping ends the streams of a server that is shutting down.
var errStopping = errs.Of(errs.ReasonUnavailable,
	"the server is shutting down; reconnect with the id of the last event received as the cursor")

// Appended wakes the streams of the tenants, which have new committed
// events.
func (s *Streams) Appended(tenantIDs []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range tenantIDs {
		for t := range s.tails[id] {
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Open reports how many streams are open.
func (s *Streams) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ts := range s.tails {
		n += len(ts)
	}
	return n
}

func (s *Streams) subscribe(tenantID int64) *tail {
	t := &tail{wake: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tails[tenantID] == nil {
		s.tails[tenantID] = map[*tail]struct{}{}
	}
	s.tails[tenantID][t] = struct{}{}
	return t
}

func (s *Streams) unsubscribe(tenantID int64, t *tail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tails[tenantID], t)
	if len(s.tails[tenantID]) == 0 {
		delete(s.tails, tenantID)
		delete(s.heads, tenantID)
	}
}

// Start polls, until Stop, the newest event id of every tenant with an
// open stream, and wakes its streams when it moves: the events of other
// instances, whose commits this one does not hear of.
func (s *Streams) Start(ctx context.Context) {
	go func() {
		tick := time.NewTicker(s.opt.Poll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stopping:
				return
			case <-tick.C:
			}
			if err := s.poll(ctx); err != nil && ctx.Err() == nil {
				s.lg.Warn().Err(err).Msg("polling the event log failed")
			}
		}
	}()
}

func (s *Streams) poll(ctx context.Context) error {
	s.mu.Lock()
	tenants := make([]int64, 0, len(s.tails))
	for id := range s.tails {
		tenants = append(tenants, id)
	}
	s.mu.Unlock()
	if len(tenants) == 0 {
		return nil
	}
	heads, err := s.log.repo.Heads(ctx, tenants)
	if err != nil {
		return err
	}
	var moved []int64
	s.mu.Lock()
	for id, last := range heads {
		if _, open := s.tails[id]; open && s.heads[id] != last {
			s.heads[id] = last
			moved = append(moved, id)
		}
	}
	s.mu.Unlock()
	s.Appended(moved)
	return nil
}

// Stop ends every open stream (they answer UNAVAILABLE, so clients
// reconnect elsewhere with their cursor) and the poll; the transport
// then drains. Streams opened afterwards end at once.
func (s *Streams) Stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
}
