package app

import (
	"context"
	"maps"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/clientip"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/grpc/interceptor"
	"github.com/megaview/mgvcore/internal/grpc/server"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/limit"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/policy"
)

// domain wires the use cases: dao → logic → both transports. newDomain runs
// before the policy chains are built (auth is one of the policies);
// register runs once both servers exist.
type domain struct {
	cfg *config.Config
	// transcriptStreams caps concurrent PutTranscript streams per app and
	// in all (grpc.max_streams_per_app, grpc.max_streams).
	transcriptStreams *bound.Slots
	log               zerolog.Logger
	d                 *deps
	tokens            *identity.Tokens
	// revocations refuses tokens whose user or app was revoked, on every
	// instance within a poll interval.
	revocations *identity.Revocations
	auth        *identity.Auth
	org         *identity.Org
	apps        *identity.Apps
	convs       *conversation.Reader
	ingest      *conversation.Ingest

	trackers     *tracker.Trackers
	stats        *stats.Stats
	comments     *conversation.Comments
	trackerApply *tracker.Applier
	search       *searchDomain
	events       *eventsDomain
	audit        *auditDomain
	webhooks     *webhookDomain
	privacy      *privacyDomain
}

// trackerApplyBatchesPerSecond paces the background re-application of
// trackers (at most 50 conversations per batch) across all its workers.
const trackerApplyBatchesPerSecond = 10

func newDomain(cfg *config.Config, log zerolog.Logger, d *deps, pol *policies) (*domain, error) {
	dm := &domain{
		cfg:    cfg,
		log:    log,
		d:      d,
		tokens: identity.NewTokens(cfg.Auth.JWTSecret, cfg.Auth.AccessTokenTTL.Duration, cfg.Auth.AppTokenTTL.Duration),
	}
	dm.revocations = identity.NewRevocations(dao.NewTokenVersions(d.db), identity.RevocationOptions{
		Keep: max(cfg.Auth.AccessTokenTTL.Duration, cfg.Auth.AppTokenTTL.Duration), Log: log,
		AfterCommit: dao.NewTransactor(d.db).AfterCommit,
	})
	pol.auth = policy.Auth(authenticator{tokens: dm.tokens, revocations: dm.revocations, defaultTier: cfg.RateLimit.DefaultTier}, publicOperations, pol.limiter)

	users, departments, tenants, refresh := dao.NewUsers(d.db), dao.NewDepartments(d.db), dao.NewTenants(d.db), dao.NewRefreshTokens(d.db)
	hasher := identity.NewBcrypt(0)
	auth, err := identity.NewAuth(identity.AuthDeps{
		Users: users, Tenants: tenants, Departments: departments, Refresh: refresh, Apps: dao.NewApps(d.db),
		Tokens: dm.tokens, Hasher: hasher, RefreshTTL: cfg.Auth.RefreshTokenTTL.Duration,
		Throttle: dao.NewSigninThrottle(d.db), ThrottleKey: cfg.SigninThrottleKey(),
		ThrottlePolicy: identity.ThrottlePolicy{
			Window:     cfg.Auth.SigninWindow.Duration,
			PerAccount: cfg.Auth.SigninAccountAttempts, PerAccountTotal: cfg.Auth.SigninAccountTotalAttempts,
			KnownFor: cfg.Auth.SigninKnownClientFor.Duration, PerAddress: cfg.Auth.SigninAddressAttempts,
			SlowBase: identity.DefaultThrottle.SlowBase, SlowMax: identity.DefaultThrottle.SlowMax,
		},
		// The client the policy chain established for the call: one
		// budget per IPv4 address or IPv6 /64.
		ClientAddr:  func(ctx context.Context) string { return clientip.Key(policy.InfoFrom(ctx).ClientIP) },
		Revocations: dm.revocations,
	})
	if err != nil {
		return nil, err
	}
	dm.auth = auth
	if dm.audit, err = newAuditDomain(cfg.Audit, cfg.AuditChainKey(), d, pol); err != nil {
		return nil, err
	}
	dm.apps = identity.NewApps(identity.AppsDeps{Apps: dao.NewApps(d.db), Tenants: tenants, Hasher: hasher, Revocations: dm.revocations,
		Tx: dao.NewTransactor(d.db), MaxPerTenant: cfg.Apps.MaxPerTenant})
	dm.org = identity.NewOrg(identity.OrgDeps{Users: users, Departments: departments, Tenants: tenants, Refresh: refresh, Hasher: hasher, Revocations: dm.revocations,
		Tx: dao.NewTransactor(d.db)})
	convs := dao.NewConversations(d.db)
	dm.convs = conversation.NewReader(convs)
	trackers := dao.NewTrackers(d.db)
	dm.events = newEventsDomain(cfg, log, d)
	trackerJobs := dao.NewTrackerJobs(d.db)
	trackerJobs.OnHitsChanged(tracker.AppendMatched(dm.events.log))
	dm.trackerApply = tracker.NewApplier(trackerJobs, log, tracker.ApplierOptions{
		Pacer: limit.NewPacer(trackerApplyBatchesPerSecond), Poll: time.Second,
	})
	dm.trackers = tracker.NewTrackers(trackers, dm.trackerApply.Notify)
	dm.trackers.SetMaxPerTenant(cfg.Trackers.MaxPerTenant)
	dm.trackers.SetEventLog(dm.events.log, dao.NewTransactor(d.db))
	dm.stats = stats.NewStats(dao.NewStats(d.db), trackers)
	dm.comments = conversation.NewComments(dao.NewComments(d.db))
	hook := tracker.NewHook(trackers)
	hook.SetEventLog(dm.events.log)
	dm.ingest = conversation.NewIngest(convs, dao.NewDeals(d.db), dao.NewTransactor(d.db), hook)
	dm.ingest.SetEventLog(dm.events.log)
	// A tenant's share of the buffer is the share of the streams it may
	// hold: one tenant's streams, each within its limits, took the whole
	// buffer, and every other tenant's transcripts were refused.
	// The share holds at least one upload of the longest transcript the
	// API takes, which the whole buffer held before.
	budget := bound.NewBudget(cfg.GRPC.TranscriptBufferBytes)
	if g := cfg.GRPC; g.MaxStreams > 0 && g.MaxStreamsPerTenant > 0 && g.MaxStreamsPerTenant < g.MaxStreams {
		share := g.TranscriptBufferBytes * int64(g.MaxStreamsPerTenant) / int64(g.MaxStreams)
		budget.PerGroup(min(max(share, conversation.MaxTranscriptBufferBytes), g.TranscriptBufferBytes))
	}
	dm.ingest.SetTranscriptBudget(budget)
	if err := dm.ingest.RegisterMetrics(pol.metrics.Registry); err != nil {
		return nil, err
	}
	if dm.search, err = newSearchDomain(cfg, log, d, pol.metrics.Registry); err != nil {
		return nil, err
	}
	if cfg.Search.Indexer {
		dm.ingest.OnCommitted(dm.search.indexer.Committed)
	}
	if dm.webhooks, err = newWebhookDomain(cfg, log, dao.NewEvents(d.db), dao.NewWebhooks(d.db)); err != nil {
		return nil, err
	}
	if dm.webhooks.deliverer != nil {
		if err := dm.webhooks.deliverer.RegisterMetrics(pol.metrics.Registry); err != nil {
			return nil, err
		}
	}
	dm.privacy = newPrivacyDomain(dm, convs)
	return dm, nil
}

// publicOperations need no token.
var publicOperations = map[string]bool{
	openv1.SystemService_Ping_FullMethodName:         true,
	openv1.AuthService_CreateAppToken_FullMethodName: true,
	controller.OperationLogin:                        true,
	controller.OperationRefresh:                      true,
}

// tap decides a gRPC call from its headers before its messages are read:
// API methods need a valid bearer token, and every call ends at its
// operation's deadline, the one the timeout policy applies (PutTranscript:
// grpc.stream_timeout; StreamEvents, health's Watch and reflection: none,
// the drain ends them), counted from its headers rather than from its
// request message. Each refusal is told to
// refused, since such calls never reach the interceptors.
func (dm *domain) tap(refused func(reason string), perOperation map[string]time.Duration) interceptor.Tap {
	timeouts := maps.Clone(perOperation)
	timeouts[healthpb.Health_Watch_FullMethodName] = 0
	// Reflection (dev and test) streams for as long as the tool runs.
	timeouts[reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName] = 0
	timeouts[reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName] = 0
	return interceptor.Tap{
		Verify: func(token string) (bool, error) {
			claims, err := dm.tokens.Verify(token)
			if err != nil {
				return false, err
			}
			// An instance that cannot read revocations refuses every
			// token (503): such calls are read as trusted ones, so that
			// the refusal clients meet in an outage is that one, not the
			// bound of untrusted reads; but not a token it knows to be
			// revoked.
			err = dm.revocations.Check(claims)
			if errs.ReasonOf(err) == errs.ReasonDependencyUnavailable {
				err = dm.revocations.Known(claims)
			}
			return err == nil, nil
		},
		Untrusted: semaphore.NewWeighted(int64(dm.cfg.GRPC.MaxUntrustedReads)),
		Public:    publicOperations,
		Timeouts:  timeouts,
		Timeout:   dm.cfg.GRPC.RequestTimeout.Duration,
		Refused:   refused,
	}
}

// register adds every route and gRPC service.
func (dm *domain) register(r controller.Router, g grpc.ServiceRegistrar) {
	openv1.RegisterSystemServiceServer(g, server.System{})
	controller.Auth{Auth: dm.auth}.Routes(r)
	controller.Org{Org: dm.org}.Routes(r)
	controller.Apps{Apps: dm.apps}.Routes(r)
	openv1.RegisterAuthServiceServer(g, server.Auth{Auth: dm.auth})
	openv1.RegisterOrgServiceServer(g, server.Org{Org: dm.org})
	controller.Conversations{Reader: dm.convs}.Routes(r)
	dm.transcriptStreams = bound.NewSlots(dm.cfg.GRPC.MaxStreamsPerApp, dm.cfg.GRPC.MaxStreams).PerGroup(dm.cfg.GRPC.MaxStreamsPerTenant)
	openv1.RegisterConversationServiceServer(g, server.ConversationWithDelete{Conversation: server.Conversation{Ingest: dm.ingest, Reader: dm.convs,
		Streams: dm.transcriptStreams}, Deleter: dm.privacy.deleter})
	openv1.RegisterDealServiceServer(g, server.Deal{Ingest: dm.ingest})
	controller.Trackers{Trackers: dm.trackers, Stats: dm.stats}.Routes(r)
	controller.Stats{Stats: dm.stats}.Routes(r)
	controller.Comments{Comments: dm.comments}.Routes(r)
	openv1.RegisterTrackerServiceServer(g, server.Trackers{Trackers: dm.trackers, Stats: dm.stats})
	openv1.RegisterStatsServiceServer(g, server.Stats{Stats: dm.stats})
	dm.search.register(r, g)
	dm.privacy.register(r)
	dm.events.webhooks = dm.webhooks.subs
	dm.events.log.OnAppended(func([]int64) { dm.webhooks.wake() })
	dm.events.register(r, g)
	controller.AuditLogs{Log: dm.audit.log}.Routes(r)
	controller.Webhooks{Subs: dm.webhooks.subs}.Routes(r)
	// Background work starts with the routes; stop ends it.
	dm.audit.start()
	dm.revocations.Start(context.Background())
	dm.trackerApply.Start(context.Background())
	dm.events.start()
	dm.webhooks.start()
}

// stop ends the background work of the domain, letting a job in progress
// commit its batch and handing it back for the next process; call it once
// the servers have drained.
func (dm *domain) stop() {
	dm.revocations.Stop()
	dm.trackerApply.Stop()
	dm.privacy.stop()
	dm.events.stop()
	dm.webhooks.stop()
	dm.search.stop(dm.log)
	ctx, cancel := context.WithTimeout(context.Background(), dm.cfg.Process.DrainTimeout.Duration)
	defer cancel()
	dm.audit.stop(ctx)
}
