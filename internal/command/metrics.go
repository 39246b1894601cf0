package command

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/interaction"
)

// recomputeBatch is how many conversations one read of stale metrics
// lists.
const recomputeBatch = 500

func metricsCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "metrics",
		Usage: "maintain the conversations' interaction metrics",
		Subcommands: []*cli.Command{{
			Name:  "recompute",
			Usage: "compute again, from the stored transcripts, the metrics an earlier algorithm version computed",
			Description: fmt.Sprintf("Metrics keep the algo_version that computed them until their transcript is written again, so a\n"+
				"tenant's statistics mix the algorithms of every release it has seen. This walks the conversations\n"+
				"whose metrics are older than version %d (every tenant's, or one tenant's with --tenant), one at a\n"+
				"time, and stores their metrics computed anew. Safe while the service runs: a transcript written\n"+
				"meanwhile computes its own metrics, which are never replaced; a run stopped part-way through is\n"+
				"taken up by the next, which finds what is still stale. No event is sent for the new values.", interaction.AlgoVersion),
			Flags: []cli.Flag{
				&cli.Int64Flag{Name: "tenant", Usage: "only this tenant's conversations; the id of an existing tenant"},
			},
			Action: func(c *cli.Context) error {
				tenant := c.Int64("tenant")
				if c.IsSet("tenant") && tenant <= 0 {
					return fmt.Errorf("--tenant: must be a tenant id above 0 (got %d); leave it out for every tenant", tenant)
				}
				return withDB(c, func(_ *config.Config, db *gorm.DB) error {
					if err := checkTenant(c, db, tenant); err != nil {
						return err
					}
					out := &output{w: stdout}
					last := time.Now()
					res, err := conversation.RecomputeMetrics(c.Context, dao.NewConversations(db), tenant, recomputeBatch, func(r conversation.RecomputeResult) {
						if time.Since(last) > 5*time.Second {
							last = time.Now()
							out.printf("%d conversations recomputed…\n", r.Recomputed)
						}
					})
					if err != nil {
						return fmt.Errorf("metrics recompute: %w (after %d conversations; run it again to go on)", err, res.Recomputed)
					}
					out.printf("recomputed the metrics of %d conversations to algo_version %d (%d skipped: deleted, or their transcript written again meanwhile)\n",
						res.Recomputed, interaction.AlgoVersion, res.Skipped)
					return out.err
				})
			},
		}},
	}
}
