//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/http/controller"
)

// filesHolding names the files under dir that hold any of words as bytes.
func filesHolding(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) { // a segment bleve removed meanwhile
			return nil
		}
		for _, w := range words {
			if err == nil && bytes.Contains(b, []byte(w)) {
				found = append(found, fmt.Sprintf("%q in %s", w, filepath.Base(p)))
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// segments counts the segment files of the bleve index in dir.
func segments(t *testing.T, dir string) int {
	t.Helper()
	zaps, err := filepath.Glob(filepath.Join(dir, "store", "*.zap"))
	if err != nil {
		t.Fatal(err)
	}
	return len(zaps)
}

// On the embedded default an erasure's deleted text leaves the index's
// files, not only its search results: bleve keeps a deleted document in
// its segment file until a merge, so the engine rewrites the index a few
// seconds after a deletion.
func TestErasureLeavesNothingInTheEmbeddedIndexFiles(t *testing.T) {
	s, f, admin, p, tag := startErasing(t, nil)
	name, words := "客户Qian"+tag, "hushproject"+tag
	const n = 3
	customerCalls(t, p, f, name, "we plan "+words+" next year", tag, n)
	waitSearch(t, s, admin, words, n, 30*time.Second)
	dir := s.Env["MGV_SEARCH_PATH"]
	// bleve's merger drops deleted documents from the segments it merges;
	// the case to test is the one it leaves alone: everything in one
	// segment, and nothing written after the deletions.
	deadline := time.Now().Add(20 * time.Second)
	for len(filesHolding(t, dir, name, words)) == 0 || segments(t, dir) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the index never came to one segment holding the person (%d segments, %v): the check below would prove nothing",
				segments(t, dir), filesHolding(t, dir, name, words))
		}
		time.Sleep(100 * time.Millisecond)
	}

	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	done := waitErasure(t, s, admin, e.ID, 30*time.Second)
	if done.ConversationsDeleted != n {
		t.Fatalf("deleted %d of %d conversations: %+v", done.ConversationsDeleted, n, done)
	}
	// The rewrite follows the deletion by embedded.PurgeDelay (5 s).
	erased := time.Now()
	deadline = erased.Add(30 * time.Second)
	for {
		found := filesHolding(t, dir, name, words)
		if len(found) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the erasure the index files still hold %v", found)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the index files lost the person %s after the erasure was done", time.Since(erased).Round(100*time.Millisecond))
}
