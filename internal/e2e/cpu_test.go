//go:build e2e && bench

package e2e

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchProcs are the processes of an ingest run whose CPU time a benchmark
// reports: Elasticsearch and MariaDB (from the test environment's pid
// files), the service and this test process, the load generator.
type benchProcs map[string]func() int

// userHZ is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const userHZ = 100

func newBenchProcs(t *testing.T, servicePID int) benchProcs {
	t.Helper()
	fromFile := func(env string) func() int {
		file := requireEnv(t, env)
		return func() int {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%s: %v", env, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("%s %s: %v", env, file, err)
			}
			return pid
		}
	}
	p := benchProcs{
		"elasticsearch":  fromFile("MGV_TEST_ES_PIDFILE"),
		"mariadb":        fromFile("MGV_TEST_MYSQL_PIDFILE"),
		"mgvcore":        func() int { return servicePID },
		"load generator": os.Getpid,
	}
	// Jaeger is counted when the test environment started it (one it
	// found already running has no pid file here).
	if file := os.Getenv("MGV_TEST_JAEGER_PIDFILE"); file != "" {
		if _, err := os.Stat(file); err == nil {
			p["jaeger"] = fromFile("MGV_TEST_JAEGER_PIDFILE")
		}
	}
	return p
}

// machineBusy is the CPU time every core together has spent working so
// far: user, nice, system, irq and softirq of /proc/stat (idle, iowait and
// time the hypervisor gave to others are no work done here).
func machineBusy(t *testing.T) time.Duration {
	t.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		t.Fatalf("/proc/stat: %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			t.Fatalf("/proc/stat: %q", line)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// armUse is what an arm's rounds cost: each process's CPU time, the
// machine's busy time (key "machine"), and the requests it served.
type armUse struct {
	cpu      cpuUse
	requests float64
}

// measured runs one round of an arm, f, which lasts d and returns its
// rate, and adds what the round cost to u.
func (p benchProcs) measured(t *testing.T, u *armUse, d time.Duration, f func() float64) float64 {
	t.Helper()
	before := p.cpu(t)
	before["machine"] = machineBusy(t)
	rate := f()
	after := p.cpu(t)
	after["machine"] = machineBusy(t)
	u.cpu = after.since(before).add(u.cpu)
	u.requests += rate * d.Seconds()
	return rate
}

// perRequest is the CPU time name spent per request of the arm.
func (u armUse) perRequest(name string) time.Duration {
	if u.requests <= 0 {
		return 0
	}
	return time.Duration(float64(u.cpu[name]) / u.requests)
}

// ceiling is the highest ratio to bare the service's arm could have
// reached given what name (Jaeger's collector, MariaDB), running on the
// same cores, spent per request of that arm: even if the service's own
// work per request cost the machine no more than a bare request did,
// each request would still cost that plus name's share. It also returns
// that share.
func ceiling(bare, svc armUse, name string) (float64, time.Duration) {
	b, x := bare.perRequest("machine"), svc.perRequest(name)
	if b <= 0 {
		return 0, x
	}
	return float64(b) / float64(b+x), x
}

// ceilingNote says what ceiling found, for a row's description.
func ceilingNote(bare, svc armUse, name, what string) string {
	if _, ok := svc.cpu[name]; !ok {
		return ""
	}
	c, x := ceiling(bare, svc, name)
	return fmt.Sprintf("; %s used %.1f µs of CPU per request of the service's arm on the same cores, where a bare request cost the machine %.1f µs in all: "+
		"even a chain costing nothing beyond bare could reach at most %.2f",
		what, us(x), us(bare.perRequest("machine")), c)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cpu reads each process's CPU time so far.
func (p benchProcs) cpu(t *testing.T) cpuUse {
	t.Helper()
	out := cpuUse{}
	for name, pid := range p {
		f, err := procStat(pid())
		if err != nil {
			t.Fatal(err)
		}
		if len(f) < 13 {
			t.Fatalf("/proc/%d/stat: %q", pid(), f)
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/%d/stat: %q", pid(), f)
		}
		out[name] = time.Duration(utime+stime) * time.Second / userHZ
	}
	return out
}

// quiet waits until the processes other than this one are idle (together
// under 5 % of a core over 200 ms), so that a measured arm does not pay
// for background work the previous one left behind (Elasticsearch's
// merges and flushes, InnoDB's purge); after timeout it says so and goes
// on.
func (p benchProcs) quiet(t *testing.T, timeout time.Duration) {
	t.Helper()
	const window = 200 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		before := p.cpu(t)
		time.Sleep(window)
		busy := time.Duration(0)
		for name, d := range p.cpu(t).since(before) {
			if name != "load generator" {
				busy += d
			}
		}
		if busy*20 < window {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("the processes are still busy after %s (%s in the last %s); measuring anyway", timeout, busy, window)
			return
		}
	}
}

// cpuUse is CPU time per process.
type cpuUse map[string]time.Duration

func (c cpuUse) since(before cpuUse) cpuUse {
	out := cpuUse{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}

func (c cpuUse) add(o cpuUse) cpuUse {
	out := cpuUse{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range o {
		out[k] += v
	}
	return out
}

// per is the CPU seconds per unit sentences of each process that used
// any, for n sentences.
func (c cpuUse) per(unit, n int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if s := c[k].Seconds() * float64(unit) / float64(n); s >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, s))
		}
	}
	return strings.Join(parts, ", ")
}

// String is the CPU time of each process.
func (c cpuUse) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %s", k, c[k]))
	}
	return strings.Join(parts, ", ")
}
