package policy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type ctxKey string

// deadlineCtx is newDeadline in context.WithTimeout's shape.
func deadlineCtx(parent context.Context, d time.Duration) (context.Context, func()) {
	c := newDeadline(parent, time.Time{}, d)
	return c, c.release
}

func TestDeadlineIsTheEarlierOfOwnAndParents(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	ctx, release := deadlineCtx(parent, time.Minute)
	defer release()
	d, ok := ctx.Deadline()
	if !ok || time.Until(d) > time.Minute || time.Until(d) < 59*time.Second {
		t.Fatalf("deadline in %s (%v), want about a minute", time.Until(d), ok)
	}
	short, cancelShort := context.WithTimeout(context.Background(), time.Second)
	defer cancelShort()
	ctx, release2 := deadlineCtx(short, time.Minute)
	defer release2()
	if d, _ := ctx.Deadline(); time.Until(d) > time.Second {
		t.Fatalf("deadline in %s, want the parent's second", time.Until(d))
	}
}

func TestDeadlineUnarmedUntilNeeded(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey("k"), "v")
	c := newDeadline(parent, time.Time{}, time.Hour)
	ctx, release := context.Context(c), c.release
	if ctx.Value(ctxKey("k")) != "v" || ctx.Err() != nil {
		t.Fatal("value or err wrong before arming")
	}
	if c.armed.Load() != nil {
		t.Fatal("Value and Err armed the context")
	}
	release()
	if c.armed.Load() != nil {
		t.Fatal("release armed the context")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err after release %v, want Canceled", ctx.Err())
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done after release is not closed")
	}
	if ctx.Value(ctxKey("k")) != "v" {
		t.Fatal("value lost once armed")
	}
}

func TestDeadlineExpiresArmedOrNot(t *testing.T) {
	// Armed: Done closes at the deadline.
	ctx, release := deadlineCtx(context.Background(), 20*time.Millisecond)
	defer release()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("err %v cause %v, want DeadlineExceeded", ctx.Err(), context.Cause(ctx))
	}

	// Never armed: Err says so once the deadline passed, and Cause agrees.
	ctx2, release2 := deadlineCtx(context.Background(), 10*time.Millisecond)
	defer release2()
	time.Sleep(20 * time.Millisecond)
	if !errors.Is(ctx2.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx2), context.DeadlineExceeded) {
		t.Fatalf("err %v cause %v, want DeadlineExceeded", ctx2.Err(), context.Cause(ctx2))
	}
	release2()
	if !errors.Is(ctx2.Err(), context.DeadlineExceeded) {
		t.Fatalf("err changed to %v after release", ctx2.Err())
	}
}

func TestDeadlineFollowsItsParent(t *testing.T) {
	cause := errors.New("client left")
	parent, cancel := context.WithCancelCause(context.Background())
	ctx, release := deadlineCtx(parent, time.Hour)
	defer release()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(fired) })
	defer stop()

	cancel(cause)
	for _, c := range []context.Context{ctx, child} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("parent's cancellation did not reach the context or its child")
		}
	}
	<-fired
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), cause) {
		t.Fatalf("err %v cause %v, want Canceled and the parent's cause", ctx.Err(), context.Cause(ctx))
	}

	// Unarmed: Err reports the parent's end.
	parent2, cancel2 := context.WithCancel(context.Background())
	ctx2, release2 := deadlineCtx(parent2, time.Hour)
	defer release2()
	cancel2()
	if !errors.Is(ctx2.Err(), context.Canceled) {
		t.Fatalf("err %v, want the parent's Canceled", ctx2.Err())
	}
}

func TestDeadlineReleaseArmed(t *testing.T) {
	ctx, release := deadlineCtx(context.Background(), time.Hour)
	done := ctx.Done()
	release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("release did not close Done")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err %v, want Canceled", ctx.Err())
	}
}

// Run with -race: arming, reading and releasing from many goroutines.
func TestDeadlineConcurrentUse(t *testing.T) {
	for range 200 {
		ctx, release := deadlineCtx(context.Background(), time.Millisecond)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					<-ctx.Done()
				} else {
					for ctx.Err() == nil {
						time.Sleep(100 * time.Microsecond)
					}
				}
				errs[i] = ctx.Err()
			}()
		}
		if i := time.Now().UnixNano() % 3; i == 0 {
			release()
		}
		wg.Wait()
		release()
		for i, err := range errs {
			if err != errs[0] {
				t.Fatalf("goroutine %d saw %v, goroutine 0 %v: Err must not change", i, err, errs[0])
			}
		}
		if ctx.Err() != errs[0] {
			t.Fatalf("err %v after release, first seen %v", ctx.Err(), errs[0])
		}
	}
}

// BenchmarkTimeoutPolicy compares the policy with context.WithTimeout
// under a cancelable parent, as net/http's and grpc-go's request contexts
// are, for a call that never waits.
func BenchmarkTimeoutPolicy(b *testing.B) {
	info, _ := testInfo(nil)
	parent, cancel := context.WithCancel(WithInfo(context.Background(), info))
	defer cancel()
	noop := func(ctx context.Context, _ any) (any, error) { return nil, nil }
	b.Run("lazy", func(b *testing.B) {
		h := Timeout(10*time.Second, nil)(noop)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = h(parent, nil)
		}
	})
	b.Run("context.WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, 10*time.Second)
			_, _ = noop(ctx, nil)
			cancel()
		}
	})
}
