package polltest

import (
	"strings"
	"testing"
	"time"
)

// fatalT records a failure instead of ending the test.
type fatalT struct {
	testing.TB
	failed string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}

func TestUntilReturnsOnceTrue(t *testing.T) {
	n := 0
	Until(t, time.Second, time.Millisecond, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("%d calls", n)
	}
}

func TestUntilFailsAfterTimeout(t *testing.T) {
	f := &fatalT{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v", r)
			}
		}()
		Until(f, 30*time.Millisecond, time.Millisecond, "nothing", func() bool { return false })
	}()
	if !strings.Contains(f.failed, "timed out") || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("failed %q after %s", f.failed, time.Since(start))
	}
}
