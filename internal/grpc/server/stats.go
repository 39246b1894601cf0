package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/stats"
)

// Stats serves StatsService.
type Stats struct {
	openv1.UnimplementedStatsServiceServer
	Stats *stats.Stats
}

// GetRepStats compares the reps in scope. The logic checks the caller's
// scope before the arguments (see statsError).
func (s Stats) GetRepStats(ctx context.Context, req *openv1.GetRepStatsRequest) (*openv1.GetRepStatsResponse, error) {
	from, to, rangeErr := statsRange(req.GetStartTime(), req.GetEndTime())
	res, err := s.Stats.RepStats(ctx, stats.RepStatsRequest{From: from, To: to, DepartmentID: req.GetDepartmentId()})
	if err != nil {
		return nil, statsError(err, rangeErr)
	}
	out := &openv1.GetRepStatsResponse{Reps: make([]*openv1.RepStats, 0, len(res.Reps))}
	for i := range res.Reps {
		r := &res.Reps[i]
		out.Reps = append(out.Reps, &openv1.RepStats{
			User: userProto(&r.User), ConversationCount: r.ConversationCount, TotalDurationMs: r.TotalDurationMS,
			Mean: metricsMeanProto(r.Mean), MeasuredCount: r.MeasuredCount,
		})
	}
	t := res.Team
	out.Team = &openv1.TeamStats{
		RepCount: t.RepCount, ConversationCount: t.ConversationCount, TotalDurationMs: t.TotalDurationMS,
		Mean: metricsMeanProto(t.Mean), MeasuredCount: t.MeasuredCount,
	}
	return out, nil
}

// statsError words the logic's refusal of a stats request. A timestamp
// statsRange could not read reaches the logic as no time, which it refuses
// only once the caller's scope allows the call, so a caller without it
// learns nothing of the arguments; the refusal then names the timestamp as
// sent (rangeErr).
func statsError(err, rangeErr error) error {
	if f := errs.From(err).Field(); rangeErr != nil && (f == "from" || f == "to") {
		return rangeErr
	}
	return statsRangeFields.Word(err)
}

// statsRange reads the [start_time, end_time) of a stats request; the
// logic checks the range.
func statsRange(start, end *timestamppb.Timestamp) (time.Time, time.Time, error) {
	from, err := protoTime("start_time", start)
	if err != nil {
		return from, from, err
	}
	to, err := protoTime("end_time", end)
	if err != nil {
		return from, to, err
	}
	return from, to, nil
}

func metricsMeanProto(m stats.MetricsMean) *openv1.MetricsMean {
	return &openv1.MetricsMean{
		TalkRatio: m.TalkRatio, LongestMonologueMs: m.LongestMonologueMS, LongestCustomerStoryMs: m.LongestCustomerStoryMS,
		Interactivity: m.Interactivity, PatienceMs: m.PatienceMS,
		QuestionCountInternal: m.QuestionCountInternal, QuestionCountExternal: m.QuestionCountExternal,
		QuestionRate: m.QuestionRate, SilenceMs: m.SilenceMS,
	}
}
