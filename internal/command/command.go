// Package command is the mgvcore command line: serve (the default), version,
// cert and config check. main only calls Main.
package command

import (
	"context"
	"fmt"
	"io"

	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/app"
	"github.com/megaview/mgvcore/internal/cert"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logging"
)

// Main runs the command line with args (os.Args) and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := New(stdout, stderr).RunContext(ctx, args); err != nil {
		// The exit code reports the failure even if stderr cannot.
		_, _ = fmt.Fprintf(stderr, "%s: %s\n", global.Name, strings.ReplaceAll(err.Error(), "\n", "; "))
		return 1
	}
	return 0
}

// New builds the CLI application.
func New(stdout, stderr io.Writer) *cli.App {
	serve := &cli.Command{
		Name:   "serve",
		Usage:  "run the HTTP and gRPC servers (the default command)",
		Action: func(c *cli.Context) error { return serveAction(c, stdout, stderr) },
	}
	app := &cli.App{
		Name:            global.Name,
		Usage:           "Megaview conversation-intelligence core: HTTP JSON API and gRPC open platform",
		Version:         global.Version(),
		Writer:          stdout,
		ErrWriter:       stderr,
		Flags:           []cli.Flag{configFlag()},
		HideHelpCommand: true,
		Action:          serve.Action,
		// Errors are printed once by Main.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			serve,
			{
				Name:  "version",
				Usage: "print build information",
				Action: func(c *cli.Context) error {
					env := "unknown"
					if cfg, err := loadConfig(c); err == nil {
						env = cfg.App.Env
					}
					global.PrintBuildInfo(stdout, env)
					return nil
				},
			},
			{
				Name:  "cert",
				Usage: "write a development CA, gRPC server certificate and mTLS client certificate into the ssl directory",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "output directory (default: ssl.dir of the config)"},
					&cli.StringSliceFlag{Name: "host", Usage: "server DNS name or IP; repeatable (default: ssl.hosts of the config)"},
					&cli.BoolFlag{Name: "force", Usage: "replace existing certificates"},
				},
				Action: func(c *cli.Context) error { return certAction(c, stdout) },
			},
			migrateCommand(stdout),
			seedCommand(stdout),
			reindexCommand(stdout),
			metricsCommand(stdout),
			auditCommand(stdout),
			{
				Name:  "config",
				Usage: "configuration tools",
				Subcommands: []*cli.Command{{
					Name:  "check",
					Usage: "load and validate the configuration, then print where it came from",
					Flags: []cli.Flag{&cli.BoolFlag{Name: "env-keys", Usage: "also list every environment variable that overrides a key"}},
					Action: func(c *cli.Context) error {
						cfg, err := loadConfig(c)
						if err != nil {
							return err
						}
						out := &output{w: stdout}
						out.printf("config %s is valid (env %s)\n", cfg.File, cfg.App.Env)
						if c.Bool("env-keys") {
							for _, k := range config.EnvKeys(cfg) {
								out.println(k)
							}
						}
						return out.err
					},
				}},
			},
		},
	}
	addConfigFlag(app.Commands)
	return app
}

// configFlag names the config file. Every command takes it, before or
// after its name: `mgvcore --config X migrate up` and `mgvcore migrate up
// --config X` are the same.
func configFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "config",
		Aliases: []string{"c"},
		Usage:   "config file (default: $MGV_CONFIG, else config/config.toml, else config/config_dev.toml)",
	}
}

func addConfigFlag(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.Flags = append(cmd.Flags, configFlag())
		addConfigFlag(cmd.Subcommands)
	}
}

// configFile is the --config given nearest to the command that runs.
func configFile(c *cli.Context) string {
	for _, ctx := range c.Lineage() {
		if ctx.App == nil {
			continue
		}
		for _, name := range ctx.LocalFlagNames() {
			if name == "config" || name == "c" {
				return ctx.String("config")
			}
		}
	}
	return ""
}

func loadConfig(c *cli.Context) (*config.Config, error) {
	return config.Load(config.Locate(configFile(c)))
}

// withDB runs fn with the configuration and its database, closed afterwards:
// the shape of every command that works on the store.
func withDB(c *cli.Context, fn func(cfg *config.Config, db *gorm.DB) error) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	db, err := dao.OpenDB(cfg.Database)
	if err != nil {
		return err
	}
	if sqlDB, err := db.DB(); err == nil {
		// Only idle connections are left to close once fn is done; an
		// error closing them changes nothing of what the command did.
		defer func() { _ = sqlDB.Close() }()
	}
	return fn(cfg, db)
}

// checkTenant refuses a --tenant that names no tenant (0: none given).
func checkTenant(c *cli.Context, db *gorm.DB, tenant int64) error {
	if tenant == 0 {
		return nil
	}
	if _, err := dao.NewTenants(db).ByID(c.Context, tenant); errs.IsNotFound(err) {
		return fmt.Errorf("--tenant: no tenant has id %d", tenant)
	} else if err != nil {
		return err
	}
	return nil
}

func serveAction(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Present() {
		return fmt.Errorf("unknown command %q (see `%s --help`)", c.Args().First(), global.Name)
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	logOut := logging.NewBufferedWriter(stderr, 64<<10, 100*time.Millisecond)
	// Close flushes the last log lines to stderr once the servers have
	// stopped; if stderr fails there, there is nowhere left to say so.
	defer func() { _ = logOut.Close() }()
	log, err := logging.New(logOut, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	return app.Serve(c.Context, cfg, stdout, log)
}

func certAction(c *cli.Context, stdout io.Writer) error {
	dir, hosts := c.String("dir"), c.StringSlice("host")
	if dir == "" || len(hosts) == 0 {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		if dir == "" {
			dir = cfg.SSL.Dir
		}
		if len(hosts) == 0 {
			hosts = cfg.SSL.Hosts
		}
	}
	if len(cert.Missing(dir)) == 0 && !c.Bool("force") {
		return fmt.Errorf("certificates already exist in %s (use --force to replace them)", dir)
	}
	if err := cert.Generate(dir, hosts); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "wrote %s, %s, %s, %s, %s and %s into %s (hosts: %s)\n",
		cert.CACert, cert.CAKey, cert.ServerCert, cert.ServerKey, cert.ClientCert, cert.ClientKey, dir, strings.Join(hosts, ", "))
	return err
}

// output is a command's writer to the user's terminal that keeps the first
// write error and skips the writes after it, so the command can return
// that error once, when it is done, instead of checking every line.
type output struct {
	w   io.Writer
	err error
}

func (o *output) printf(format string, a ...any) {
	if o.err == nil {
		_, o.err = fmt.Fprintf(o.w, format, a...)
	}
}

func (o *output) println(a ...any) {
	if o.err == nil {
		_, o.err = fmt.Fprintln(o.w, a...)
	}
}
