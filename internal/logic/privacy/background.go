package privacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// background is a loop that runs in the background from start to halt.
type background struct {
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
	started sync.Once
	stopped sync.Once
}

func newBackground() *background {
	return &background{stop: make(chan struct{}), done: make(chan struct{})}
}

// start runs loop once, in a goroutine; loop returns when stop closes or
// ctx ends.
func (b *background) start(loop func(ctx context.Context, stop <-chan struct{})) {
	b.started.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		b.cancel = cancel
		go func() {
			defer close(b.done)
			loop(ctx, b.stop)
		}()
	})
}

// halt ends the loop and waits for it; work in progress is cancelled.
func (b *background) halt() {
	b.stopped.Do(func() {
		close(b.stop)
		if b.cancel == nil {
			close(b.done)
			return
		}
		b.cancel()
	})
	<-b.done
}

// newOwner names this process's claims on jobs and runs.
func newOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
