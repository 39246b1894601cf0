package tracker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// eventLog keeps what is appended, or fails every append with fail.
type eventLog struct {
	evs  []events.Event
	fail error
}

func (l *eventLog) Append(_ context.Context, evs ...events.Event) error {
	if l.fail != nil {
		return l.fail
	}
	l.evs = append(l.evs, evs...)
	return nil
}

// A deletion appends one tracker.deleted event in its transaction: a
// failed append keeps the tracker, a refused deletion appends nothing.
func TestDeleteAppendsTrackerDeleted(t *testing.T) {
	db := daotest.Open(t)
	repo := dao.NewTrackers(db)
	log := &eventLog{}
	tr := tracker.NewTrackers(repo, nil)
	tr.SetEventLog(log, dao.NewTransactor(db))
	admin := accesstest.User(model.RoleAdmin, 1, 10)
	created, err := tr.Create(admin, tracker.Input{Name: "Pricing", Keywords: []string{"price"}})
	if err != nil {
		t.Fatal(err)
	}

	log.fail = errors.New("the event log is down")
	if err := tr.Delete(admin, created.ID); !errors.Is(err, log.fail) {
		t.Fatalf("delete with a failing event log: %v", err)
	}
	if _, err := repo.GetTracker(context.Background(), 1, created.ID); err != nil {
		t.Fatalf("the tracker went without its event: %v", err)
	}

	log.fail = nil
	if err := tr.Delete(admin, created.ID); err != nil {
		t.Fatal(err)
	}
	if len(log.evs) != 1 || log.evs[0].Type != events.TrackerDeleted || log.evs[0].TenantID != 1 || log.evs[0].Data["tracker_id"] != created.ID {
		t.Fatalf("events %+v", log.evs)
	}
	if err := tr.Delete(admin, created.ID); errs.ReasonOf(err) != errs.ReasonTrackerNotFound || len(log.evs) != 1 {
		t.Fatalf("second delete: %v, events %+v", err, log.evs)
	}
	if err := tr.Delete(accesstest.User(model.RoleRep, 1, 11), created.ID); errs.ReasonOf(err) != errs.ReasonPermissionDenied || len(log.evs) != 1 {
		t.Fatalf("a rep's delete: %v, events %+v", err, log.evs)
	}
}
