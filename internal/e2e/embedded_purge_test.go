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

	"github.com/megaview/mgvcore/internal/dao/daotest"
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
	const n = 3
	s, admin, name, words := searchablePerson(t, "客户Qian", "hushproject", n)
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
	waitFilesLose(t, dir, 30*time.Second, name, words)
	t.Logf("the index files lost the person %s after the erasure was done", time.Since(erased).Round(100*time.Millisecond))
}

// searchablePerson starts the embedded default with n calls of an outside
// speaker named name who says words (each made distinctive), searchable,
// and returns them with an admin's token.
func searchablePerson(t *testing.T, name, words string, n int) (s *Service, admin, person, said string) {
	t.Helper()
	s, f, admin, p, tag := startErasing(t, nil)
	person, said = name+tag, words+tag
	customerCalls(t, p, f, person, "we plan "+said+" next year", tag, n)
	waitSearch(t, s, admin, said, int64(n), 30*time.Second)
	return s, admin, person, said
}

// waitFilesLose waits until no file under dir holds any of words, at
// most timeout.
func waitFilesLose(t *testing.T, dir string, timeout time.Duration, words ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		found := filesHolding(t, dir, words...)
		if len(found) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after the deletion the files under %s still hold %v", timeout, dir, found)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// On the embedded default an erasure is done only once the person's name
// and words have left the SQLite store's files, its WAL included: a
// checkpoint copies the WAL into the database file but leaves its bytes,
// so the store truncates it. The index's files lose them a few seconds
// later (TestErasureLeavesNothingInTheEmbeddedIndexFiles): after that no
// file of the data directory holds them.
func TestErasureLeavesNothingInTheSQLiteWAL(t *testing.T) {
	const n = 3
	s, admin, name, words := searchablePerson(t, "客户Wal", "walproject", n)
	data := filepath.Dir(s.Env["MGV_DATABASE_DSN"])
	if found := filesHolding(t, data, name, words); len(found) == 0 {
		t.Fatal("no file of the data directory holds the person before the erasure: the check below would prove nothing")
	}

	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	done := waitErasure(t, s, admin, e.ID, 60*time.Second)
	if done.ConversationsDeleted != n {
		t.Fatalf("deleted %d of %d conversations: %+v", done.ConversationsDeleted, n, done)
	}
	db := s.Env["MGV_DATABASE_DSN"]
	if left := append(daotest.SQLiteHolding(t, db, name), daotest.SQLiteHolding(t, db, words)...); len(left) != 0 {
		t.Fatalf("the erasure is done and the database's files still hold %v", left)
	}
	// The index is rewritten embedded.PurgeDelay (5 s) after the deletion.
	waitFilesLose(t, data, 30*time.Second, name, words)
}

// A conversation deleted by an admin leaves the SQLite WAL in the
// background, within dao.WALEvery (10 s) and a truncation (the delete does
// not wait for it), and the index's files with its rewrite.
func TestDeletedConversationLeavesTheSQLiteWAL(t *testing.T) {
	s, f, admin, p, tag := startErasing(t, nil)
	name, words := "客户Del"+tag, "delproject"+tag
	ids := customerCalls(t, p, f, name, "we plan "+words+" next year", tag, 1)
	db := s.Env["MGV_DATABASE_DSN"]
	if len(daotest.SQLiteHolding(t, db, words)) == 0 {
		t.Fatal("the database's files hold nothing of the conversation: the check below would prove nothing")
	}
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", ids[0]), admin, nil).want(t, http.StatusOK, "")
	deleted := time.Now()
	// The index is rewritten embedded.PurgeDelay (5 s) after the deletion.
	waitFilesLose(t, filepath.Dir(db), 30*time.Second, name, words)
	t.Logf("the data directory lost the conversation %s after the delete", time.Since(deleted).Round(100*time.Millisecond))
}
