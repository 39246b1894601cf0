package server

import (
	"context"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
)

// Trackers serves TrackerService.
type Trackers struct {
	openv1.UnimplementedTrackerServiceServer
	Trackers *tracker.Trackers
	Stats    *stats.Stats
}

// ListTrackers returns the tenant's trackers by id, a page at a time when
// asked to.
func (s Trackers) ListTrackers(ctx context.Context, req *openv1.ListTrackersRequest) (*openv1.ListTrackersResponse, error) {
	page, err := s.Trackers.List(ctx, tracker.ListRequest{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &openv1.ListTrackersResponse{Trackers: make([]*openv1.Tracker, 0, len(page.Trackers)), NextPageToken: page.NextPageToken, Total: page.Total}
	for _, t := range page.Trackers {
		out.Trackers = append(out.Trackers, &openv1.Tracker{
			Id: t.ID, Name: t.Name, Keywords: t.Keywords, Affiliation: trackerAffiliations.value(t.Affiliation),
		})
	}
	return out, nil
}

var trackerGroupBy = map[openv1.TrackerStatsGroupBy]string{
	openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_OWNER: stats.GroupByOwner,
	openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY:   stats.GroupByDay,
}

// statsRangeFields names the range fields of the stats requests.
var statsRangeFields = errs.FieldNames{"from": "start_time", "to": "end_time"}

// GetTrackerStats counts a tracker's hits in scope by owner or by day. The
// logic checks the caller's scope before the arguments: a grouping this
// server does not know reaches it as none, and a timestamp that cannot be
// read as no time (statsError), both of which it refuses once the scope
// allows the call; the error then names what was sent.
func (s Trackers) GetTrackerStats(ctx context.Context, req *openv1.GetTrackerStatsRequest) (*openv1.GetTrackerStatsResponse, error) {
	from, to, rangeErr := statsRange(req.GetStartTime(), req.GetEndTime())
	st, err := s.Stats.TrackerStats(ctx, stats.TrackerStatsRequest{TrackerID: req.GetTrackerId(), GroupBy: trackerGroupBy[req.GetGroupBy()], From: from, To: to})
	if err != nil {
		if errs.ReasonOf(err) == errs.ReasonInvalidArgument && errs.From(err).Field() == "group_by" {
			return nil, errs.InvalidArgument("group_by", "must be TRACKER_STATS_GROUP_BY_OWNER or TRACKER_STATS_GROUP_BY_DAY (got %s)", req.GetGroupBy())
		}
		return nil, statsError(err, rangeErr)
	}
	out := &openv1.GetTrackerStatsResponse{TrackerId: st.TrackerID, Buckets: make([]*openv1.TrackerStatsBucket, 0, len(st.Buckets))}
	for _, b := range st.Buckets {
		out.Buckets = append(out.Buckets, &openv1.TrackerStatsBucket{Key: b.Key, Label: b.Label, Hits: b.Hits, Conversations: b.Conversations})
	}
	return out, nil
}
