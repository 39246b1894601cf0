package search

import "math"

// Deleted is the conversation Deleter's OnDeleted: this process forgets
// the transcripts of deleted conversations it kept for indexing, and the
// indexer wakes to delete their documents.
func (ix *Indexer) Deleted(ids []int64) {
	for _, id := range ids {
		ix.recent.indexed(id, math.MaxInt64)
	}
	ix.Notify()
}
