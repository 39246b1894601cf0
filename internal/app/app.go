// Package app assembles the service: it opens the dependencies, builds both
// transports on listeners owned by the lifecycle, reports ready, and drains
// on upgrade or stop.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/olivere/elastic/v7"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/cert"
	"github.com/megaview/mgvcore/internal/clientip"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/fsmode"
	grpcx "github.com/megaview/mgvcore/internal/grpc"
	"github.com/megaview/mgvcore/internal/grpc/interceptor"
	"github.com/megaview/mgvcore/internal/health"
	httpx "github.com/megaview/mgvcore/internal/http"
	"github.com/megaview/mgvcore/internal/lifecycle"
	"github.com/megaview/mgvcore/internal/metrics"
	"github.com/megaview/mgvcore/internal/tracing"
)

// readyCheckTimeout bounds each dependency check of /readyz.
const readyCheckTimeout = 2 * time.Second

// Serve runs the service until it is stopped or upgraded. Startup output
// (build info and banners) goes to out; logs go to log. With JSON logs the
// build info is one log line and nothing is written to out, so the output
// stays one JSON object per line.
func Serve(ctx context.Context, cfg *config.Config, out io.Writer, log zerolog.Logger) error {
	if cfg.Auth.JWTSecret == "" {
		// An empty HMAC key signs tokens that anyone can sign.
		return errors.New("auth.jwt_secret: no secret to sign tokens with: set auth.jwt_secret_file (created with a random secret outside pro) or " + config.EnvPrefix + "_AUTH_JWT_SECRET")
	}
	if cfg.Log.Format == "json" {
		ev := log.Info().Int("pid", os.Getpid())
		for _, kv := range global.BuildInfo(cfg.App.Env) {
			ev = ev.Str(kv[0], kv[1])
		}
		ev.Msg("build info")
		out = io.Discard
	} else {
		global.PrintBuildInfo(out, cfg.App.Env)
		printBanner(out, cfg.App.Banner, log)
	}
	if f := cfg.CreatedSecretFile(); f != "" {
		log.Info().Str("file", f).Msg("created a random secret to sign tokens with (auth.jwt_secret_file, 0600); it is kept across restarts")
	}
	if _, set := os.LookupEnv("GOGC"); !set && cfg.Process.GCPercent != 0 {
		debug.SetGCPercent(cfg.Process.GCPercent)
	}

	m := metrics.New()
	proc, err := lifecycle.New(lifecycle.Options{
		PIDFile:        cfg.Process.PIDFile,
		UpgradeTimeout: cfg.Process.UpgradeTimeout.Duration,
	}, log)
	if err != nil {
		return err
	}
	reason := lifecycle.Stopped
	defer func() { proc.Close(reason) }()

	if proc.HasParent() {
		log.Info().Msg("upgrade: taking over the listeners of the running process")
	}
	if err := holdEmbeddedStores(proc, cfg); err != nil {
		return err
	}

	if err := m.Registry.Register(proc.Collector()); err != nil {
		return err
	}

	tlsCfg, err := serverTLS(cfg, log)
	if err != nil {
		return err
	}
	watchCertificates(m, cfg.SSL.Dir, tlsCfg, log)

	tracer, log, err := startTracing(cfg, log)
	if err != nil {
		return err
	}
	defer stopTracing(tracer, cfg, log)

	brk, err := breaker.NewRegistry(cfg.Breaker, log, m.Registry)
	if err != nil {
		return err
	}
	deps, err := openDeps(cfg, tracer, brk)
	if err != nil {
		return err
	}
	defer deps.close(log)
	dao.LogSlowQueries(deps.db, cfg.Database.SlowQuery.Duration, log)
	if err := migrateAtStart(ctx, cfg, deps.db, log); err != nil {
		return err
	}

	hl := health.New(readyCheckTimeout)
	hl.OnFailure(func(check string, err error) {
		log.Warn().Err(err).Str("check", check).Msg("readiness check failed")
	})
	deps.register(hl)
	if proc.HasParent() {
		// Before any background work starts or a request is accepted: a
		// process that is refused leaves nothing half done.
		if err := awaitDependencies(ctx, hl, cfg.Process.UpgradeTimeout.Duration/2, log); err != nil {
			return err
		}
	}

	deps.watch(m)
	pol, err := newPolicies(cfg, log, m, brk)
	if err != nil {
		return err
	}
	pol.trace(tracer)

	dom, err := newDomain(cfg, log, deps, pol)
	if err != nil {
		return err
	}
	// The background workers stop before the database closes, also when
	// the start fails after they began (a port already taken).
	defer dom.stop()
	dom.search.health(hl)

	ips, err := clientip.New(cfg.HTTP.TrustedProxies)
	if err != nil {
		return fmt.Errorf("http.trusted_proxies: %w", err)
	}
	grpcChain := pol.chain(cfg.GRPC.RequestTimeout.Duration, int64(cfg.GRPC.MaxRecvMsgBytes))
	decode := &interceptor.Decode{}
	unary := &unaryCalls{}
	grpcSrv := grpcx.New(grpcx.Options{Config: cfg.GRPC, TLS: tlsCfg, Health: hl, ServerOptions: []grpc.ServerOption{
		grpc.ForceServerCodecV2(decode.Codec()),
		grpc.InTapHandle(dom.tap(m.RefusedGRPC, pol.timeouts).Handle),
		// Decode runs outermost, so every recorded failure is collected even
		// when a policy refuses the call.
		// The standard gRPC metrics run outermost of all, so they count
		// every call with the gRPC code the client receives.
		grpc.ChainUnaryInterceptor(m.GRPC.UnaryServerInterceptor(), unary.intercept, decode.Unary(), interceptor.Unary(grpcChain, ips)),
		grpc.ChainStreamInterceptor(m.GRPC.StreamServerInterceptor(), hl.WatchInterceptor(), decode.Stream(), interceptor.Stream(grpcChain, ips)),
	}})
	httpSrv := httpx.New(httpx.Options{
		Config: cfg.HTTP, Log: log, Banner: out, Health: hl,
		Chain:   pol.httpChain(cfg),
		Metrics: publicMetrics(cfg, m), ClientIP: ips,
	})
	dom.register(httpSrv, grpcSrv.Registrar())
	m.GaugeFunc("mgv_grpc_transcript_streams_open",
		"PutTranscript streams holding a slot now (capped by grpc.max_streams in all and grpc.max_streams_per_app per app).",
		func() float64 { return float64(dom.transcriptStreams.InUse()) })
	if sip, ok := grpcSrv.Registrar().(reflection.ServiceInfoProvider); ok {
		m.InitGRPC(sip)
	}

	grpcLn, err := proc.Listen(cfg.GRPC.Addr)
	if err != nil {
		return fmt.Errorf("grpc.addr: %w", err)
	}
	httpLn, err := proc.Listen(cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	grpcLn = capConnections(grpcLn, "grpc", bound.ConnCaps{PerClient: cfg.GRPC.MaxConnectionsPerClient, Total: cfg.GRPC.MaxConnections,
		UserTimeout: cfg.GRPC.KeepaliveTimeout.Duration}, ips, m)
	httpLn = capConnections(httpLn, "http", bound.ConnCaps{PerClient: cfg.HTTP.MaxConnectionsPerClient, Total: cfg.HTTP.MaxConnections}, ips, m)

	httpDrained := make(chan struct{})
	shutdowns := []namedShutdown{{"http", func(ctx context.Context) error {
		defer close(httpDrained)
		return httpSrv.Shutdown(ctx)
	}}, {"grpc", grpcSrv.Shutdown}}
	shutdowns = append(shutdowns, namedShutdown{"event streams", dom.events.endStreams})
	serveErr := make(chan error, 3)
	if cfg.Admin.Pprof || cfg.MetricsOnAdmin() {
		adminLn, err := proc.Listen(cfg.Admin.Addr)
		if err != nil {
			return fmt.Errorf("admin.addr: %w", err)
		}
		admin := newAdminServer(cfg.Admin.Pprof, cfg.MetricsOnAdmin(), m.Handler(), defaultAdminLimits, log)
		go func() { serveErr <- wrap("admin server", admin.Serve(adminLn)) }()
		shutdowns = append(shutdowns, namedShutdown{"admin", admin.Shutdown})
	}
	go func() { serveErr <- wrap("grpc server", grpcSrv.Serve(grpcLn)) }()
	// A banner, like Echo's: the servers run on without a terminal to read it.
	_, _ = fmt.Fprintf(out, "=> grpc server started on: %s\n", cfg.GRPC.Addr)
	go func() { serveErr <- wrap("http server", httpSrv.Serve(httpLn)) }()
	select {
	case <-httpSrv.Started():
	case err := <-serveErr:
		return err
	}

	hl.Serving()
	if err := proc.Ready(); err != nil {
		return err
	}
	ready := log.Info().Int("pid", os.Getpid()).Str("pid_file", proc.PIDFile()).Str("env", cfg.App.Env).
		Str("grpc", cfg.GRPC.Addr).Str("http", cfg.HTTP.Addr)
	if cfg.Admin.Pprof || cfg.MetricsOnAdmin() {
		ready = ready.Str("admin", cfg.Admin.Addr)
	}
	ready.Msg("ready")
	// Start-up leaves garbage (the OpenAPI document parsed and rendered,
	// configuration, migrations, TLS set-up) that the runtime would hand
	// back to the OS only minutes later; an idle service should not hold it.
	go debug.FreeOSMemory()
	reg := startRegistry(cfg, httpLn.Addr(), grpcLn.Addr(), log)
	fleet := watchFleet(cfg, pol.limiter, log)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 1)
	go func() {
		if err := <-serveErr; err != nil {
			log.Error().Err(err).Msg("a server stopped unexpectedly; shutting down")
			failed <- err
			cancel()
		}
	}()
	reason = proc.Run(runCtx)
	if reason == lifecycle.Upgraded {
		shutdowns = append(shutdowns, namedShutdown{"search index", func(ctx context.Context) error {
			// The new process waits for the embedded index from the moment
			// it is ready; this one needs it only for the requests it
			// still serves, not for the streams its drain may wait on.
			select {
			case <-httpDrained:
			case <-ctx.Done():
			}
			unary.wait(ctx)
			dom.search.handOver(log)
			return nil
		}})
	}
	stopRegistry(reg, reason, log)
	if fleet != nil {
		fleet.Stop()
	}

	drain(cfg.Process.DrainTimeout.Duration, hl, log, reason, shutdowns...)
	select {
	case err := <-failed:
		return err
	default:
		return nil
	}
}

// dependencyRetry paces the checks of an upgraded process waiting for its
// dependencies.
const dependencyRetry = 250 * time.Millisecond

// awaitDependencies holds an upgraded process until the dependencies its
// readiness checks (the database, Elasticsearch) answer it, for at most
// within: the running process exits once this one reports ready, and a
// process that cannot reach them (a wrong DSN or password in the new
// config, a database out of connections for a second pool) would take over
// only to answer 503 to everything. Past within the upgrade is refused, in
// time for this process to exit before the running one's upgrade_timeout,
// and the running process keeps serving. A first start does not wait: it
// serves, not ready, until they answer.
func awaitDependencies(ctx context.Context, hl *health.Health, within time.Duration, log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for waited := false; ; waited = true {
		st := hl.Check(ctx)
		if st.Ready {
			if waited {
				log.Info().Msg("upgrade: the dependencies answer; taking over")
			}
			return nil
		}
		if !waited {
			log.Warn().Str("dependency", st.Failed).Dur("within_ms", within).
				Msg("upgrade: waiting for the dependencies to answer this process before taking over")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("upgrade: %s does not answer this process within %s (half of process.upgrade_timeout); the running process keeps serving", st.Failed, within)
		case <-time.After(dependencyRetry):
		}
	}
}

// capConnections caps the connections ln hands out per client and in
// total (trusted proxies count to the total only), counting the refused
// ones and exporting how many are open.
func capConnections(ln net.Listener, name string, caps bound.ConnCaps, ips *clientip.Resolver, m *metrics.Metrics) net.Listener {
	caps.Exempt = ips.Trusted
	caps.Refused = func(reason string) { m.ConnectionRefused(name, reason) }
	capped := bound.Listen(ln, caps)
	m.GaugeFunc("mgv_"+name+"_connections_open", "Connections open on the "+name+" listener (its caps: "+name+".max_connections, "+name+".max_connections_per_client).",
		func() float64 { return float64(capped.Open()) })
	return capped
}

// unaryCalls counts the unary gRPC calls in progress: an upgrade's drain
// waits for them, not for the streams, before the old process lets the new
// one have the embedded index.
type unaryCalls struct{ n atomic.Int64 }

func (u *unaryCalls) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	u.n.Add(1)
	defer u.n.Add(-1)
	return handler(ctx, req)
}

// wait returns once no unary call is in progress, or when ctx ends. The
// server has stopped taking calls by then, so none starts after.
func (u *unaryCalls) wait(ctx context.Context) {
	for u.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type namedShutdown struct {
	name string
	fn   func(context.Context) error
}

// drain marks the process NOT_SERVING and stops both servers in parallel
// within the drain deadline; past it, remaining connections are closed.
func drain(timeout time.Duration, hl *health.Health, log zerolog.Logger, reason lifecycle.Reason, servers ...namedShutdown) {
	start := time.Now()
	hl.Drain()
	log.Info().Stringer("reason", reason).Dur("deadline_ms", timeout).Msg("draining")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.fn(ctx); err != nil {
				log.Warn().Err(err).Str("server", s.name).Msg("drain deadline passed; closed remaining connections")
			}
		}()
	}
	wg.Wait()
	log.Info().Dur("took_ms", time.Since(start)).Msg("drained")
}

// migrateAtStart applies pending migrations where the config allows it (the
// embedded dev default); elsewhere it only warns, as production DDL is
// reviewed and applied with `mgvcore migrate`.
func migrateAtStart(ctx context.Context, cfg *config.Config, db *gorm.DB, log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m := dao.NewMigrator(db)
	if cfg.Database.AutoMigrate {
		applied, err := m.Up(ctx)
		if err != nil {
			return fmt.Errorf("database.auto_migrate: %w", err)
		}
		for _, mig := range applied {
			log.Info().Str("migration", mig.Name).Msg("applied migration")
		}
		if len(applied) > 0 {
			return dao.ReleaseIdleConns(db, cfg.Database)
		}
		return nil
	}
	pending, err := m.Pending(ctx)
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("cannot read the schema version; continuing")
	case len(pending) > 0:
		log.Error().Int("pending", len(pending)).Str("first", pending[0].Name).Msg(dao.ErrMigrationsPending.Error())
	}
	return nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func printBanner(out io.Writer, path string, log zerolog.Logger) {
	if path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		log.Warn().Err(err).Str("file", path).Msg("app.banner: cannot read the banner; starting without it")
		return
	}
	_, _ = out.Write(data)
}

// publicMetrics is the /metrics handler of the public HTTP port: none when
// the admin listener serves it (always in pro).
func publicMetrics(cfg *config.Config, m *metrics.Metrics) nethttp.Handler {
	if cfg.MetricsOnAdmin() {
		return nil
	}
	return m.Handler()
}

// watchCertificates exports when the gRPC server certificate and the CA
// expire; the values are read again by every upgrade, which is also how new
// certificates are taken into use.
func watchCertificates(m *metrics.Metrics, dir string, tlsCfg *tls.Config, log zerolog.Logger) {
	if len(tlsCfg.Certificates) > 0 {
		if leaf := tlsCfg.Certificates[0].Leaf; leaf != nil {
			m.CertificateExpiry("server", float64(leaf.NotAfter.Unix()))
		}
	}
	ca, err := cert.ReadCertificate(filepath.Join(dir, cert.CACert))
	if err != nil {
		log.Warn().Err(err).Msg("cannot read the CA certificate's expiry")
		return
	}
	m.CertificateExpiry("ca", float64(ca.NotAfter.Unix()))
}

// serverTLS loads the gRPC certificates, generating development ones first
// where the config allows it.
func serverTLS(cfg *config.Config, log zerolog.Logger) (*tls.Config, error) {
	if missing := cert.Missing(cfg.SSL.Dir); len(missing) > 0 {
		if !cfg.SSL.Generate {
			return nil, fmt.Errorf("ssl: missing %s (provision the certificates, or run `mgvcore cert` for development)", missing[0])
		}
		if err := cert.Generate(cfg.SSL.Dir, cfg.SSL.Hosts); err != nil {
			return nil, fmt.Errorf("ssl: generating development certificates: %w", err)
		}
		log.Info().Str("dir", cfg.SSL.Dir).Msg("generated development CA, server and client certificates")
	}
	tightened, err := cert.PrivateKeys(cfg.SSL.Dir)
	for _, k := range tightened {
		log.Warn().Str("key", k).Msg("private key was readable by other users; made it 0600")
	}
	if err != nil {
		return nil, fmt.Errorf("ssl: %w", err)
	}
	return cert.ServerTLS(cfg.SSL.Dir, cfg.GRPC.ClientAuth)
}

// deps are the storage dependencies.
type deps struct {
	db *gorm.DB
	es *elastic.Client
}

// holdEmbeddedStores takes the lock file beside each embedded store this
// process uses (the SQLite file, the search index), so that a second
// service configured onto the same files, with a pid file of its own,
// refuses to start rather than share them unawares: the index admits one
// process, and the first one's searches and index jobs would time out
// against the second. An upgrade takes the locks over. A store is known
// by its path with every symbolic link resolved, however the setting
// spells it (relative, absolute, through a link).
func holdEmbeddedStores(proc *lifecycle.Process, cfg *config.Config) error {
	type store struct{ setting, path string }
	var stores []store
	if f := dao.SQLiteFile(cfg.Database.DSN); cfg.Database.Driver == "sqlite" && f != "" {
		stores = append(stores, store{"database.dsn", f})
	}
	if cfg.Search.Engine == "embedded" {
		stores = append(stores, store{"search.path", filepath.Clean(cfg.Search.Path)})
	}
	for _, s := range stores {
		if err := fsmode.MkdirAll(filepath.Dir(s.path)); err != nil {
			return fmt.Errorf("%s: cannot create directory %s: %w", s.setting, filepath.Dir(s.path), err)
		}
		path, err := resolved(s.path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.setting, s.path, err)
		}
		if err := proc.Hold(path + ".lock"); err != nil {
			if errors.Is(err, lifecycle.ErrHeld) {
				return fmt.Errorf("%s %s is in use by another mgvcore: %w; two services cannot share an embedded store: give this one its own (or stop or upgrade the other)", s.setting, s.path, err)
			}
			return fmt.Errorf("%s: %w", s.setting, err)
		}
	}
	return nil
}

// resolved is p absolute, its symbolic links resolved: of p itself when
// it exists, else of its directory.
func resolved(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// openDeps opens the stores, each behind its circuit breaker and traced.
func openDeps(cfg *config.Config, tracer tracing.Tracer, brk *breaker.Registry) (*deps, error) {
	db, err := dao.OpenDB(cfg.Database)
	if err != nil {
		return nil, err
	}
	d := &deps{db: db}
	if err := errors.Join(traceDB(db, tracer), db.Use(breaker.GormPlugin(brk.Get(breaker.MySQL)))); err != nil {
		return nil, errors.Join(err, d.closeDB())
	}
	if cfg.Search.Engine == "elasticsearch" {
		es, err := dao.OpenElastic(cfg.Search, breaker.RoundTripper(brk.Get(breaker.Elasticsearch), traceHTTP(tracer, "elasticsearch")))
		if err != nil {
			return nil, errors.Join(err, d.closeDB())
		}
		d.es = es
	}
	return d, nil
}

func (d *deps) register(hl *health.Health) {
	hl.Add("database", dao.PingDB(d.db))
	if d.es != nil {
		hl.Add("elasticsearch", dao.PingElastic(d.es))
	}
}

func (d *deps) watch(m *metrics.Metrics) {
	if sqlDB, err := d.db.DB(); err == nil {
		m.WatchDB(sqlDB, "main")
	}
}

func (d *deps) closeDB() error {
	sqlDB, err := d.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

func (d *deps) close(log zerolog.Logger) {
	if err := d.closeDB(); err != nil {
		log.Warn().Err(err).Msg("closing the database")
	}
	if d.es != nil {
		d.es.Stop()
	}
}
