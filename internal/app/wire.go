package app

import (
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/grpc/server"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic"
	"github.com/megaview/mgvcore/internal/policy"
)

// domain wires the use cases: dao → logic → both transports. newDomain runs
// before the policy chains are built (auth is one of the policies);
// register runs once both servers exist.
type domain struct {
	cfg    *config.Config
	log    zerolog.Logger
	d      *deps
	tokens *logic.Tokens
}

func newDomain(cfg *config.Config, log zerolog.Logger, d *deps, pol *policies) (*domain, error) {
	dm := &domain{
		cfg:    cfg,
		log:    log,
		d:      d,
		tokens: logic.NewTokens(cfg.Auth.JWTSecret, cfg.Auth.AccessTokenTTL.Duration, cfg.Auth.AppTokenTTL.Duration),
	}
	pol.auth = policy.Auth(authenticator{tokens: dm.tokens, defaultTier: cfg.RateLimit.DefaultTier}, publicOperations)
	return dm, nil
}

// publicOperations need no token.
var publicOperations = map[string]bool{
	openv1.SystemService_Ping_FullMethodName:         true,
	openv1.AuthService_CreateAppToken_FullMethodName: true,
}

// register adds every route and gRPC service.
func (dm *domain) register(r controller.Router, g grpc.ServiceRegistrar) {
	openv1.RegisterSystemServiceServer(g, server.System{})
}
