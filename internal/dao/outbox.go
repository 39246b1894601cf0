package dao

import (
	"context"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/model"
)

// Outbox holds durable background work (search indexing, tracker
// re-application) written in the same transaction as the change it follows,
// so no acknowledged change is ever left unindexed.
type Outbox struct{ db *gorm.DB }

// NewOutbox works on db.
func NewOutbox(db *gorm.DB) *Outbox { return &Outbox{db: db} }

// Enqueue adds jobs, due now, in the transaction ctx carries if any.
func (o *Outbox) Enqueue(ctx context.Context, jobs ...model.OutboxJob) error {
	return enqueue(conn(ctx, o.db), jobs...)
}

func enqueue(db *gorm.DB, jobs ...model.OutboxJob) error {
	if len(jobs) == 0 {
		return nil
	}
	t := dbNow()
	for i := range jobs {
		if jobs[i].NextAttemptAt.IsZero() {
			jobs[i].NextAttemptAt = t
		}
		jobs[i].CreatedAt = t
	}
	return dbError(db.Create(&jobs).Error, nil)
}
