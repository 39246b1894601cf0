package access

import (
	"encoding/base64"
	"encoding/json"

	"github.com/megaview/mgvcore/internal/errs"
)

// Page tokens are opaque to clients: base64url of a small JSON cursor. A
// cursor is a keyset position (e.g. the last begin_time and id), so pages
// stay stable while new rows arrive.

// EncodePageToken makes a token from a cursor value.
func EncodePageToken(cursor any) string {
	data, err := json.Marshal(cursor)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// DecodePageToken reads a token into cursor; an empty token leaves it zero.
func DecodePageToken(token string, cursor any) error {
	if token == "" {
		return nil
	}
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(data, cursor) != nil {
		return ErrPageTokenNotIssued()
	}
	return nil
}

// ErrPageTokenNotIssued is the answer to a page token that decodes but
// holds a position no page ends at (an id or sequence number below 1): a
// forged one, refused rather than read as the first page.
func ErrPageTokenNotIssued() error {
	return errs.InvalidArgument("page_token", "is not a token this service issued")
}

// PageSize applies the default (20) and the maximum (100).
func PageSize(n int) (int, error) {
	switch {
	case n == 0:
		return 20, nil
	case n < 0 || n > 100:
		return 0, errs.InvalidArgument("page_size", "must be between 1 and 100 (got %d)", n)
	}
	return n, nil
}

// idCursor is the cursor of a list paged by id: the last id shown, so rows
// created or deleted meanwhile neither repeat nor shift the others.
type idCursor struct {
	AfterID int64 `json:"a"`
}

// EncodeIDPageToken makes the token of the page after the row with id.
func EncodeIDPageToken(id int64) string { return EncodePageToken(idCursor{AfterID: id}) }

// DecodeIDPageToken reads a token of EncodeIDPageToken: the id the next
// page starts after, 0 for an empty token.
func DecodeIDPageToken(token string) (int64, error) {
	var cur idCursor
	if err := DecodePageToken(token, &cur); err != nil {
		return 0, err
	}
	if token != "" && cur.AfterID <= 0 {
		return 0, ErrPageTokenNotIssued()
	}
	return cur.AfterID, nil
}
