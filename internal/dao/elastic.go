package dao

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/errs"
)

// startupCheck bounds the node health check at start, which waits for no
// node: a cluster that is down only makes search unavailable.
const startupCheck = 500 * time.Millisecond

// OpenElastic builds a client on the explicit URLs with sniffing off (nodes
// behind a load balancer or in containers advertise addresses we cannot
// reach), node health checks on, an http.Client whose timeout bounds every
// request, and retries of failed connections on the next node.
// transport (tracing, breakers) carries every request; nil means the
// default one.
//
// With health checks on, the client refuses to start while no node
// answers; the service must start anyway (ingest does not need search), so
// then it runs without them until the next start, and requests simply fail
// fast with DEPENDENCY_UNAVAILABLE while the cluster is down.
func OpenElastic(cfg config.Search, transport http.RoundTripper) (*elastic.Client, error) {
	opts := []elastic.ClientOptionFunc{
		elastic.SetURL(cfg.URLs...),
		elastic.SetSniff(false),
		elastic.SetHttpClient(&http.Client{Timeout: cfg.Timeout.Duration, Transport: transport}),
		elastic.SetRetrier(retrier{max: cfg.MaxRetries}),
		elastic.SetHealthcheckInterval(cfg.HealthcheckInterval.Duration),
		elastic.SetHealthcheckTimeout(cfg.Timeout.Duration),
		elastic.SetHealthcheckTimeoutStartup(startupCheck),
	}
	client, err := elastic.NewClient(append(opts, elastic.SetHealthcheck(true))...)
	if errors.Is(err, elastic.ErrNoClient) {
		client, err = elastic.NewClient(append(opts, elastic.SetHealthcheck(false))...)
	}
	if err != nil {
		return nil, fmt.Errorf("search.urls: %w", err)
	}
	return client, nil
}

// retrier retries a request that failed to connect or get an answer, up to
// max times with a short exponential backoff. An open breaker is final.
type retrier struct{ max int }

func (r retrier) Retry(ctx context.Context, retry int, _ *http.Request, _ *http.Response, err error) (time.Duration, bool, error) {
	var e *errs.Error
	if retry > r.max || errors.As(err, &e) || ctx.Err() != nil {
		return 0, false, nil
	}
	return time.Duration(50<<min(retry, 5)) * time.Millisecond, true, nil
}

// PingElastic reports whether the cluster answers with a usable health.
func PingElastic(client *elastic.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		res, err := client.ClusterHealth().Do(ctx)
		if err != nil {
			return err
		}
		if res.Status == "red" {
			return fmt.Errorf("cluster health is red")
		}
		return nil
	}
}
