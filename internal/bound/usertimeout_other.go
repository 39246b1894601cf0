//go:build !linux

package bound

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist.
func setUserTimeout(*net.TCPConn, time.Duration) error { return nil }
