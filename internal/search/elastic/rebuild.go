package elastic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	json "github.com/goccy/go-json"
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
	// uuid is the index's as it was created: a write to the name after
	// the index was deleted creates another index of that name, with a
	// mapping of Elasticsearch's own guessing (see Activate).
	uuid string
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
	uuid, err := e.indexUUID(ctx, name)
	if err == nil && uuid == "" {
		err = errs.Internal(fmt.Errorf("index %s, just created, is not there", name))
	}
	if err != nil {
		return nil, err
	}
	return &Generation{e: e, name: name, uuid: uuid}, nil
}

// indexUUID reads the uuid of the index name ("" when there is none).
func (e *Engine) indexUUID(ctx context.Context, name string) (string, error) {
	res, err := e.c.PerformRequest(ctx, olivere.PerformRequestOptions{
		Method: http.MethodGet, Path: "/" + url.PathEscape(name) + "/_settings/index.uuid",
		Params: url.Values{"flat_settings": {"true"}}, IgnoreErrors: []int{http.StatusNotFound},
	})
	if err != nil {
		return "", mapError(err)
	}
	if res.StatusCode == http.StatusNotFound {
		return "", nil
	}
	var out map[string]struct {
		Settings map[string]string `json:"settings"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return "", errs.Internal(fmt.Errorf("decoding the settings of %s: %w", name, err))
	}
	return out[name].Settings["index.uuid"], nil
}

// ErrGenerationLost is Activate's error when the index being built was
// deleted before it went live.
var ErrGenerationLost = errors.New("run one rebuild at a time")

// Name of the index.
func (g *Generation) Name() string { return g.name }

// Write bulk-loads the index.
func (g *Generation) Write(ctx context.Context, ops []search.Op) ([]error, error) {
	return bulk(ctx, g.e.c, g.name, ops, false, g.e.o.BulkBytes)
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
	// The index must still be the one created: a rebuild started after
	// this one and swapped in first deletes it as abandoned, and this
	// one's next bulk write then created an index of the same name, with
	// a guessed mapping and part of the conversations. Once this check has
	// passed, a deletion makes the alias change below fail: nothing writes
	// documents to the name any more.
	if uuid, err := g.e.indexUUID(ctx, g.name); err != nil {
		return nil, err
	} else if uuid != g.uuid {
		return nil, fmt.Errorf("index %s was deleted while it was being built (by a rebuild run beside this one?), and is not swapped in: %w",
			g.name, ErrGenerationLost)
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
