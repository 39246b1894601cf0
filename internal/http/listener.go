package http

import (
	"net"
	"sync"
)

// startedListener closes started on the first Accept, which Echo calls right
// after printing its banner, so startup output keeps its order.
type startedListener struct {
	net.Listener
	once    sync.Once
	started chan struct{}
}

func (l *startedListener) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.started) })
	return l.Listener.Accept()
}
