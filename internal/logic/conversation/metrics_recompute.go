package conversation

import (
	"context"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// MetricsKey names a conversation whose metrics are to be computed again.
type MetricsKey struct {
	ConversationID int64
	TenantID       int64
}

// MetricsSource is what a conversation's metrics are computed from.
type MetricsSource struct {
	DurationMS int64
	// TranscriptVersion is the version of the transcript read.
	TranscriptVersion int64
	Speakers          []model.Participant
	Sentences         []model.Sentence
}

// MetricsRepo is what RecomputeMetrics needs of the store.
type MetricsRepo interface {
	// StaleMetrics lists, in id order, up to limit conversations after
	// the id after whose metrics an algorithm older than version computed
	// (tenantID 0: every tenant's).
	StaleMetrics(ctx context.Context, tenantID, after int64, version, limit int) ([]MetricsKey, error)
	// MetricsSource reads a conversation's duration, speakers and
	// transcript; ErrNotFound once it is deleted.
	MetricsSource(ctx context.Context, k MetricsKey) (MetricsSource, error)
	// ReplaceStaleMetrics stores m, computed from the transcript of
	// version transcriptVersion, over metrics of an older algorithm only,
	// while that transcript is still the conversation's, and reports
	// whether it did.
	ReplaceStaleMetrics(ctx context.Context, m model.ConversationMetrics, transcriptVersion int64) (bool, error)
}

// RecomputeResult counts what RecomputeMetrics did.
type RecomputeResult struct {
	// Recomputed conversations now carry metrics of interaction.AlgoVersion.
	Recomputed int
	// Skipped conversations were deleted, or had their transcript written
	// again (and so their metrics computed anew), while the walk read them.
	Skipped int
}

// RecomputeMetrics computes again, from their stored transcripts, the
// metrics that an earlier interaction.AlgoVersion computed (one tenant's,
// or every tenant's when tenantID is 0), in batches of batch
// conversations, calling progress with the count done after each batch.
// Metrics keep the version that computed them until then, so a tenant's
// statistics would mix the algorithms of every release it has seen. It is
// safe beside the running service: a transcript written meanwhile computes
// its own metrics, which are never replaced, and a run stopped part-way
// through is taken up by the next, which finds what is still stale.
func RecomputeMetrics(ctx context.Context, repo MetricsRepo, tenantID int64, batch int, progress func(RecomputeResult)) (RecomputeResult, error) {
	var res RecomputeResult
	for after := int64(0); ; {
		keys, err := repo.StaleMetrics(ctx, tenantID, after, interaction.AlgoVersion, batch)
		if err != nil || len(keys) == 0 {
			return res, err
		}
		for _, k := range keys {
			after = k.ConversationID
			done, err := recomputeOne(ctx, repo, k)
			if err != nil {
				return res, err
			}
			if done {
				res.Recomputed++
			} else {
				res.Skipped++
			}
		}
		progress(res)
	}
}

func recomputeOne(ctx context.Context, repo MetricsRepo, k MetricsKey) (bool, error) {
	src, err := repo.MetricsSource(ctx, k)
	if errs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	internal := make(map[string]bool, len(src.Speakers))
	for _, s := range src.Speakers {
		internal[s.SpeakerKey] = s.Affiliation == model.AffiliationInternal
	}
	m := computeMetrics(src.DurationMS, internal, src.Sentences)
	c := model.Conversation{ID: k.ConversationID, TenantID: k.TenantID}
	return repo.ReplaceStaleMetrics(ctx, storedMetrics(c, m, time.Now()), src.TranscriptVersion)
}

// computeMetrics computes the metrics of sentences, a speaker being of the
// internal side when internal says so and external otherwise (unknown
// speakers, as the commit counts them).
func computeMetrics(durationMS int64, internal map[string]bool, sentences []model.Sentence) interaction.Metrics {
	ms := make([]interaction.Sentence, len(sentences))
	for k, s := range sentences {
		side := interaction.SideExternal
		if internal[s.SpeakerKey] {
			side = interaction.SideInternal
		}
		ms[k] = interaction.Sentence{Seq: s.Seq, StartMS: s.StartMS, EndMS: s.EndMS, Side: side, Text: s.Text}
	}
	return interaction.Compute(durationMS, ms)
}
