// Package controller holds the Echo handlers: bind → logic → render.
package controller

import (
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/health"
	"github.com/megaview/mgvcore/internal/http/render"
)

// Health serves liveness and readiness.
type Health struct {
	H *health.Health
}

// Alive answers 200 while the process runs, naming the process so an
// operator can see which one served during an upgrade.
func (h Health) Alive(c echo.Context) error {
	return render.OK(c, map[string]any{"status": "alive", "pid": os.Getpid()})
}

// Ready answers 200 when every configured dependency answers, else 503
// naming the one that does not; with require (check names, comma
// separated), when those answer.
func (h Health) Ready(c echo.Context) error {
	var require []string
	for _, name := range strings.Split(c.QueryParam("require"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			require = append(require, name)
		}
	}
	// Checked before the checks run: a bad name costs them nothing.
	if err := h.H.Known(require); err != nil {
		return errs.InvalidArgument("require", "%s", err.Error())
	}
	st := h.H.Ready(c.Request().Context())
	if len(require) > 0 {
		st = h.H.Requiring(st, require)
	}
	// The pid tells which process answered, during an upgrade: the
	// registry's check of a new process shows it.
	report := readiness{Status: st, PID: os.Getpid()}
	if st.Ready {
		return render.OK(c, report)
	}
	e := errs.New(http.StatusServiceUnavailable, errs.ReasonDependencyUnavailable, "not ready: %s", st.Failed).
		With("dependency", st.Failed)
	return c.JSON(e.Status, render.Envelope{
		Code: e.Code(), Msg: e.Message, Reason: e.Reason, Metadata: e.Metadata,
		Data: report, RequestID: render.RequestID(c),
	})
}

// readiness is the readiness report with the pid of the process that made
// it.
type readiness struct {
	health.Status
	PID int `json:"pid"`
}

// pong is Ping's answer; a struct, not a map, so encoding it sorts nothing
// (the JSON is the same).
type pong struct {
	Pong string `json:"pong"`
}

// Ping answers a trivial body through the whole policy chain.
func Ping(c echo.Context) error {
	return render.OK(c, pong{Pong: "mgvcore"})
}
