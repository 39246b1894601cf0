package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/identity"
)

// Operations of the web sign-in, which have no gRPC twin.
const (
	OperationLogin   = "/mgv.web.v1.AuthService/Login"
	OperationRefresh = "/mgv.web.v1.AuthService/Refresh"
	// OperationLogout and OperationChangePassword need a user's token.
	OperationLogout         = "/mgv.web.v1.AuthService/Logout"
	OperationChangePassword = "/mgv.web.v1.AuthService/ChangePassword"
)

// Auth serves sign-in and token refresh (which need no token), sign-out
// and password changes.
type Auth struct {
	Auth *identity.Auth
}

// Routes registers the handlers.
func (a Auth) Routes(r Router) {
	r.Handle(http.MethodPost, "/api/v1/auth/login", OperationLogin, a.Login)
	r.Handle(http.MethodPost, "/api/v1/auth/refresh", OperationRefresh, a.Refresh)
	r.Handle(http.MethodPost, "/api/v1/auth/logout", OperationLogout, a.Logout)
	r.Handle(http.MethodPut, "/api/v1/me/password", OperationChangePassword, a.ChangePassword)
}

// TokenPairJSON is the body of a login or a refresh.
type TokenPairJSON struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64  `json:"expires_in"`
	TokenType string `json:"token_type"`
}

func pairJSON(p *identity.TokenPair) TokenPairJSON {
	return TokenPairJSON{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, ExpiresIn: p.ExpiresIn, TokenType: "Bearer"}
}

// Login is POST /api/v1/auth/login {account, password}.
func (a Auth) Login(c echo.Context) error {
	var body struct {
		Account  string `json:"account"`
		Password string `json:"password"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	pair, err := a.Auth.Login(c.Request().Context(), identity.LoginRequest(body))
	if err != nil {
		return err
	}
	return render.OK(c, pairJSON(pair))
}

// Refresh is POST /api/v1/auth/refresh {refresh_token}.
func (a Auth) Refresh(c echo.Context) error {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	pair, err := a.Auth.Refresh(c.Request().Context(), identity.RefreshRequest(body))
	if err != nil {
		return err
	}
	return render.OK(c, pairJSON(pair))
}

// Logout is POST /api/v1/auth/logout: every session of the caller ends.
func (a Auth) Logout(c echo.Context) error {
	if err := a.Auth.Logout(c.Request().Context()); err != nil {
		return err
	}
	return render.OK(c, struct {
		SignedOut bool `json:"signed_out"`
	}{true})
}

// ChangePassword is PUT /api/v1/me/password {current_password,
// new_password}; it answers a new token pair for this session.
func (a Auth) ChangePassword(c echo.Context) error {
	var body struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	pair, err := a.Auth.ChangePassword(c.Request().Context(), identity.ChangePasswordRequest(body))
	if err != nil {
		return err
	}
	return render.OK(c, pairJSON(pair))
}
