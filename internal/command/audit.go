package command

import (
	"errors"
	"fmt"
	"io"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

func auditCommand(stdout io.Writer) *cli.Command {
	tenantFlag := &cli.Int64Flag{Name: "tenant", Usage: "only this tenant's chain (0 is the chain of sign-ins with unknown accounts)"}
	return &cli.Command{
		Name:  "audit",
		Usage: "check the audit trail",
		Subcommands: []*cli.Command{{
			Name:  "verify",
			Usage: "verify each tenant's hash chain and its seal; exits non-zero naming the first bad record of each broken chain",
			Description: "Walks every tenant's audit records (or one tenant's with --tenant) in chain order from the\n" +
				"trim anchor, recomputing each hash from the record before it: an edited, deleted, inserted or\n" +
				"reordered record, records removed from the end, a record beyond the head, at or below the\n" +
				"anchor, or without a head row break the chain. Then the chain's head and anchor must carry\n" +
				"their seal under audit.chain_key: records rewritten with the head, or a head or an anchor moved\n" +
				"over deleted records, by someone without the key do not. Each chain that passes is printed with\n" +
				"the head and anchor it trusted: compare them with a copy kept elsewhere, as ends put back as they\n" +
				"were earlier, with the seal they had then, cannot be seen in the database alone. Each chain is read\n" +
				"in one consistent snapshot, so it is safe while the service runs; every chain is checked, and each\n" +
				"broken one named. Every chain is entered in a sealed register of chains when it begins: a chain\n" +
				"deleted whole (its records and its head row), a chain begun again after that, and a chain that is\n" +
				"not registered fail too, with --tenant or without; the register's ends are printed with the chains'.",
			Flags: []cli.Flag{tenantFlag},
			Action: func(c *cli.Context) error {
				return withTrail(c, stdout, func(trail *dao.AuditLogs, sealer audit.Sealer, tenant *int64, out *output) error {
					chains, records := 0, int64(0)
					err := audit.Verify(c.Context, trail, sealer, tenant, func(r audit.VerifyResult) {
						out.printf("%s\n", r)
						if r.TenantID == audit.RegisterTenant {
							return // its records are the chains' registrations
						}
						chains++
						records += r.Checked
					})
					if err != nil {
						return cli.Exit(fmt.Sprintf("audit verify: %v", err), 1)
					}
					out.printf("ok: %d chains, %d records verified\n", chains, records)
					return out.err
				})
			},
		}, {
			Name:  "seal",
			Usage: "verify each tenant's hash chain, its seal aside; with --force, seal the ends of those that do not carry their seal",
			Description: "Each chain (or one tenant's with --tenant) is walked as `audit verify` walks it; a broken one is\n" +
				"named, as verify names it, and never sealed, and the command exits 1. Ends that carry their\n" +
				"seal are left as they are. Ends without one (written before seals were kept, or the seal removed) or\n" +
				"with one that does not match them (audit.chain_key changed, a process of an earlier version appended,\n" +
				"or the ends were moved without the key) are listed, and the command exits 1; with --force, once you\n" +
				"know why, they are sealed under audit.chain_key as they stand. After upgrading to sealed chains, run it\n" +
				"once every instance runs the new version; after changing the key, run `audit verify` with the old key\n" +
				"first. Safe while the service runs: records appended meanwhile are checked while the head is held.\n" +
				"Chains that verify but are not in the register of chains (written before it was kept) are listed\n" +
				"too, and registered with --force; a chain the register shows deleted whole is never sealed or\n" +
				"registered away.",
			Flags: []cli.Flag{tenantFlag, &cli.BoolFlag{Name: "force", Usage: "seal the ends of the chains that verify but do not carry their seal, and register those not in the register of chains"}},
			Action: func(c *cli.Context) error {
				return withTrail(c, stdout, func(trail *dao.AuditLogs, sealer audit.Sealer, tenant *int64, out *output) error {
					sealed, kept, left := 0, 0, 0
					err := audit.Seal(c.Context, trail, sealer, tenant, c.Bool("force"), func(r audit.SealResult) {
						switch {
						case r.Registered:
							out.printf("%s: entered in the register of chains\n", r.VerifyResult)
						case r.Unregistered:
							out.printf("%s: NOT in the register of chains (--force registers it)\n", r.VerifyResult)
						}
						if r.TenantID == audit.RegisterTenant {
							// Not one of the chains counted.
							switch {
							case r.Was == nil:
								out.printf("%s: its seal, kept\n", r.VerifyResult)
							case r.Sealed:
								out.printf("%s: sealed (was: %v)\n", r.VerifyResult, r.Was)
							default:
								left++
								out.printf("%s: NOT sealed (%v; --force seals it)\n", r.VerifyResult, r.Was)
							}
							return
						}
						switch {
						case !r.Found:
						case r.Was == nil:
							kept++
							out.printf("%s: its seal, kept\n", r.VerifyResult)
						case r.Sealed:
							sealed++
							out.printf("%s: sealed (was: %v)\n", r.VerifyResult, r.Was)
						default:
							left++
							out.printf("%s: NOT sealed (%v; --force seals it)\n", r.VerifyResult, r.Was)
							return
						}
						if r.Unregistered && !r.Registered {
							left++
						}
					})
					if err != nil {
						return cli.Exit(fmt.Sprintf("audit seal: %v", err), 1)
					}
					out.printf("%d chains sealed, %d kept their seal, %d left without it\n", sealed, kept, left)
					if out.err == nil && left > 0 {
						return cli.Exit(fmt.Sprintf("audit seal: %d chains verify but do not carry their seal or are not registered: find out why, then run with --force", left), 1)
					}
					return out.err
				})
			},
		}},
	}
}

// withTrail runs fn on the audit trail of the configured database, sealed
// with the configured key, and the --tenant flag (nil when not set).
func withTrail(c *cli.Context, stdout io.Writer, fn func(trail *dao.AuditLogs, sealer audit.Sealer, tenant *int64, out *output) error) error {
	return withDB(c, func(cfg *config.Config, db *gorm.DB) error {
		if f := cfg.CreatedSecretFile(); f != "" && cfg.Audit.ChainKey == "" {
			return fmt.Errorf("audit.chain_key: the key is derived from auth.jwt_secret, whose file %s did not exist and was made just now: run the command where the service's secret is, or set %s_AUDIT_CHAIN_KEY", f, config.EnvPrefix)
		}
		if cfg.Audit.ChainKey == "" && cfg.Auth.JWTSecret == "" {
			return errors.New("audit.chain_key: no key to check the seals with: set " + config.EnvPrefix + "_AUDIT_CHAIN_KEY, or the auth.jwt_secret it is derived from when empty, as the service has them")
		}
		sealer := audit.NewSealer(cfg.AuditChainKey())
		var tenant *int64
		if c.IsSet("tenant") {
			t := c.Int64("tenant")
			tenant = &t
		}
		// The commands append nothing, so the trail logs nothing.
		return fn(dao.NewAuditLogs(db, sealer, zerolog.Nop()), sealer, tenant, &output{w: stdout})
	})
}
