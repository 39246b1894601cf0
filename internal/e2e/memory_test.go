//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// rss reads the resident set of pid in bytes.
func rss(pid int) int64 { return procStatusBytes(pid, "VmRSS:") }

// vmHWM is the peak resident set of pid so far, in bytes.
func vmHWM(pid int) int64 { return procStatusBytes(pid, "VmHWM:") }

// procStatusBytes reads a kB figure of /proc/<pid>/status in bytes.
func procStatusBytes(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// peakRSS samples pid's resident set until stop is closed.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	res := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := rss(pid); r > peak {
				peak = r
			}
			select {
			case <-stop:
				res <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return res
}

const mib = 1 << 20
