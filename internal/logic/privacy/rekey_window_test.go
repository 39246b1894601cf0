package privacy_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

// latecomer is the erasure's store, which, just before the user is
// anonymised, has a conversation created where the user speaks under
// their name: a partner's create after the speakers were re-keyed and
// before the last transaction, which a user not yet anonymised may make.
type latecomer struct {
	*dao.Privacy
	create func()
}

func (l latecomer) AnonymiseUser(ctx context.Context, tenantID, userID int64) error {
	l.create()
	return l.Privacy.AnonymiseUser(ctx, tenantID, userID)
}

// A conversation created naming the user between the re-keying of their
// speakers and their anonymisation is re-keyed in the anonymisation's
// transaction: before, its key (their name) stayed for good. On MariaDB,
// where the create commits beside the erasure's transaction (SQLite's
// writers take turns).
func TestASpeakerKeyWrittenBeforeTheAnonymisationIsReplacedToo(t *testing.T) {
	func(t *testing.T, db *gorm.DB) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		ten := model.Tenant{Name: "T", Timezone: "UTC", RateTier: "standard", CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&ten).Error; err != nil {
			t.Fatal(err)
		}
		email := "zhang.wei@example.com"
		rep := model.User{TenantID: ten.ID, Name: "Zhang Wei", Email: &email, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&rep).Error; err != nil {
			t.Fatal(err)
		}
		spoken := func(origin string) int64 {
			c := model.Conversation{TenantID: ten.ID, OriginConversationID: origin, OwnerUserID: rep.ID, Channel: "call",
				Direction: "unknown", Status: "pending", BeginTime: now, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&c).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Create(&model.Participant{TenantID: ten.ID, ConversationID: c.ID, SpeakerKey: "Zhang Wei", UserID: &rep.ID,
				Affiliation: model.AffiliationInternal}).Error; err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		spoken("before")
		var late int64
		repo := latecomer{Privacy: dao.NewPrivacy(db), create: func() {
			if late == 0 {
				late = spoken("late")
			}
		}}
		startIndexer(t, db, ten.ID)
		tx := dao.NewTransactor(db)
		if _, err := privacy.NewService(repo, 100, nil).StartErasure(accesstest.User(model.RoleAdmin, ten.ID, 1), privacy.Subject{Email: email}); err != nil {
			t.Fatal(err)
		}
		r := privacy.NewRunner(repo, nil, noRevoker{}, tx, privacy.RunnerOptions{Batch: 10, Lease: time.Minute, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
		if worked, err := r.RunOnce(context.Background()); !worked || err != nil {
			t.Fatalf("run: %v %v", worked, err)
		}
		var keys []string
		if err := db.Model(&model.Participant{}).Where("user_id = ?", rep.ID).Order("id").Pluck("speaker_key", &keys).Error; err != nil {
			t.Fatal(err)
		}
		if late == 0 || len(keys) != 2 || keys[0] == "Zhang Wei" || keys[1] == "Zhang Wei" {
			t.Fatalf("the user's speaker keys after the erasure: %v (the late conversation %d)", keys, late)
		}
	}(t, daotest.OpenMariaDB(t))
}
