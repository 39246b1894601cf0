package app

import (
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/search"
)

// privacyDomain is governance over personal data: conversation delete,
// personal-data lookup and erasure, retention.
type privacyDomain struct {
	deleter  *conversation.Deleter
	service  *privacy.Service
	runner   *privacy.Runner
	settings *privacy.TenantSettings
	retainer *privacy.Retainer
	// wal truncates the embedded SQLite store's WAL after deletions.
	wal *dao.WAL
}

func newPrivacyDomain(dm *domain, convs *dao.Conversations) *privacyDomain {
	tx := dao.NewTransactor(dm.d.db)
	pd := &privacyDomain{deleter: conversation.NewDeleter(convs, tx, conversation.AppendDeleted(dm.events.log))}
	// A deletion's rows leave the SQLite WAL in the background (a
	// caller's delete does not wait for readers to let go of them); an
	// erasure truncates it itself before it is done.
	pd.wal = dao.NewWAL(dm.d.db, dm.log)
	pd.deleter.OnDeleted(func(ids []int64) {
		dm.search.indexer.Deleted(ids)
		pd.wal.Ask()
	})
	repo := dao.NewPrivacy(dm.d.db)
	cfg := dm.cfg.Privacy
	o := privacy.RunnerOptions{
		Batch: cfg.ErasureBatch, Lease: cfg.ErasureLease.Duration, ConfirmWithin: cfg.ConfirmWithin.Duration, Audit: dm.audit.writer,
		Settle: dm.search.indexer.RecentBound(), ConfirmOver: cfg.ConfirmOver, Store: pd.wal,
	}
	if r, ok := dm.search.engine.(search.Refresher); ok {
		o.Refresher, o.RefreshEvery = r, dm.cfg.Search.RefreshInterval.Duration
	}
	pd.runner = privacy.NewRunner(repo, pd.deleter, dm.revocations, tx, o, dm.log, privacy.AppendErased(dm.events.log))
	pd.service = privacy.NewService(repo, cfg.ConfirmOver, pd.runner.Notify)
	retention := dao.NewRetention(dm.d.db)
	pd.settings = privacy.NewTenantSettings(retention, cfg.ConfirmOver)
	pd.retainer = privacy.NewRetainer(retention, pd.deleter, tx, privacy.RetainerOptions{
		Every: cfg.RetentionEvery.Duration, Poll: cfg.RetentionPoll.Duration, Batch: cfg.ErasureBatch,
		Lease: cfg.ErasureLease.Duration, Audit: dm.audit.writer,
	}, dm.log)
	return pd
}

// register adds the HTTP routes (the gRPC method is on
// ConversationService) and starts the erasure runner.
func (pd *privacyDomain) register(r controller.Router) {
	controller.ConversationDelete{Deleter: pd.deleter}.Routes(r)
	controller.Privacy{Privacy: pd.service}.Routes(r)
	controller.TenantSettings{Settings: pd.settings}.Routes(r)
	pd.wal.Start()
	pd.runner.Start()
	pd.retainer.Start()
}

// stop ends the erasure runner; a job in progress resumes in the next
// process once its lease runs out.
func (pd *privacyDomain) stop() {
	pd.runner.Stop()
	pd.retainer.Stop()
	pd.wal.Close()
}
