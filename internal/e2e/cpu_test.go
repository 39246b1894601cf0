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
	return benchProcs{
		"elasticsearch":  fromFile("MGV_TEST_ES_PIDFILE"),
		"mariadb":        fromFile("MGV_TEST_MYSQL_PIDFILE"),
		"mgvcore":        func() int { return servicePID },
		"load generator": os.Getpid,
	}
}

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
