package app

import (
	"context"
	"time"

	logicsearch "github.com/megaview/mgvcore/internal/logic/search"

	olivere "github.com/olivere/elastic/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/grpc/server"
	"github.com/megaview/mgvcore/internal/health"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/elastic"
	"github.com/megaview/mgvcore/internal/search/embedded"
)

// searchDomain is transcript search: the engine, the use case both
// transports serve, and the outbox indexer that runs beside the servers.
type searchDomain struct {
	cfg     config.Search
	engine  search.Engine
	search  *logicsearch.Service
	indexer *logicsearch.Indexer
}

// OpenSearchEngine opens the configured engine; es is the client of the
// elasticsearch engine (nil for embedded), log where it warns. The reindex
// command shares it.
func OpenSearchEngine(cfg config.Search, es *olivere.Client, log zerolog.Logger) (search.Engine, error) {
	if cfg.Engine == "elasticsearch" {
		return elastic.New(es, elastic.Options{
			Alias: cfg.Index, Shards: cfg.Shards, Replicas: cfg.Replicas, RefreshInterval: cfg.RefreshInterval.Duration, BulkBytes: cfg.BulkBytes, Log: log,
		}), nil
	}
	return embedded.Open(cfg.Path)
}

func newSearchDomain(cfg *config.Config, log zerolog.Logger, d *deps, reg prometheus.Registerer) (*searchDomain, error) {
	engine, err := OpenSearchEngine(cfg.Search, d.es, log)
	if err != nil {
		return nil, err
	}
	sd := &searchDomain{cfg: cfg.Search, engine: engine, search: logicsearch.NewService(engine, dao.NewSearchLookups(d.db))}
	sd.indexer, err = logicsearch.NewIndexer(engine, dao.NewSearchOutbox(d.db), dao.NewSearchDocs(d.db), logicsearch.IndexerOptions{
		BatchSize: cfg.Search.BatchSize, Workers: cfg.Search.IndexerWorkers, PollInterval: cfg.Search.PollInterval.Duration, Lease: cfg.Search.Lease.Duration,
		MaxBackoff: cfg.Search.MaxBackoff.Duration, MaxLag: cfg.Search.MaxLag.Duration, Pacer: limit.NewPacer(cfg.Search.BulkRPS),
		CatchUpRefresh: cfg.Search.CatchUpRefresh.Duration,
		RecentTTL:      cfg.Search.RecentTTL.Duration, RecentSweep: cfg.Search.RecentSweep.Duration,
	}, log, reg)
	if err != nil {
		_ = engine.Close()
		return nil, err
	}
	if room, ok := engine.(interface{ FreeBytes() (uint64, bool) }); ok {
		// Index writes wait below embedded.MinFreeBytes; the alert rules
		// warn before.
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mgv_search_index_free_bytes",
			Help: "Free space on the file system of the embedded search index; its writes wait while it is under 256 MiB.",
		}, func() float64 {
			free, _ := room.FreeBytes()
			return float64(free)
		})); err != nil {
			_ = engine.Close()
			return nil, err
		}
	}
	return sd, nil
}

// register adds the routes and starts the indexer.
func (sd *searchDomain) register(r controller.Router, g grpc.ServiceRegistrar) {
	controller.Search{Search: sd.search}.Routes(r)
	openv1.RegisterSearchServiceServer(g, server.Search{Search: sd.search})
	if sd.cfg.Indexer {
		sd.indexer.Start()
	}
}

// health adds the index lag to /readyz. The embedded index's free space is
// no part of it (mgv_search_index_free_bytes): below what its writes keep
// in hand they wait, while ingest and search go on, and an instance that
// said it was not ready would be taken out of rotation and refuse the
// upgrade that may bring the fix.
func (sd *searchDomain) health(hl *health.Health) { hl.Add("search_index", sd.indexer.Check) }

// indexerDrain bounds the wait for the batch in progress at stop; its jobs
// are handed back when it is cut short.
const indexerDrain = 5 * time.Second

// handOver lets the new process of an upgrade have the embedded index,
// which one process at a time can hold: the new one waits for it
// (embedded.HandoverWait) from the moment it is ready, and this one would
// otherwise keep it through its whole drain. The searches and writes in
// progress here finish first; any later here answer UNAVAILABLE. An
// Elasticsearch cluster is shared: nothing changes hands.
func (sd *searchDomain) handOver(log zerolog.Logger) {
	if sd.cfg.Engine != "elasticsearch" {
		sd.stop(log)
	}
}

// stop drains the indexer and closes the engine; a second stop does
// nothing more.
func (sd *searchDomain) stop(log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), indexerDrain)
	defer cancel()
	if err := sd.indexer.Stop(ctx); err != nil {
		log.Warn().Err(err).Msg("search indexer: the batch in progress was cut short; its jobs run again")
	}
	if err := sd.engine.Close(); err != nil {
		log.Warn().Err(err).Msg("closing the search engine")
	}
}
