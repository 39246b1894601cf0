package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/megaview/mgvcore/internal/fsmode"
)

// ErrHeld is returned by Hold when another process holds the lock.
var ErrHeld = errors.New("held by another process")

// Hold takes the lock file at path for the life of this process and of the
// processes it is upgraded into: it refuses a second service beside the
// first on one embedded store, which the first holds (the search index) or
// shares without knowing (the database file). The lock is an exclusive
// flock on an open file; an upgrade hands the open file to the new process,
// so it holds the lock on from before the old process exits. The file
// names the pid that took it, for the error of the process refused.
func (p *Process) Hold(path string) error {
	name := "hold:" + path
	f, err := p.upg.File(name)
	if err != nil {
		return fmt.Errorf("lock %s: inherited file: %w", path, err)
	}
	inherited := f != nil
	if !inherited {
		if err := fsmode.CreateFile(path); err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		if f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
	}
	// An inherited file holds the lock already: taking it again on the
	// same open file succeeds at once.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if pid, perr := parsePID(head(f)); perr == nil {
			holder = fmt.Sprintf(" (pid %d)", pid)
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w%s", path, ErrHeld, holder)
		}
		return fmt.Errorf("lock %s: %w", path, err)
	}
	if !inherited {
		// Handed to the processes this one is upgraded into; an inherited
		// file is handed on already.
		if err := p.upg.AddFile(name, f); err != nil {
			_ = f.Close()
			return fmt.Errorf("lock %s: %w", path, err)
		}
		stamp(f)
	}
	// f stays open, and locked, until this process exits.
	p.held = append(p.held, f)
	return nil
}

// stamp writes this process's pid into a held lock file: the process that
// took the lock, or the upgraded one once it is ready.
func stamp(f *os.File) {
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
}

// head is the start of a lock file, where its pid is.
func head(f *os.File) []byte {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}
