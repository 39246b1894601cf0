package bound

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestACappedConnectionKeepsWhatATCPConnectionOffers: net/http half-closes
// a connection before it closes it and sends files with sendfile, and
// grpc-go sets its keepalive timeout as TCP_USER_TIMEOUT, all on a
// *net.TCPConn; a capped connection passes the first two on, and the
// listener sets the third itself.
func TestACappedConnectionKeepsWhatATCPConnectionOffers(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(inner, ConnCaps{PerClient: 4, Total: 4, UserTimeout: 20 * time.Second})
	defer func() { _ = ln.Close() }()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("no CloseWrite")
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("no ReadFrom")
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatal("no SyscallConn")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ms int
	var gerr error
	if err := raw.Control(func(fd uintptr) { ms, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if ms != 20_000 {
		t.Fatalf("TCP_USER_TIMEOUT %d ms, want 20000", ms)
	}
	// The half-close reaches the client.
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := client.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite the client read %d bytes, %v; want EOF", n, err)
	}
}
