package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
)

func migrateCommand(stdout io.Writer) *cli.Command {
	with := func(fn func(ctx context.Context, m *dao.Migrator) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			return withDB(c, func(_ *config.Config, db *gorm.DB) error {
				ctx, cancel := context.WithTimeout(c.Context, 10*time.Minute)
				defer cancel()
				return fn(ctx, dao.NewMigrator(db))
			})
		}
	}
	return &cli.Command{
		Name:  "migrate",
		Usage: "versioned schema migrations (review `print` before `up` in production)",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "apply every pending migration",
				Action: with(func(ctx context.Context, m *dao.Migrator) error {
					applied, err := m.Up(ctx)
					out := &output{w: stdout}
					for _, mig := range applied {
						out.printf("applied %s\n", mig.Name)
					}
					if err == nil && len(applied) == 0 {
						out.println("schema is up to date")
					}
					return errors.Join(err, out.err)
				}),
			},
			{
				Name:  "status",
				Usage: "list migrations and when each was applied",
				Action: with(func(ctx context.Context, m *dao.Migrator) error {
					states, err := m.Status(ctx)
					if err != nil {
						return err
					}
					out := &output{w: stdout}
					for _, s := range states {
						when := "pending"
						if s.StatementsDone > 0 {
							when = fmt.Sprintf("pending, partly applied (%d of %d statements)", s.StatementsDone, len(dao.Statements(s.SQL)))
						}
						if !s.AppliedAt.IsZero() {
							when = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
						}
						out.printf("%-40s %s\n", s.Name, when)
					}
					return out.err
				}),
			},
			{
				Name: "print",
				Usage: "print for review (Archery) the DDL that `up` would run on the configured database, reading it only; " +
					"with --dialect, the DDL of a new install, without a config or a database",
				Flags: []cli.Flag{&cli.StringFlag{Name: "dialect", Usage: "mysql or sqlite: print the schema of an empty database of that dialect"}},
				Action: func(c *cli.Context) error {
					printed := func(n int, err error) error {
						if err == nil && n == 0 {
							_, err = fmt.Fprintln(stdout, "-- schema is up to date: nothing to apply")
						}
						return err
					}
					if d := c.String("dialect"); d != "" {
						if d != "mysql" && d != "sqlite" {
							return fmt.Errorf("--dialect: %q is neither mysql nor sqlite", d)
						}
						return printed(dao.PrintSchema(stdout, d))
					}
					return with(func(ctx context.Context, m *dao.Migrator) error {
						return printed(m.Print(ctx, stdout))
					})(c)
				},
			},
		},
	}
}
