package app

import (
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// privacyDomain is governance over personal data: conversation delete,
// personal-data lookup and erasure, retention.
type privacyDomain struct {
	deleter *conversation.Deleter
}

func newPrivacyDomain(dm *domain, convs *dao.Conversations) *privacyDomain {
	pd := &privacyDomain{deleter: conversation.NewDeleter(convs, dao.NewTransactor(dm.d.db))}
	pd.deleter.OnDeleted(dm.search.indexer.Deleted)
	return pd
}

// register adds the HTTP routes (the gRPC method is on ConversationService).
func (pd *privacyDomain) register(r controller.Router) {
	controller.ConversationDelete{Deleter: pd.deleter}.Routes(r)
}

// stop ends the background jobs.
func (pd *privacyDomain) stop() {}
