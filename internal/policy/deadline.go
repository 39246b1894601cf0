package policy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// withDeadline is context.WithDeadline(parent, d) armed on first need.
//
// Most calls finish without anyone waiting on their context: a ping, a
// cached read, a refused call. For them context.WithTimeout is pure cost
// on every request (a timer, a child registered in the parent's map, the
// parent's done channel, and the goroutine-free but locked cancel path):
// about a tenth of the chain's own CPU. This context keeps the deadline
// as a value and arms a real context.WithDeadline only when something
// needs to be told: the first Done, or an Err once the deadline or the
// parent has ended. A handler that reaches the database (database/sql
// selects on Done) or waits in a queue therefore pays what it paid before;
// one that never waits pays nothing beyond this struct.
//
// Until it is armed, Value is the parent's, so context.Cause reports the
// parent's cause. It is armed before Err first reports an expired
// deadline, so an Err and the Cause after it always agree; after release
// an unarmed context reports context.Canceled from Err while Cause keeps
// the parent's, which only code holding a finished call's context sees.
type withDeadline struct {
	parent   context.Context
	deadline time.Time

	// armed holds the real context once created; mu serialises arming
	// and release.
	armed    atomic.Pointer[context.Context]
	released atomic.Bool
	mu       sync.Mutex
	cancel   context.CancelFunc
}

// newDeadline returns parent bounded by d from start (zero: now); its
// release is what context.WithTimeout's cancel is.
func newDeadline(parent context.Context, start time.Time, d time.Duration) *withDeadline {
	if start.IsZero() {
		start = time.Now()
	}
	c := &withDeadline{parent: parent, deadline: start.Add(d)}
	if pd, ok := parent.Deadline(); ok && pd.Before(c.deadline) {
		// As context.WithDeadline: the parent's earlier deadline is the
		// one that counts.
		c.deadline = pd
	}
	return c
}

// arm creates the real context (once) and returns it.
func (c *withDeadline) arm() context.Context {
	if p := c.armed.Load(); p != nil {
		return *p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.armed.Load(); p != nil {
		return *p
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if c.released.Load() {
		// Released unarmed, Err has said Canceled: so it stays, whatever
		// the deadline or the parent did since.
		ctx, cancel = context.WithCancel(context.WithoutCancel(c.parent))
		cancel()
	} else {
		ctx, cancel = context.WithDeadline(c.parent, c.deadline)
	}
	c.cancel = cancel
	c.armed.Store(&ctx)
	return ctx
}

func (c *withDeadline) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released.Store(true)
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *withDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *withDeadline) Done() <-chan struct{} { return c.arm().Done() }

func (c *withDeadline) Err() error {
	if p := c.armed.Load(); p != nil {
		return (*p).Err()
	}
	if c.released.Load() {
		return context.Canceled
	}
	if c.parent.Err() != nil || !time.Now().Before(c.deadline) {
		return c.arm().Err()
	}
	return nil
}

func (c *withDeadline) Value(key any) any {
	if p := c.armed.Load(); p != nil {
		return (*p).Value(key)
	}
	return c.parent.Value(key)
}

// String names the context like the standard library's do, for debugging.
func (c *withDeadline) String() string {
	return "policy.withDeadline(" + c.deadline.String() + ")"
}
