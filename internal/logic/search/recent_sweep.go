package search

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RecentBound is how long after a conversation is deleted, or a person
// erased, on any instance, this process may still hold a copy of the
// transcript in its indexer's memory: an entry lives at most RecentTTL
// after the commit that put it, and expired entries are dropped at the
// next sweep. It holds whether or not this process reaches the database;
// usually the sweep drops the copy much sooner, within RecentSweep of the
// deletion's commit. The erasure job waits this long after its last
// deletion before it reports done.
func (ix *Indexer) RecentBound() time.Duration { return ix.o.RecentTTL + ix.o.RecentSweep }

// sweeps runs sweep every RecentSweep until Stop.
func (ix *Indexer) sweeps(ctx context.Context) {
	t := time.NewTicker(ix.o.RecentSweep)
	defer t.Stop()
	var warned time.Time
	for {
		select {
		case <-ix.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := ix.sweep(ctx); err != nil && ctx.Err() == nil && time.Since(warned) > time.Minute {
			warned = time.Now()
			ix.log.Warn().Err(err).Msg("checking the kept transcripts against the database failed; they still expire")
		}
	}
}

// sweep drops the kept transcripts past their ttl, then those of
// conversations that no longer exist or whose transcript was written again
// since, wherever that happened: a deletion on another instance reaches
// this one through the database, as token versions do, with no message
// between instances. Primary-key reads of the kept conversations (one per
// sweepChunk), only while something is kept.
func (ix *Indexer) sweep(ctx context.Context) error {
	ix.recent.expire()
	held := ix.recent.held()
	if len(held) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		n := min(len(ids), sweepChunk)
		if err := ix.sweepSome(ctx, ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// sweepChunk bounds the ids of one sweep query.
const sweepChunk = 500

func (ix *Indexer) sweepSome(ctx context.Context, ids []int64) error {
	ctx, cancel := context.WithTimeout(ctx, max(ix.o.RecentSweep, time.Second))
	defer cancel()
	stamps, err := ix.docs.Stamps(ctx, ids)
	if err != nil {
		return err
	}
	current := make(map[int64]int64, len(stamps))
	for id, s := range stamps {
		current[id] = s.Version
	}
	ix.forgotten.Add(float64(ix.recent.forget(ids, current)))
	return nil
}

// recentCollector reports, per tenant, the transcripts the indexer keeps
// in memory: operators see that a deleted conversation's words are gone.
type recentCollector struct{ r *recentTranscripts }

var (
	recentEntriesDesc = prometheus.NewDesc("mgv_search_recent_transcripts",
		"Transcripts committed in this process and kept in memory for the indexer, by tenant (tenants keeping none are not listed).",
		[]string{"tenant_id"}, nil)
	recentBytesDesc = prometheus.NewDesc("mgv_search_recent_transcript_bytes",
		"Bytes of the transcripts kept in memory for the indexer, by tenant.",
		[]string{"tenant_id"}, nil)
)

func (c recentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- recentEntriesDesc
	ch <- recentBytesDesc
}

func (c recentCollector) Collect(ch chan<- prometheus.Metric) {
	for tenant, u := range c.r.usage() {
		id := strconv.FormatInt(tenant, 10)
		ch <- prometheus.MustNewConstMetric(recentEntriesDesc, prometheus.GaugeValue, float64(u.entries), id)
		ch <- prometheus.MustNewConstMetric(recentBytesDesc, prometheus.GaugeValue, float64(u.bytes), id)
	}
}
