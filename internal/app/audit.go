package app

import (
	"context"
	"fmt"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/policy"
)

// auditRules decide, in one place for both transports, which operations
// leave an audit record (PRODUCT §8): every sign-in, every write, every
// read of a transcript, every search, export and erasure. Every HTTP route
// and every gRPC method is listed, the plain reads with an empty rule, and
// TestEveryOperationIsInTheAuditTable fails for one that is not: a new
// route or method cannot be added without deciding.
var auditRules = map[string]policy.AuditRule{
	// Sign-ins, successful or not, also when throttled.
	controller.OperationLogin:                        {Name: "auth.login", TargetType: "user", Anonymous: true},
	controller.OperationRefresh:                      {Name: "auth.refresh", TargetType: "user", Anonymous: true},
	openv1.AuthService_CreateAppToken_FullMethodName: {Name: "auth.app_token", TargetType: "app", Anonymous: true},
	controller.OperationLogout:                       {Name: "auth.logout"},
	controller.OperationChangePassword:               {Name: "auth.password_change"},

	// Writes.
	controller.OperationCreateUser:                               {Name: "user.create", TargetType: "user"},
	controller.OperationUpdateUser:                               {Name: "user.update", TargetType: "user", TargetParams: []string{"id"}},
	openv1.OrgService_UpsertUser_FullMethodName:                  {Name: "user.upsert", TargetType: "user"},
	openv1.OrgService_UpsertDepartment_FullMethodName:            {Name: "department.upsert", TargetType: "department", TargetParams: []string{"origin_department_id"}},
	openv1.DealService_UpsertDeal_FullMethodName:                 {Name: "deal.upsert", TargetType: "deal", TargetParams: []string{"origin_deal_id"}},
	openv1.ConversationService_CreateConversation_FullMethodName: {Name: "conversation.create", TargetType: "conversation"},
	openv1.ConversationService_PutTranscript_FullMethodName:      {Name: "transcript.put", TargetType: "conversation"},
	controller.OperationCreateTracker:                            {Name: "tracker.create", TargetType: "tracker"},
	controller.OperationUpdateTracker:                            {Name: "tracker.update", TargetType: "tracker", TargetParams: []string{"id"}},
	controller.OperationDeleteTracker:                            {Name: "tracker.delete", TargetType: "tracker", TargetParams: []string{"id"}},
	controller.OperationCreateComment:                            {Name: "comment.create", TargetType: "conversation", TargetParams: []string{"id"}},
	controller.OperationDeleteComment:                            {Name: "comment.delete", TargetType: "comment", TargetParams: []string{"id"}},

	// Reads of personal data: transcripts, searches, the trail itself.
	openv1.ConversationService_GetTranscript_FullMethodName: {Name: "transcript.read", TargetType: "conversation", TargetParams: []string{"id", "conversation_id"}},
	openv1.SearchService_SearchTranscripts_FullMethodName:   {Name: "search"},
	controller.OperationListAuditLogs:                       {Name: "audit.read"},

	// Plain reads: not audited.
	controller.OperationGetMe:                                   {},
	controller.OperationListDepartments:                         {},
	openv1.OrgService_ListUsers_FullMethodName:                  {},
	openv1.ConversationService_GetConversation_FullMethodName:   {},
	openv1.ConversationService_ListConversations_FullMethodName: {},
	controller.OperationListComments:                            {},
	openv1.TrackerService_ListTrackers_FullMethodName:           {},
	openv1.TrackerService_GetTrackerStats_FullMethodName:        {},
	openv1.StatsService_GetRepStats_FullMethodName:              {},
	openv1.SystemService_Ping_FullMethodName:                    {},

	// Governance of personal data: deletes, lookups and erasures; the
	// target of an erasure is its job, never the person's identifiers.
	openv1.ConversationService_DeleteConversation_FullMethodName: {Name: "conversation.delete", TargetType: "conversation", TargetParams: []string{"id", "conversation_id"}},
	controller.OperationPrivacyLookup:                            {Name: "privacy.lookup"},
	controller.OperationStartErasure:                             {Name: "privacy.erasure.start", TargetType: "erasure"},
	controller.OperationConfirmErasure:                           {Name: "privacy.erasure.confirm", TargetType: "erasure", TargetParams: []string{"id"}},
	controller.OperationGetErasure:                               {},
	controller.OperationPutTenantSettings:                        {Name: "tenant.settings.update", TargetType: "tenant"},
	controller.OperationGetTenantSettings:                        {},

	// Partner events: reading the log is a plain read; subscriptions are
	// writes.
	controller.OperationListEvents:                        {},
	openv1.EventService_StreamEvents_FullMethodName:       {},
	openv1.EventService_ListSubscriptions_FullMethodName:  {},
	openv1.EventService_ListDeliveries_FullMethodName:     {},
	openv1.EventService_CreateSubscription_FullMethodName: {Name: "webhook.create", TargetType: "webhook"},
	openv1.EventService_DeleteSubscription_FullMethodName: {Name: "webhook.delete", TargetType: "webhook", TargetParams: []string{"id"}},
	openv1.EventService_Redeliver_FullMethodName:          {Name: "webhook.redeliver", TargetType: "webhook", TargetParams: []string{"subscription_id"}},
	controller.OperationListWebhooks:                      {},
	controller.OperationGetWebhook:                        {},
	controller.OperationListDeliveries:                    {},
	controller.OperationUpdateWebhook:                     {Name: "webhook.update", TargetType: "webhook", TargetParams: []string{"id"}},
	controller.OperationDeleteWebhook:                     {Name: "webhook.delete", TargetType: "webhook", TargetParams: []string{"id"}},
	controller.OperationCreateRedelivery:                  {Name: "webhook.redeliver", TargetType: "webhook", TargetParams: []string{"id"}},
	controller.OperationRotateWebhookSecret:               {Name: "webhook.rotate_secret", TargetType: "webhook", TargetParams: []string{"id"}},

	// Open-platform apps: every change of who may call is a write.
	controller.OperationListApps:        {},
	controller.OperationGetApp:          {},
	controller.OperationCreateApp:       {Name: "app.create", TargetType: "app"},
	controller.OperationUpdateApp:       {Name: "app.update", TargetType: "app", TargetParams: []string{"id"}},
	controller.OperationRotateAppSecret: {Name: "app.rotate_secret", TargetType: "app", TargetParams: []string{"id"}},
	controller.OperationDisableApp:      {Name: "app.disable", TargetType: "app", TargetParams: []string{"id"}},
	controller.OperationEnableApp:       {Name: "app.enable", TargetType: "app", TargetParams: []string{"id"}},
	controller.OperationDeleteApp:       {Name: "app.delete", TargetType: "app", TargetParams: []string{"id"}},
}

// auditDomain writes the trail and trims it after audit.retention.
type auditDomain struct {
	trail   *dao.AuditLogs
	writer  *audit.Writer
	trimmer *audit.Trimmer
	log     *audit.Log
}

func newAuditDomain(cfg config.Audit, chainKey string, d *deps, pol *policies) (*auditDomain, error) {
	trail := dao.NewAuditLogs(d.db, audit.NewSealer(chainKey), pol.log)
	ad := &auditDomain{
		trail: trail,
		writer: audit.NewWriter(trail, pol.log, audit.WriterOptions{
			Queue: cfg.Queue, Batch: cfg.Batch, Interval: cfg.FlushInterval.Duration, FullWait: cfg.FullWait.Duration,
		}),
		trimmer: audit.NewTrimmer(trail, pol.log, audit.TrimOptions{Retention: cfg.Retention.Duration, Every: cfg.TrimEvery.Duration}),
		log:     audit.NewLog(trail),
	}
	if err := ad.writer.RegisterMetrics(pol.metrics.Registry); err != nil {
		return nil, err
	}
	if err := ad.trimmer.RegisterMetrics(pol.metrics.Registry); err != nil {
		return nil, err
	}
	rules, err := withExtraAudits(auditRules, cfg.ExtraOperations)
	if err != nil {
		return nil, err
	}
	pol.audit = policy.Audit(ad.writer, rules)
	return ad, nil
}

// withExtraAudits returns rules with the operations of
// audit.extra_operations audited too, under their own names and
// anonymous calls included; an operation of no route or method is refused.
func withExtraAudits(rules map[string]policy.AuditRule, extra []string) (map[string]policy.AuditRule, error) {
	if len(extra) == 0 {
		return rules, nil
	}
	out := make(map[string]policy.AuditRule, len(rules))
	for op, r := range rules {
		out[op] = r
	}
	for _, op := range extra {
		r, ok := out[op]
		if !ok {
			return nil, fmt.Errorf("audit.extra_operations: %q is no operation of this service", op)
		}
		if r.Name == "" {
			r.Name = op
		}
		r.Anonymous = true
		out[op] = r
	}
	return out, nil
}

func (ad *auditDomain) start() {
	ad.writer.Start()
	ad.trimmer.Start()
}

// stop writes every record taken, within the drain deadline, once the
// servers have drained: a clean stop and the old process of an upgrade
// both lose nothing.
func (ad *auditDomain) stop(ctx context.Context) {
	ad.trimmer.Stop()
	ad.writer.Stop(ctx)
}
