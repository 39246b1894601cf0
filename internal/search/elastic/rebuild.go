package elastic

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	olivere "github.com/olivere/elastic/v7"

	"github.com/megaview/mgvcore/internal/errs"
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
// atomic action and deletes the indices it left, and the versions that
// rebuilds started before this one left behind (see dropAbandoned).
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
			return previous, fmt.Errorf("%w: %w", search.ErrAfterSwap, mapError(err))
		}
	}
	abandoned, err := g.dropAbandoned(ctx)
	if err != nil {
		err = fmt.Errorf("%w: %w", search.ErrAfterSwap, err)
	}
	return append(previous, abandoned...), err
}

// dropAbandoned deletes the versions of the alias that it does not name
// and that were created before this one: what a rebuild stopped by a kill
// or a crash left behind. Such a copy holds every conversation as it was,
// and deletions and erasures, which reach the alias and the versions
// newer than it, reach it no more once a newer rebuild has gone live.
// A rebuild started after this one is left to finish.
func (g *Generation) dropAbandoned(ctx context.Context) ([]string, error) {
	created, err := g.e.versions(ctx)
	if err != nil {
		return nil, err
	}
	mine, ok := created[g.name]
	if !ok {
		return nil, errs.Internal(fmt.Errorf("index %s is not among the versions of %s", g.name, g.e.o.Alias))
	}
	var dropped []string
	for name, at := range created {
		if name == g.name || at >= mine {
			continue
		}
		// Rebuilds are run one at a time; should two overlap, the index
		// the alias names now is never the one deleted.
		live, err := g.e.aliasIndices(ctx)
		if err != nil {
			return dropped, err
		}
		if slices.Contains(live, name) {
			continue
		}
		if _, err := g.e.c.DeleteIndex(name).Do(ctx); err != nil && !olivere.IsStatusCode(err, http.StatusNotFound) {
			return dropped, mapError(err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// Abort deletes the index.
func (g *Generation) Abort(ctx context.Context) error {
	_, err := g.e.c.DeleteIndex(g.name).Do(ctx)
	return mapError(err)
}
