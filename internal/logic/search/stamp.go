package search

import (
	"time"

	"github.com/megaview/mgvcore/internal/model"
)

// Stamp identifies the state of a conversation a document was built from.
type Stamp struct {
	Version   int64
	UpdatedAt time.Time
}

// KnownTranscripts returns the sentences of a conversation's transcript at
// a transcript version when the caller holds them (false: Load reads them).
// Every write of a transcript makes a new version, so the sentences of a
// version never change once committed.
type KnownTranscripts func(conversationID, version int64) ([]model.Sentence, bool)
