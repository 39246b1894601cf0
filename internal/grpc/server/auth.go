package server

import (
	"context"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/identity"
)

// Auth serves AuthService.
type Auth struct {
	openv1.UnimplementedAuthServiceServer
	Auth *identity.Auth
}

// CreateAppToken exchanges an app's key and secret for an app token.
func (a Auth) CreateAppToken(ctx context.Context, req *openv1.CreateAppTokenRequest) (*openv1.CreateAppTokenResponse, error) {
	tok, err := a.Auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: req.GetAppKey(), AppSecret: req.GetAppSecret()})
	if err != nil {
		return nil, err
	}
	return &openv1.CreateAppTokenResponse{AccessToken: tok.AccessToken, ExpiresIn: tok.ExpiresIn, TokenType: "Bearer"}, nil
}
