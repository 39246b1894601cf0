package dao

import (
	"context"
	"fmt"
	"net/http"

	"github.com/olivere/elastic/v7"

	"github.com/megaview/mgvcore/internal/config"
)

// OpenElastic builds a client on explicit URLs with sniffing off; it does not
// contact the cluster, so the service starts while Elasticsearch is down.
// transport (tracing, breakers) carries every request; nil means the
// default one.
func OpenElastic(cfg config.Search, transport http.RoundTripper) (*elastic.Client, error) {
	client, err := elastic.NewClient(
		elastic.SetURL(cfg.URLs...),
		elastic.SetSniff(false),
		elastic.SetHealthcheck(false),
		elastic.SetHttpClient(&http.Client{Timeout: cfg.Timeout.Duration, Transport: transport}),
	)
	if err != nil {
		return nil, fmt.Errorf("search.urls: %w", err)
	}
	return client, nil
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
