package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/privacy"
)

// Operations of the tenant's settings, which only the apps offer.
const (
	OperationGetTenantSettings = "/mgv.web.v1.TenantService/GetSettings"
	OperationPutTenantSettings = "/mgv.web.v1.TenantService/PutSettings"
)

// TenantSettings serves /api/v1/tenant/settings (admins).
type TenantSettings struct {
	Settings *privacy.TenantSettings
}

// TenantSettingsJSON are a tenant's settings.
type TenantSettingsJSON struct {
	RetentionDays int `json:"retention_days"`
}

// Routes adds the routes.
func (h TenantSettings) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/tenant/settings", OperationGetTenantSettings, h.Get)
	r.Handle(http.MethodPut, "/api/v1/tenant/settings", OperationPutTenantSettings, h.Put)
}

// Get is GET /tenant/settings.
func (h TenantSettings) Get(c echo.Context) error {
	s, err := h.Settings.Get(c.Request().Context())
	if err != nil {
		return err
	}
	return render.OK(c, TenantSettingsJSON(s))
}

// putSettingsJSON is the body of PUT /tenant/settings. retention_days is
// required: read as a plain int, a body without it ({}) set retention
// off.
type putSettingsJSON struct {
	RetentionDays *int `json:"retention_days"`
	// ConfirmDeletions confirms the number of conversations a shortened
	// retention deletes, when over privacy.confirm_over.
	ConfirmDeletions int64 `json:"confirm_deletions"`
}

// Put is PUT /tenant/settings: {retention_days, confirm_deletions}.
func (h TenantSettings) Put(c echo.Context) error {
	var body putSettingsJSON
	if err := bind(c, &body); err != nil {
		return err
	}
	if body.RetentionDays == nil {
		return errs.InvalidArgument("retention_days", "is required: the days conversations are kept, 0 to keep them for ever")
	}
	s, err := h.Settings.Put(c.Request().Context(), privacy.SettingsChange{
		Settings: privacy.Settings{RetentionDays: *body.RetentionDays}, ConfirmDeletions: body.ConfirmDeletions,
	})
	if err != nil {
		return err
	}
	return render.OK(c, TenantSettingsJSON(s))
}
