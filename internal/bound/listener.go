package bound

import (
	"net"
	"net/netip"

	"github.com/megaview/mgvcore/internal/clientip"
)

// Refusal reasons of a connection Listen closes at once.
const (
	RefusedPerClient = "per_client"
	RefusedTotal     = "total"
)

// Listen caps the connections ln hands out: at most perClient open at once
// from one client (its address, an IPv6 /64) and total in all. A connection
// past a cap is closed as soon as it is accepted, before anything is read
// from it, and refused is told why (RefusedPerClient or RefusedTotal); nil
// is told nothing. A peer that exempt names (a trusted proxy, which carries
// many clients) is held to the total only. A cap of 0 or less is no cap.
//
// Each open connection costs the server a goroutine and its buffers, tens
// of kilobytes, until the idle or read deadline ends it: without caps, one
// client that opens connections faster than they end holds as much memory
// as it likes.
func Listen(ln net.Listener, perClient, total int, exempt func(netip.Addr) bool, refused func(reason string)) *Listener {
	return &Listener{Listener: ln, slots: NewSlots(perClient, total), total: total, exempt: exempt, refused: refused}
}

// Listener is a net.Listener with connection caps (see Listen).
type Listener struct {
	net.Listener
	slots   *Slots
	total   int
	exempt  func(netip.Addr) bool
	refused func(reason string)
}

// Accept returns the next connection within the caps, closing those past
// them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if release, ok := l.slots.Acquire(l.key(c.RemoteAddr())); ok {
			return &limitedConn{Conn: c, release: release}, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// A reset, not an orderly close: the socket is freed at once
			// instead of lingering in TIME_WAIT on this side.
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		if l.refused != nil {
			reason := RefusedPerClient
			if l.total > 0 && l.slots.InUse() >= l.total {
				reason = RefusedTotal
			}
			l.refused(reason)
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
	if l.exempt != nil && l.exempt(ip) {
		return ap.String()
	}
	return clientip.Key(ip.String())
}

// limitedConn gives its slot back when closed (net/http and grpc-go may
// close a connection more than once; the slot goes back once).
type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	defer c.release()
	return c.Conn.Close()
}
