package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	logicsearch "github.com/megaview/mgvcore/internal/logic/search"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/app"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/search"
)

func reindexCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "reindex",
		Usage: "rebuild the search index from the database, safely while the service runs",
		Description: "On Elasticsearch, without --tenant: builds a new index version beside the live one, swaps the\n" +
			"alias and queues the conversations changed meanwhile. With --tenant, or on the embedded engine:\n" +
			"queues a re-index of the conversations for the running service's indexer.",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "tenant", Usage: "only this tenant's conversations (queued for the indexer); the id of an existing tenant"},
		},
		Action: func(c *cli.Context) error {
			tenant := c.Int64("tenant")
			if c.IsSet("tenant") && tenant <= 0 {
				return fmt.Errorf("--tenant: must be a tenant id above 0 (got %d); leave it out to re-index every tenant", tenant)
			}
			return withDB(c, func(cfg *config.Config, db *gorm.DB) error {
				ctx := c.Context
				// An unknown id would queue nothing and say so as if done.
				if err := checkTenant(c, db, tenant); err != nil {
					return err
				}
				var engine search.Engine = queueOnly{}
				if cfg.Search.Engine == "elasticsearch" && tenant == 0 {
					// A rebuild swapped in deletes the versions created
					// before it, among them one still being built.
					lock := dao.ReindexLockName(cfg.Search.Index)
					held, ok, err := dao.TakeNamedLock(c.Context, db, lock, 0)
					if err != nil {
						return err
					}
					if !ok {
						return fmt.Errorf("another `mgvcore reindex` is rebuilding %s (it holds the database's lock %q): run one at a time",
							cfg.Search.Index, lock)
					}
					defer held.Release()
					// A rebuild stops once its lock is lost: another could
					// then start and drop its index as abandoned.
					var stop func()
					ctx, stop = held.WhileHeld(ctx)
					defer stop()
					es, err := dao.OpenElastic(cfg.Search, nil)
					if err != nil {
						return err
					}
					defer es.Stop()
					if engine, err = app.OpenSearchEngine(cfg.Search, es, zerolog.Nop()); err != nil {
						return err
					}
				}
				r := logicsearch.NewReindex(engine, dao.NewSearchDocs(db), dao.NewSearchOutbox(db), limit.NewPacer(cfg.Search.BulkRPS), cfg.Search.BatchSize)
				start := time.Now()
				last := start
				out := &output{w: stdout}
				res, err := r.Run(ctx, tenant, func(n int) {
					if time.Since(last) > 5*time.Second {
						last = time.Now()
						out.printf("%d conversations indexed…\n", n)
					}
				})
				if err != nil && !errors.Is(err, logicsearch.ErrFailedConversations) {
					if cause := context.Cause(ctx); errors.Is(cause, dao.ErrLockLost) {
						return fmt.Errorf("reindex: %w; stopped: %w", cause, err)
					}
					return fmt.Errorf("reindex: %w", err)
				}
				for _, f := range res.Failed {
					out.printf("conversation %d not written to the new index: %v\n", f.ConversationID, f.Err)
				}
				if res.Index != "" {
					out.printf("built %s with %d conversations in %s; alias %s moved to it; deleted %v\n",
						res.Index, res.Conversations, time.Since(start).Round(time.Millisecond), cfg.Search.Index, res.Previous)
					out.printf("removed %d conversations deleted during the rebuild\n", res.Removed)
				}
				out.printf("queued %d conversations for the running indexer\n", res.Queued)
				if err != nil {
					return fmt.Errorf("reindex: %w", err)
				}
				return out.err
			})
		},
	}
}

// queueOnly is the engine of a reindex that goes through the outbox: it is
// never called.
type queueOnly struct{ search.Engine }
