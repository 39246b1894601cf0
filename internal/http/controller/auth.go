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
)

// Auth serves sign-in and token refresh; both need no token.
type Auth struct {
	Auth *identity.Auth
}

// Routes registers the handlers.
func (a Auth) Routes(r Router) {
	r.Handle(http.MethodPost, "/api/v1/auth/login", OperationLogin, a.Login)
	r.Handle(http.MethodPost, "/api/v1/auth/refresh", OperationRefresh, a.Refresh)
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
