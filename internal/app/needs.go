package app

import (
	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// operationNeeds is what each operation's use case asks of its caller
// (its access.Require), checked by policy.Need before the handler reads
// the request: a caller that may not call gets 403 whatever it sent. Every
// operation that needs a token is listed (TestEveryOperationHasANeed).
var operationNeeds = map[string]access.Need{
	openv1.ConversationService_CreateConversation_FullMethodName: access.Ingest,
	openv1.ConversationService_PutTranscript_FullMethodName:      access.Ingest,
	openv1.ConversationService_DeleteConversation_FullMethodName: access.Ingest,
	openv1.DealService_UpsertDeal_FullMethodName:                 access.Ingest,
	openv1.ConversationService_GetConversation_FullMethodName:    access.Read,
	openv1.ConversationService_ListConversations_FullMethodName:  access.Read,
	openv1.ConversationService_GetTranscript_FullMethodName:      access.Read,
	openv1.SearchService_SearchTranscripts_FullMethodName:        access.Search,
	openv1.StatsService_GetRepStats_FullMethodName:               access.Read,
	openv1.TrackerService_ListTrackers_FullMethodName:            access.Read,
	openv1.TrackerService_GetTrackerStats_FullMethodName:         access.Read,
	openv1.OrgService_UpsertDepartment_FullMethodName:            access.OrgWrite,
	openv1.OrgService_UpsertUser_FullMethodName:                  access.OrgWrite,
	openv1.OrgService_ListUsers_FullMethodName:                   access.OrgRead,
	openv1.EventService_StreamEvents_FullMethodName:              access.TenantRead,
	// An app's own subscriptions: the use case then refuses users.
	openv1.EventService_CreateSubscription_FullMethodName: access.Read,
	openv1.EventService_ListSubscriptions_FullMethodName:  access.Read,
	openv1.EventService_DeleteSubscription_FullMethodName: access.Read,
	openv1.EventService_ListDeliveries_FullMethodName:     access.Read,
	openv1.EventService_Redeliver_FullMethodName:          access.Read,

	controller.OperationGetMe:           access.User,
	controller.OperationLogout:          access.User,
	controller.OperationChangePassword:  access.User,
	controller.OperationListDepartments: access.OrgRead,
	controller.OperationCreateUser:      access.Admin,
	controller.OperationUpdateUser:      access.Admin,
	controller.OperationListComments:    access.Read,
	controller.OperationCreateComment:   access.User,
	controller.OperationDeleteComment:   access.User,
	controller.OperationListEvents:      access.TenantRead,
	controller.OperationListAuditLogs:   access.Admin,

	controller.OperationCreateTracker: access.Admin,
	controller.OperationUpdateTracker: access.Admin,
	controller.OperationDeleteTracker: access.Admin,

	controller.OperationCreateApp:       access.Admin,
	controller.OperationListApps:        access.Admin,
	controller.OperationGetApp:          access.Admin,
	controller.OperationUpdateApp:       access.Admin,
	controller.OperationRotateAppSecret: access.Admin,
	controller.OperationDisableApp:      access.Admin,
	controller.OperationEnableApp:       access.Admin,
	controller.OperationDeleteApp:       access.Admin,

	// Every app's subscriptions, for the tenant's admins.
	controller.OperationListWebhooks:        access.Admin,
	controller.OperationGetWebhook:          access.Admin,
	controller.OperationUpdateWebhook:       access.Admin,
	controller.OperationDeleteWebhook:       access.Admin,
	controller.OperationListDeliveries:      access.Admin,
	controller.OperationCreateRedelivery:    access.Admin,
	controller.OperationRotateWebhookSecret: access.Admin,

	controller.OperationPrivacyLookup:     access.Admin,
	controller.OperationStartErasure:      access.Admin,
	controller.OperationGetErasure:        access.Admin,
	controller.OperationConfirmErasure:    access.Admin,
	controller.OperationGetTenantSettings: access.Admin,
	controller.OperationPutTenantSettings: access.Admin,
}

// heavyOperations are the calls whose cost grows with the tenant's data and
// the filters or range its caller picks, bounded per tenant by
// policy.Heavy (ratelimit.tiers heavy_calls). Every other call is a
// bounded page or one row.
var heavyOperations = map[string]bool{
	openv1.ConversationService_ListConversations_FullMethodName: true,
	openv1.SearchService_SearchTranscripts_FullMethodName:       true,
	openv1.StatsService_GetRepStats_FullMethodName:              true,
	openv1.TrackerService_GetTrackerStats_FullMethodName:        true,
	openv1.OrgService_ListUsers_FullMethodName:                  true,
	controller.OperationListAuditLogs:                           true,
	controller.OperationListEvents:                              true,
	controller.OperationPrivacyLookup:                           true,
}
