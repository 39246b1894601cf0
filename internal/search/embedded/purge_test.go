package embedded

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/search"
)

// The words of the conversation that is deleted: a name, a phone number and
// a made-up word, each short enough to sit in the segment file as written.
var purgeWords = []string{"zebrafishquux", "13912345678", "张三丰"}

func purgeDoc(id int64, text string) search.Op {
	return search.Op{TenantID: 1, ConversationID: id, Doc: &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 2, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: text}, {Seq: 1, Text: "预算有限"}}}}
}

// onDisk names the words of purgeWords that some file under dir holds.
func onDisk(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	for _, w := range purgeWords {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) { // removed by bleve meanwhile
				return nil
			}
			if err == nil && bytes.Contains(b, []byte(w)) {
				found = append(found, w+" in "+filepath.Base(p))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

func write(t *testing.T, e *Engine, ops ...search.Op) {
	t.Helper()
	if _, err := e.Write(t.Context(), ops); err != nil {
		t.Fatal(err)
	}
}

func waitPurged(t *testing.T, purged chan error) {
	t.Helper()
	select {
	case err := <-purged:
		if err != nil {
			t.Fatalf("purge: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no purge within 30 s")
	}
}

// eventually waits for the index files to lose the words: bleve removes a
// merged segment's file once no reader holds it.
func eventually(t *testing.T, dir, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := onDisk(t, dir)
		if len(found) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the index files still hold %v", when, found)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A deleted conversation's text leaves the index files: bleve only marks
// it deleted in its segment, so the engine rewrites the index without it.
func TestDeletedTextLeavesTheFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	purged := make(chan error, 10)
	e, err := open(dir, 20*time.Millisecond, 0, func(err error) { purged <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	write(t, e, purgeDoc(1, "call zebrafishquux at 13912345678, ask for 张三丰"), purgeDoc(2, "nothing personal"))
	time.Sleep(300 * time.Millisecond) // the merger makes one segment of the two writes
	if found := onDisk(t, dir); len(found) != len(purgeWords) {
		t.Fatalf("before the delete the files hold %v, want every word (else this test proves nothing)", found)
	}
	select {
	case err := <-purged:
		t.Fatalf("a purge (%v) with nothing deleted", err)
	default:
	}

	write(t, e, search.Op{TenantID: 1, ConversationID: 1})
	waitPurged(t, purged)
	eventually(t, dir, "after the delete")

	// Search still finds what is left, and only that.
	terms, _ := search.Parse("预算")
	res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
	if err != nil || res.Total != 1 || len(res.Hits) != 1 || res.Hits[0].ConversationID != 2 {
		t.Fatalf("search after the purge: %+v %v", res, err)
	}

	// A replaced transcript's old text goes the same way.
	write(t, e, purgeDoc(3, "zebrafishquux again"))
	op := purgeDoc(3, "redacted")
	op.Doc.Version = 2
	write(t, e, op)
	waitPurged(t, purged)
	eventually(t, dir, "after the replacement")
}

// Text deleted just before a stop (or a kill) is purged at the next start.
func TestDeletedTextIsPurgedAfterARestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	e, err := open(dir, time.Hour, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, e, purgeDoc(1, "zebrafishquux 13912345678 张三丰"), purgeDoc(2, "nothing personal"))
	write(t, e, search.Op{TenantID: 1, ConversationID: 1})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if found := onDisk(t, dir); len(found) == 0 {
		t.Fatal("the words left the files without a purge: this test proves nothing")
	}

	purged := make(chan error, 1)
	if e, err = open(dir, 20*time.Millisecond, 0, func(err error) { purged <- err }); err != nil {
		t.Fatal(err)
	}
	defer closeEngine(t, e)
	waitPurged(t, purged)
	eventually(t, dir, "after the restart")
}

// Closing the engine while it waits for or runs a purge returns at once.
func TestCloseDuringAPurge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "search")
	e, err := open(dir, time.Hour, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, e, purgeDoc(1, "zebrafishquux"))
	write(t, e, search.Op{TenantID: 1, ConversationID: 1})
	done := make(chan error)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the purge")
	}
}
