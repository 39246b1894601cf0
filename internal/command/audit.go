package command

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

func auditCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "check the audit trail",
		Subcommands: []*cli.Command{{
			Name:  "verify",
			Usage: "verify each tenant's hash chain; exits non-zero naming the first bad record",
			Description: "Walks every tenant's audit records (or one tenant's with --tenant) in chain order from the\n" +
				"trim anchor, recomputing each hash from the record before it: an edited, deleted, inserted or\n" +
				"reordered record, records removed from the end, a record beyond the head, at or below the\n" +
				"anchor, or without a head row break the chain. Each chain that passes is printed with the head\n" +
				"and anchor it trusted: compare them with a copy kept elsewhere, as records deleted from the end\n" +
				"with the head lowered to match cannot be seen in the database alone. Read-only; safe while the\n" +
				"service runs (records appended meanwhile move the head, which is read again).",
			Flags: []cli.Flag{
				&cli.Int64Flag{Name: "tenant", Usage: "only this tenant's chain (0 is the chain of sign-ins with unknown accounts)"},
			},
			Action: func(c *cli.Context) error {
				return withDB(c, func(_ *config.Config, db *gorm.DB) error {
					var tenant *int64
					if c.IsSet("tenant") {
						t := c.Int64("tenant")
						tenant = &t
					}
					out := &output{w: stdout}
					chains, records := 0, int64(0)
					err := audit.Verify(c.Context, dao.NewAuditLogs(db), tenant, func(r audit.VerifyResult) {
						chains++
						records += r.Checked
						out.printf("%s\n", r)
					})
					if err != nil {
						return cli.Exit(fmt.Sprintf("audit verify: %v", err), 1)
					}
					out.printf("ok: %d chains, %d records verified\n", chains, records)
					return out.err
				})
			},
		}},
	}
}
