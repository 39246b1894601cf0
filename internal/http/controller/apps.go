package controller

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// Operations of the app management routes (web only: apps never manage apps).
const (
	OperationCreateApp       = "/mgv.web.v1.AppService/CreateApp"
	OperationListApps        = "/mgv.web.v1.AppService/ListApps"
	OperationGetApp          = "/mgv.web.v1.AppService/GetApp"
	OperationUpdateApp       = "/mgv.web.v1.AppService/UpdateApp"
	OperationRotateAppSecret = "/mgv.web.v1.AppService/RotateAppSecret"
	OperationDisableApp      = "/mgv.web.v1.AppService/DisableApp"
	OperationEnableApp       = "/mgv.web.v1.AppService/EnableApp"
	OperationDeleteApp       = "/mgv.web.v1.AppService/DeleteApp"
)

// Apps serves the tenant admins' management of open-platform apps.
type Apps struct {
	Apps *identity.Apps
}

// Routes registers the handlers.
func (h Apps) Routes(r Router) {
	r.Handle(http.MethodPost, "/api/v1/apps", OperationCreateApp, h.Create)
	r.Handle(http.MethodGet, "/api/v1/apps", OperationListApps, h.List, pageParams...)
	r.Handle(http.MethodGet, "/api/v1/apps/:id", OperationGetApp, h.Get)
	r.Handle(http.MethodPut, "/api/v1/apps/:id", OperationUpdateApp, h.Update)
	r.Handle(http.MethodPost, "/api/v1/apps/:id/rotate-secret", OperationRotateAppSecret, h.RotateSecret)
	r.Handle(http.MethodPost, "/api/v1/apps/:id/disable", OperationDisableApp, h.Disable)
	r.Handle(http.MethodPost, "/api/v1/apps/:id/enable", OperationEnableApp, h.Enable)
	r.Handle(http.MethodDelete, "/api/v1/apps/:id", OperationDeleteApp, h.Delete)
}

// AppJSON is an app as its admins see it; the secret never is, but in the
// answer that created it.
type AppJSON struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	AppKey   string   `json:"app_key"`
	Scopes   []string `json:"scopes"`
	Status   string   `json:"status"`
	RateTier string   `json:"rate_tier"`
	// OldSecretUntil is when the previous secret stops working; null when
	// no previous secret works (the use cases drop an ended grace).
	OldSecretUntil *time.Time `json:"old_secret_until"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// AppSecretJSON is an app with its new secret: the only time it is shown.
type AppSecretJSON struct {
	AppJSON
	AppSecret string `json:"app_secret"`
}

// AppListJSON is a page of GET /apps; next_page_token is empty on the last.
type AppListJSON struct {
	Apps          []AppJSON `json:"apps"`
	NextPageToken string    `json:"next_page_token"`
	// Total counts the tenant's apps over all pages.
	Total int64 `json:"total"`
}

func appJSON(a *model.App) AppJSON {
	out := AppJSON{
		ID: a.ID, Name: a.Name, AppKey: a.AppKey, Scopes: strings.Fields(a.Scopes), Status: a.Status, RateTier: a.RateTier,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if out.Status == "" {
		out.Status = model.AppActive
	}
	if a.OldSecretUntil != nil {
		until := a.OldSecretUntil.UTC()
		out.OldSecretUntil = &until
	}
	return out
}

// Create is POST /api/v1/apps (admins): the answer holds the secret.
func (h Apps) Create(c echo.Context) error {
	var body struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	created, err := h.Apps.Create(c.Request().Context(), identity.CreateAppRequest(body))
	if err != nil {
		return err
	}
	audit.Target(c.Request().Context(), "app", strconv.FormatInt(created.App.ID, 10))
	return render.JSON(c, http.StatusCreated, AppSecretJSON{AppJSON: appJSON(created.App), AppSecret: created.Secret})
}

// List is GET /api/v1/apps?page_size=&page_token= (admins): by id.
func (h Apps) List(c echo.Context) error {
	q := c.QueryParams()
	size, err := optInt(q, "page_size")
	if err != nil {
		return err
	}
	page, err := h.Apps.List(c.Request().Context(), identity.ListAppsRequest{PageSize: int(size), PageToken: q.Get("page_token")})
	if err != nil {
		return err
	}
	out := AppListJSON{Apps: make([]AppJSON, 0, len(page.Apps)), NextPageToken: page.NextPageToken, Total: page.Total}
	for i := range page.Apps {
		out.Apps = append(out.Apps, appJSON(&page.Apps[i]))
	}
	return render.OK(c, out)
}

// Get is GET /api/v1/apps/{id} (admins).
func (h Apps) Get(c echo.Context) error {
	return h.one(c, h.Apps.Get)
}

// Update is PUT /api/v1/apps/{id} (admins): name and scopes, each when
// sent. New scopes end the app's tokens.
func (h Apps) Update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var body struct {
		Name   *string   `json:"name"`
		Scopes *[]string `json:"scopes"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	app, err := h.Apps.Update(c.Request().Context(), identity.UpdateAppRequest{ID: id, Name: body.Name, Scopes: body.Scopes})
	if err != nil {
		return err
	}
	return render.OK(c, appJSON(app))
}

// RotateSecret is POST /api/v1/apps/{id}/rotate-secret (admins): a new
// secret; the old one works grace_seconds longer (0, the default: not at all).
func (h Apps) RotateSecret(c echo.Context) error {
	id, grace, err := rotation(c, identity.MaxSecretGrace)
	if err != nil {
		return err
	}
	rotated, err := h.Apps.RotateSecret(c.Request().Context(), identity.RotateSecretRequest{ID: id, Grace: grace})
	if err != nil {
		return err
	}
	return render.OK(c, AppSecretJSON{AppJSON: appJSON(rotated.App), AppSecret: rotated.Secret})
}

// rotation reads a secret rotation's path id and its optional body
// {"grace_seconds"}. A grace out of range is refused by the use case; it is
// clamped to just past maxGrace here so it cannot overflow.
func rotation(c echo.Context, maxGrace time.Duration) (int64, time.Duration, error) {
	id, err := pathID(c)
	if err != nil {
		return 0, 0, err
	}
	var body struct {
		GraceSeconds int64 `json:"grace_seconds"`
	}
	if err := bind(c, &body); err != nil {
		return 0, 0, err
	}
	return id, time.Duration(min(max(body.GraceSeconds, -1), int64(maxGrace/time.Second)+1)) * time.Second, nil
}

// Disable is POST /api/v1/apps/{id}/disable (admins).
func (h Apps) Disable(c echo.Context) error {
	return h.one(c, h.Apps.Disable)
}

// Enable is POST /api/v1/apps/{id}/enable (admins).
func (h Apps) Enable(c echo.Context) error {
	return h.one(c, h.Apps.Enable)
}

// Delete is DELETE /api/v1/apps/{id} (admins).
func (h Apps) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.Apps.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return render.OK(c, map[string]any{"id": id})
}

// one answers a use case on the app of the path.
func (h Apps) one(c echo.Context, do func(ctx context.Context, id int64) (*model.App, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	app, err := do(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return render.OK(c, appJSON(app))
}
