// Package lifecycle owns the process: the pid file, every listening socket
// (all from tableflip, so they survive an upgrade), the signals, and the
// hand-over from an old process to its upgraded child.
//
// SIGUSR2 or SIGHUP start an upgrade: the binary is executed again with the
// same arguments, inherits the listeners, and once it reports ready the old
// process drains and exits. A signal during an upgrade starts no other; one
// that comes while the parent of this process still drains starts the
// upgrade once that parent has exited. SIGTERM or SIGINT stop the service.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/fsmode"
)

// Reason tells why the process is leaving.
type Reason int

const (
	// Stopped means SIGTERM/SIGINT: the service goes away.
	Stopped Reason = iota
	// Upgraded means a new process took over the listeners.
	Upgraded
)

func (r Reason) String() string {
	if r == Upgraded {
		return "upgraded"
	}
	return "stopped"
}

// Process wraps the tableflip upgrader.
type Process struct {
	upg      *tableflip.Upgrader
	log      zerolog.Logger
	pidFile  string
	stopping atomic.Bool
	// upgrading is set from an upgrade request until it is settled: a
	// signal that comes meanwhile is the same request, not a new one.
	upgrading atomic.Bool
	signals   chan os.Signal
	upgrades  *prometheus.CounterVec
	held      []*os.File // Hold's lock files
}

// Options configure a Process.
type Options struct {
	PIDFile        string
	UpgradeTimeout time.Duration
}

// New prepares the pid file directory and the upgrader. Only one Process may
// exist per OS process.
func New(opts Options, log zerolog.Logger) (*Process, error) {
	pidFile, err := filepath.Abs(opts.PIDFile)
	if err != nil {
		return nil, fmt.Errorf("process.pid_file %s: %w", opts.PIDFile, err)
	}
	if err := fsmode.MkdirAll(filepath.Dir(pidFile)); err != nil {
		return nil, fmt.Errorf("process.pid_file: cannot create directory %s: %w", filepath.Dir(pidFile), err)
	}
	if err := canWritePIDFile(pidFile); err != nil {
		return nil, err
	}
	upg, err := tableflip.New(tableflip.Options{PIDFile: pidFile, UpgradeTimeout: opts.UpgradeTimeout})
	if err != nil {
		return nil, fmt.Errorf("upgrader: %w", err)
	}
	p := &Process{upg: upg, log: log, pidFile: pidFile, signals: make(chan os.Signal, 4),
		upgrades: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mgv_upgrades_total",
			Help: "Upgrades this process started, by result: ok (the new process took over), failed (it did not; this one keeps serving) or abandoned (this one was stopped meanwhile).",
		}, []string{"result"}),
	}
	for _, r := range []string{"ok", "failed", "abandoned"} {
		p.upgrades.WithLabelValues(r)
	}
	// Signals are caught from here on, and wait in the channel until Run
	// reads them: a SIGTERM that came once the process reported ready but
	// before Run began used to kill it with the default action, without a
	// drain and leaving its pid file behind.
	signal.Notify(p.signals, syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	if !upg.HasParent() {
		if err := p.checkPIDFile(); err != nil {
			signal.Stop(p.signals)
			upg.Stop()
			return nil, err
		}
	}
	return p, nil
}

// canWritePIDFile refuses a pid file that could not be written once the
// process is ready (its directory read-only, or not a directory), before
// anything listens: the upgrader writes it through a temporary file beside
// it, and its own error names neither the setting nor the file.
func canWritePIDFile(pidFile string) error {
	f, err := os.CreateTemp(filepath.Dir(pidFile), filepath.Base(pidFile)+".check*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("process.pid_file %s: cannot write a file in %s: %w", pidFile, filepath.Dir(pidFile), err)
	}
	_ = f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("process.pid_file %s: %w", pidFile, err)
	}
	return nil
}

// checkPIDFile reports what an existing pid file says before it is
// replaced, and refuses to start beside the mgvcore it names: that one
// serves with the same pid file (and, as configured alike, the same data
// directory, whose embedded stores it holds). Taking the file over would
// leave it running with nothing naming it, out of reach of an upgrade or
// a stop. A pid reused by another program after a crash is stale.
func (p *Process) checkPIDFile() error {
	data, err := os.ReadFile(p.pidFile)
	if err != nil {
		return nil
	}
	pid, err := parsePID(data)
	switch {
	case err != nil:
		p.log.Warn().Str("pid_file", p.pidFile).Msg("pid file holds no pid; it will be overwritten")
	case pid != os.Getpid() && alive(pid) && sameProgram(pid):
		return fmt.Errorf("process.pid_file %s names pid %d, another mgvcore that still runs: stop it first (kill -TERM %d), or upgrade it in place (kill -USR2 %d)",
			p.pidFile, pid, pid, pid)
	case pid != os.Getpid() && alive(pid):
		p.log.Warn().Str("pid_file", p.pidFile).Int("pid", pid).
			Msg("pid file names a running process of another program; it will be overwritten once this one is ready")
	default:
		p.log.Info().Str("pid_file", p.pidFile).Int("pid", pid).Msg("stale pid file; it will be overwritten")
	}
	return nil
}

// sameProgram reports whether pid runs the program this process runs (by
// its file name: an upgraded binary replaced on disk reads "(deleted)").
func sameProgram(pid int) bool {
	self, err := os.Executable()
	if err != nil {
		return false
	}
	other, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSuffix(other, " (deleted)")) == filepath.Base(self)
}

func alive(pid int) bool {
	proc, err := os.FindProcess(pid)
	return err == nil && proc.Signal(syscall.Signal(0)) == nil
}

// Collector exports mgv_upgrades_total. A failed upgrade is counted by the
// process that keeps serving, so it stays visible to scrapes.
func (p *Process) Collector() prometheus.Collector { return p.upgrades }

// HasParent reports whether this process is an upgrade of a running one.
func (p *Process) HasParent() bool { return p.upg.HasParent() }

// PIDFile is the absolute pid file path.
func (p *Process) PIDFile() string { return p.pidFile }

// Listen returns a TCP listener inherited from the parent or newly opened.
func (p *Process) Listen(addr string) (net.Listener, error) {
	// tableflip flattens the error of a new listener into text, so keep the
	// original to report "address already in use" plainly.
	var listenErr error
	ln, err := p.upg.ListenWithCallback("tcp", addr, func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		listenErr = err
		return ln, err
	})
	if err == nil {
		return ln, nil
	}
	var op *net.OpError
	if errors.As(listenErr, &op) && op.Err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, op.Err)
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, err)
}

// Ready writes the pid file and tells a waiting parent to drain. A parent
// that died meanwhile (a kill -9 during the upgrade) cannot be told: this
// process holds the listeners and the pid file names it, so it serves on
// rather than leave no process at all.
func (p *Process) Ready() error {
	err := p.upg.Ready()
	if err != nil && !p.namedByPIDFile() {
		// The upgrader writes the pid file before it tells the parent:
		// this is its write that failed.
		return fmt.Errorf("process.pid_file %s: %w", p.pidFile, err)
	}
	if err != nil && !p.upg.HasParent() {
		return err
	}
	if err != nil {
		p.log.Warn().Err(err).Msg("upgrade: the old process is gone before this one was ready; serving without telling it")
	}
	for _, f := range p.held {
		stamp(f)
	}
	return nil
}

// namedByPIDFile reports whether the pid file names this process (Ready
// writes it before telling the parent).
func (p *Process) namedByPIDFile() bool {
	pid, err := readPID(p.pidFile)
	return err == nil && pid == os.Getpid()
}

// readPID is the pid a pid file names.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parsePID(data)
}

// parsePID reads a pid file's content, as tableflip writes it.
func parsePID(data []byte) (int, error) { return strconv.Atoi(strings.TrimSpace(string(data))) }

// Run handles signals until the process must leave, and says why. ctx
// cancellation counts as a stop.
func (p *Process) Run(ctx context.Context) Reason {
	for {
		select {
		case <-ctx.Done():
			return p.stop("context done")
		case <-p.upg.Exit():
			if p.stopping.Load() {
				return Stopped
			}
			return Upgraded
		case sig := <-p.signals:
			switch sig {
			case syscall.SIGUSR2, syscall.SIGHUP:
				if !p.upgrading.CompareAndSwap(false, true) {
					p.log.Warn().Str("signal", sig.String()).Msg("upgrade in progress: this signal starts no other")
					continue
				}
				go p.upgrade(sig)
			default:
				return p.stop(sig.String())
			}
		}
	}
}

func (p *Process) stop(why string) Reason {
	p.log.Info().Str("reason", why).Msg("stopping")
	p.stopping.Store(true)
	p.upg.Stop()
	return Stopped
}

func (p *Process) upgrade(sig os.Signal) {
	defer p.upgrading.Store(false)
	start := time.Now()
	// A process can hand over only once its own parent has exited: an
	// upgrade asked for while that one still drains (up to its drain
	// deadline under long streams) used to fail with "parent hasn't
	// exited", and the newer binary was never started.
	if p.upg.HasParent() && !p.parentExited() {
		p.log.Info().Str("signal", sig.String()).Msg("upgrade requested while the previous process drains; it starts once that one has exited")
		_ = p.upg.WaitForParent(context.Background())
		if p.stopping.Load() {
			return
		}
	}
	p.log.Info().Str("signal", sig.String()).Msg("upgrade requested: starting a new process")
	err := p.upg.Upgrade()
	// The upgrader may hear of the parent's exit just after WaitForParent.
	for i := 0; err != nil && err.Error() == "parent hasn't exited" && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		err = p.upg.Upgrade()
	}
	if err != nil && p.stopping.Load() {
		// A stop during the upgrade ended it (tableflip's "terminating"):
		// no failure of the new binary, and this process is not serving on.
		p.log.Info().Err(err).Msg("upgrade abandoned: this process is stopping")
		p.upgrades.WithLabelValues("abandoned").Inc()
		return
	}
	if err != nil {
		p.upgrades.WithLabelValues("failed").Inc()
		p.log.Error().Err(err).Msg("upgrade failed; this process keeps serving")
		return
	}
	p.upgrades.WithLabelValues("ok").Inc()
	p.log.Info().Dur("took_ms", time.Since(start)).Msg("new process is ready; draining this one")
}

// parentExited reports, without waiting, whether the parent has exited.
func (p *Process) parentExited() bool {
	// A short wait, not a cancelled context: WaitForParent would choose
	// at random between the two when both are ready.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	return !errors.Is(p.upg.WaitForParent(ctx), context.DeadlineExceeded)
}

// Close releases the upgrader and, on a real stop, removes the pid file if
// it still names this process.
func (p *Process) Close(reason Reason) {
	signal.Stop(p.signals)
	p.upg.Stop()
	if reason != Stopped {
		return
	}
	if data, err := os.ReadFile(p.pidFile); err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(p.pidFile)
	}
}
