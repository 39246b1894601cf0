package elastic

import (
	"context"
	"fmt"
	"net/http"
	"time"

	olivere "github.com/olivere/elastic/v7"

	"github.com/megaview/mgvcore/internal/search"
)

var _ search.Rebuilder = (*Engine)(nil)

// Generation is an index being built beside the live one: no refresh and
// no replicas while it loads.
type Generation struct {
	e    *Engine
	name string
}

// NewGeneration creates "<alias>_v<N>_<UTC time>" with the current mapping.
func (e *Engine) NewGeneration(ctx context.Context) (search.Generation, error) {
	profile, err := detectProfile(ctx, e.c)
	if err != nil {
		return nil, mapError(err)
	}
	name := fmt.Sprintf("%s_v%d_%s", e.o.Alias, MappingVersion, time.Now().UTC().Format("20060102t150405"))
	if _, err := e.c.CreateIndex(name).BodyJson(indexBody(e.o, profile, true)).Do(ctx); err != nil {
		return nil, mapError(err)
	}
	return &Generation{e: e, name: name}, nil
}

// Name of the index.
func (g *Generation) Name() string { return g.name }

// Write bulk-loads the index.
func (g *Generation) Write(ctx context.Context, ops []search.Op) ([]error, error) {
	return bulk(ctx, g.e.c, g.name, ops, "")
}

// Activate restores refresh and replicas, refreshes, moves the alias in one
// atomic action and deletes the indices it left.
func (g *Generation) Activate(ctx context.Context) ([]string, error) {
	c := g.e.c
	_, err := c.IndexPutSettings(g.name).BodyJson(map[string]any{"index": map[string]any{
		"refresh_interval": g.e.o.refreshInterval(), "number_of_replicas": g.e.o.Replicas,
	}}).Do(ctx)
	if err != nil {
		return nil, mapError(err)
	}
	if _, err := c.Refresh(g.name).Do(ctx); err != nil {
		return nil, mapError(err)
	}
	old, err := g.e.aliasIndices(ctx)
	if err != nil {
		return nil, err
	}
	actions := []olivere.AliasAction{olivere.NewAliasAddAction(g.e.o.Alias).Index(g.name)}
	var previous []string
	for _, name := range old {
		if name != g.name {
			actions = append(actions, olivere.NewAliasRemoveAction(g.e.o.Alias).Index(name))
			previous = append(previous, name)
		}
	}
	if _, err := c.Alias().Action(actions...).Do(ctx); err != nil {
		return nil, mapError(err)
	}
	g.e.mu.Lock()
	g.e.ensured = true
	g.e.mu.Unlock()
	for _, name := range previous {
		if _, err := c.DeleteIndex(name).Do(ctx); err != nil && !olivere.IsStatusCode(err, http.StatusNotFound) {
			return previous, mapError(err)
		}
	}
	return previous, nil
}

// Abort deletes the index.
func (g *Generation) Abort(ctx context.Context) error {
	_, err := g.e.c.DeleteIndex(g.name).Do(ctx)
	return mapError(err)
}
