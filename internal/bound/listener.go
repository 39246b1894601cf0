package bound

import (
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/megaview/mgvcore/internal/clientip"
)

// Refusal reasons of a connection Listen closes at once.
const (
	RefusedPerClient = "per_client"
	RefusedTotal     = "total"
)

// ConnCaps are what Listen holds a listener to.
type ConnCaps struct {
	// PerClient caps the connections open at once from one client (its
	// address, an IPv6 /64), Total those of all; 0 or less is no cap.
	PerClient, Total int
	// Exempt names peers held to the total only (trusted proxies, which
	// carry many clients); nil exempts nobody.
	Exempt func(netip.Addr) bool
	// Refused is told why a connection was closed (RefusedPerClient or
	// RefusedTotal); nil is told nothing.
	Refused func(reason string)
	// UserTimeout, when positive, is set as the TCP_USER_TIMEOUT of each
	// connection (Linux): grpc-go sets its keepalive timeout there on the
	// connections it accepts as *net.TCPConn, which a capped connection
	// no longer is.
	UserTimeout time.Duration
}

// Listen caps the connections ln hands out (see ConnCaps). A connection
// past a cap is reset as soon as it is accepted, before anything is read
// from it.
//
// Each open connection costs the server a goroutine and its buffers, tens
// of kilobytes, until the idle or read deadline ends it: without caps, one
// client that opens connections faster than they end holds as much memory
// as it likes.
func Listen(ln net.Listener, caps ConnCaps) *Listener {
	return &Listener{Listener: ln, caps: caps, slots: NewSlots(caps.PerClient, caps.Total)}
}

// Listener is a net.Listener with connection caps (see Listen).
type Listener struct {
	net.Listener
	caps  ConnCaps
	slots *Slots
}

// Accept returns the next connection within the caps, closing those past
// them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, full := l.slots.Take(l.key(c.RemoteAddr()))
		if full == "" {
			tc, _ := c.(*net.TCPConn)
			if tc != nil && l.caps.UserTimeout > 0 {
				_ = setUserTimeout(tc, l.caps.UserTimeout)
			}
			return &limitedConn{Conn: c, tcp: tc, release: release}, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// A reset, not an orderly close: the socket is freed at once
			// instead of lingering in TIME_WAIT on this side.
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		if l.caps.Refused != nil {
			reason := RefusedPerClient
			if full == CapTotal {
				reason = RefusedTotal
			}
			l.caps.Refused(reason)
		}
	}
}

// Open is the number of connections open.
func (l *Listener) Open() int { return l.slots.InUse() }

// key is the slot key of a peer: its client key, or for an exempt peer its
// whole address with the port, one per connection, so that only the total
// holds it.
func (l *Listener) key(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := ap.Addr().Unmap()
	if l.caps.Exempt != nil && l.caps.Exempt(ip) {
		return ap.String()
	}
	return clientip.Key(ip.String())
}

// limitedConn gives its slot back when closed (net/http and grpc-go may
// close a connection more than once; the slot goes back once). It passes
// on what net/http asks of a *net.TCPConn: a half-close before it closes,
// sendfile, the raw socket.
type limitedConn struct {
	net.Conn
	tcp     *net.TCPConn // nil for another kind of connection
	release func()
}

func (c *limitedConn) Close() error {
	defer c.release()
	return c.Conn.Close()
}

// CloseWrite half-closes a TCP connection (net/http does before it closes
// one after its answer, so the client reads the whole answer).
func (c *limitedConn) CloseWrite() error {
	if c.tcp == nil {
		return nil
	}
	return c.tcp.CloseWrite()
}

// ReadFrom lets a TCP connection send a file with sendfile.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if c.tcp == nil {
		return io.Copy(c.Conn, r)
	}
	return c.tcp.ReadFrom(r)
}

// SyscallConn reaches the socket of a TCP connection.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if c.tcp == nil {
		return nil, syscall.EINVAL
	}
	return c.tcp.SyscallConn()
}
