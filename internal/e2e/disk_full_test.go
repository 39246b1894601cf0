//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestANearlyFullDiskStopsIndexWritesNotTheService: the embedded stores on
// a small file system (a tmpfs of 320 MiB), then a file that leaves less
// free space than the embedded index keeps for writing (256 MiB). Bleve
// ended the process with a panic when the disk filled under a write; now
// index writes wait while ingest goes on (the database has room), the
// instance stays ready (taking it out of rotation would not free space),
// mgv_search_index_free_bytes says why, searches answer, and once space is
// freed the waiting jobs are written and the conversations found.
func TestANearlyFullDiskStopsIndexWritesNotTheService(t *testing.T) {
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=320m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", small).Run() })
	s := NewService(t, map[string]string{
		"MGV_DATABASE_DSN": filepath.Join(small, "mgvcore.db"),
		"MGV_SEARCH_PATH":  filepath.Join(small, "search"),
	})
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	tag := newTag()
	if err := ingestTagged(p, f.Reps[0].ID, tag, 0); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, tag, 1, 10*time.Second)

	// Leave about 40 MiB free.
	var st syscall.Statfs_t
	if err := syscall.Statfs(small, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(small, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-40<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := ingestTagged(p, f.Reps[i%4].ID, tag, i); err != nil {
			t.Fatalf("ingest with the disk nearly full: %v", err)
		}
	}
	free := grepLines(metricsText(t, s), "mgv_search_index_free_bytes ")
	if n, err := strconv.ParseFloat(strings.TrimPrefix(free, "mgv_search_index_free_bytes "), 64); err != nil || n >= 256<<20 {
		t.Fatalf("metric with the disk nearly full: %q", free)
	}
	if code := getStatus(t, s.URL("/readyz")); code != http.StatusOK {
		t.Fatalf("/readyz with the disk nearly full: %d; the instance serves on", code)
	}
	if res := searchAs(t, s, admin, map[string]any{"query": tag}); res.Status != http.StatusOK {
		t.Fatalf("search with the disk nearly full: %d %s", res.Status, res.Msg)
	}
	time.Sleep(2 * time.Second) // the indexer tries, and is refused, meanwhile
	if !Alive(s.PID()) {
		t.Fatalf("the service ended with the disk nearly full:\n%s", s.Stderr.String())
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, tag, 6, 60*time.Second)
	if code := getStatus(t, s.URL("/readyz")); code != http.StatusOK {
		t.Fatalf("/readyz after space was freed: %d", code)
	}
}
