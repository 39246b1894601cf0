package controller

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/stats"
)

// Stats serves the rep statistics.
type Stats struct {
	Stats *stats.Stats
}

// Routes adds the routes.
func (h Stats) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/stats/reps", openv1.StatsService_GetRepStats_FullMethodName, h.Reps, "from", "to", "department_id")
}

// RepStatsJSON is one rep's statistics.
type RepStatsJSON struct {
	User              UserJSON        `json:"user"`
	ConversationCount int64           `json:"conversation_count"`
	TotalDurationMS   int64           `json:"total_duration_ms"`
	MeasuredCount     int64           `json:"measured_count"`
	Mean              MetricsMeanJSON `json:"mean"`
}

// TeamStatsJSON is the statistics of all listed reps together.
type TeamStatsJSON struct {
	RepCount          int64           `json:"rep_count"`
	ConversationCount int64           `json:"conversation_count"`
	TotalDurationMS   int64           `json:"total_duration_ms"`
	MeasuredCount     int64           `json:"measured_count"`
	Mean              MetricsMeanJSON `json:"mean"`
}

// MetricsMeanJSON is the mean of each interaction metric.
type MetricsMeanJSON struct {
	TalkRatio              float64 `json:"talk_ratio"`
	LongestMonologueMS     float64 `json:"longest_monologue_ms"`
	LongestCustomerStoryMS float64 `json:"longest_customer_story_ms"`
	Interactivity          float64 `json:"interactivity"`
	PatienceMS             float64 `json:"patience_ms"`
	QuestionCountInternal  float64 `json:"question_count_internal"`
	QuestionCountExternal  float64 `json:"question_count_external"`
	QuestionRate           float64 `json:"question_rate"`
	SilenceMS              float64 `json:"silence_ms"`
}

// Reps is GET /stats/reps?from=…&to=…&department_id=…: every rep in scope
// (by user id) with conversation count, total duration and the mean of each
// metric, and the team, each conversation weighing the same. measured_count
// is how many conversations have a transcript; the means are over those.
//
// The logic checks the caller's scope before the query: what cannot be
// read goes to it as Unread, so an app without read learns nothing of it.
func (h Stats) Reps(c echo.Context) error {
	q := c.QueryParams()
	from, to, unread := queryRange(q)
	dept, err := optInt(q, "department_id")
	if unread == nil {
		unread = err
	}
	res, err := h.Stats.RepStats(c.Request().Context(), stats.RepStatsRequest{From: from, To: to, DepartmentID: dept, Unread: unread})
	if err != nil {
		return err
	}
	reps := make([]RepStatsJSON, 0, len(res.Reps))
	for i := range res.Reps {
		r := &res.Reps[i]
		reps = append(reps, RepStatsJSON{
			User: userJSON(&r.User), ConversationCount: r.ConversationCount, TotalDurationMS: r.TotalDurationMS,
			MeasuredCount: r.MeasuredCount, Mean: MetricsMeanJSON(r.Mean),
		})
	}
	t := res.Team
	return render.OK(c, map[string]any{"reps": reps, "team": TeamStatsJSON{
		RepCount: t.RepCount, ConversationCount: t.ConversationCount, TotalDurationMS: t.TotalDurationMS,
		MeasuredCount: t.MeasuredCount, Mean: MetricsMeanJSON(t.Mean),
	}})
}

// queryRange reads the from and to of a statistic; the logic checks them.
func queryRange(q url.Values) (from, to time.Time, err error) {
	if from, err = optTime(q, "from"); err == nil {
		to, err = optTime(q, "to")
	}
	return from, to, err
}
