package search_test

import (
	"context"
	"errors"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	logicsearch "github.com/megaview/mgvcore/internal/logic/search"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
)

// What a transport could not read of a search, a conversation list or a
// stats request is refused after the caller's scope: an app without it
// learns nothing of its arguments, one with it gets the transport's error
// as it is.
func TestUnreadArgumentsComeAfterTheScope(t *testing.T) {
	unread := errs.InvalidArgument("filter.start_time", "not a valid timestamp")
	calls := map[string]func(ctx context.Context) error{
		"search": func(ctx context.Context) error {
			_, err := logicsearch.NewService(nil, nil).Search(ctx, logicsearch.Request{Query: "price", Unread: unread})
			return err
		},
		"list": func(ctx context.Context) error {
			_, err := conversation.NewReader(nil).List(ctx, conversation.ListRequest{Unread: unread})
			return err
		},
		"rep stats": func(ctx context.Context) error {
			_, err := stats.NewStats(nil, nil).RepStats(ctx, stats.RepStatsRequest{Unread: unread})
			return err
		},
		"trackers": func(ctx context.Context) error {
			_, err := tracker.NewTrackers(nil, nil).List(ctx, tracker.ListRequest{Unread: unread})
			return err
		},
		"tracker stats": func(ctx context.Context) error {
			_, err := stats.NewStats(nil, nil).TrackerStats(ctx, stats.TrackerStatsRequest{Unread: unread})
			return err
		},
	}
	for name, do := range calls {
		if err := do(accesstest.App(7, "ingest")); errs.ReasonOf(err) != errs.ReasonPermissionDenied {
			t.Errorf("%s by an app without the scope: %v, want PERMISSION_DENIED", name, err)
		}
		if err := do(accesstest.App(7, "read", "search")); !errors.Is(err, unread) {
			t.Errorf("%s by an app with the scope: %v, want %v", name, err, unread)
		}
	}
}
