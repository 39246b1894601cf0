//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestANearlyFullDiskStopsIndexWritesNotTheService: the embedded stores on
// a small file system (a tmpfs of 320 MiB), then a file that leaves less
// free space than the embedded index keeps for writing (256 MiB). Bleve
// ended the process with a panic when the disk filled under a write; now
// ingest goes on (the database has room), /readyz answers 503 naming the
// index, searches answer, and once space is freed the waiting jobs are
// written and the conversations found.
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(s.URL("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		closeBody(t, resp)
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"failed":"search_index_space"`) {
			t.Logf("/readyz: %s", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with the disk nearly full: %d %s", resp.StatusCode, body)
		}
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
