package conversation

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// maxCommentText bounds a comment, in characters.
const maxCommentText = 2000

// CommentRepo stores comments. A conversation outside the caller's scope
// does not exist for it: CONVERSATION_NOT_FOUND.
type CommentRepo interface {
	// ScopedConversation returns a conversation the caller may see.
	ScopedConversation(ctx context.Context, s model.Scope, conversationID int64) (*model.Conversation, error)
	// ListComments returns the live comments of a conversation after the
	// cursor, ordered by start_ms then id, and how many there are in all.
	ListComments(ctx context.Context, tenantID, conversationID int64, after *model.CommentCursor, limit int) ([]model.CommentWithAuthor, int64, error)
	// GetComment returns a live comment whose conversation the caller may
	// see; COMMENT_NOT_FOUND otherwise.
	GetComment(ctx context.Context, s model.Scope, id int64) (*model.CommentWithAuthor, error)
	// CreateComment inserts c and sets its id; CONVERSATION_NOT_FOUND
	// when its conversation is gone. A deletion of the conversation that
	// runs meanwhile either waits for the insert and removes the comment
	// too, or commits first: no comment outlives its conversation.
	CreateComment(ctx context.Context, c *model.Comment) error
	// DeleteComment soft-deletes a comment.
	DeleteComment(ctx context.Context, tenantID, id int64) error
}

// Comment is a remark at a moment of a call, as the API shows it.
type Comment struct {
	ID             int64
	ConversationID int64
	AuthorUserID   int64
	AuthorName     string
	StartMS        int64
	Text           string
	ReplyTo        *int64
	CreatedAt      time.Time
}

// CommentPage is one page of a conversation's comments.
type CommentPage struct {
	Comments      []Comment
	NextPageToken string
	Total         int64
}

// ListCommentsRequest pages through a conversation's comments.
type ListCommentsRequest struct {
	ConversationID int64
	PageSize       int
	PageToken      string
}

// CreateCommentRequest is a new comment.
type CreateCommentRequest struct {
	ConversationID int64
	StartMS        int64
	Text           string
	ReplyTo        *int64
}

// Comments are the comment use cases; they are for users of the apps.
type Comments struct {
	repo CommentRepo
	now  func() time.Time
}

// NewComments serves comments from repo.
func NewComments(repo CommentRepo) *Comments {
	return &Comments{repo: repo, now: time.Now}
}

// List returns a page of the comments of a conversation in scope, in the
// order of the call.
func (c *Comments) List(ctx context.Context, req ListCommentsRequest) (CommentPage, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return CommentPage{}, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return CommentPage{}, err
	}
	var cursor *model.CommentCursor
	if req.PageToken != "" {
		cursor = &model.CommentCursor{}
		if err := access.DecodePageToken(req.PageToken, cursor); err != nil {
			return CommentPage{}, err
		}
		if cursor.ID <= 0 || cursor.StartMS < 0 {
			return CommentPage{}, access.ErrPageTokenNotIssued()
		}
	}
	if _, err := c.repo.ScopedConversation(ctx, s, req.ConversationID); err != nil {
		return CommentPage{}, err
	}
	rows, total, err := c.repo.ListComments(ctx, s.TenantID, req.ConversationID, cursor, size+1)
	if err != nil {
		return CommentPage{}, err
	}
	page := CommentPage{Comments: make([]Comment, 0, min(len(rows), size)), Total: total}
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		page.NextPageToken = access.EncodePageToken(model.CommentCursor{StartMS: last.StartMS, ID: last.ID})
	}
	for i := range rows {
		page.Comments = append(page.Comments, commentView(&rows[i]))
	}
	return page, nil
}

// Create adds a comment by the calling user to a conversation in scope.
func (c *Comments) Create(ctx context.Context, req CreateCommentRequest) (Comment, error) {
	s, err := access.Require(ctx, access.User)
	if err != nil {
		return Comment{}, err
	}
	text := strings.TrimSpace(req.Text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return Comment{}, errs.InvalidArgument("text", "is required")
	case n > maxCommentText:
		return Comment{}, errs.InvalidArgument("text", "is longer than %d characters (got %d)", maxCommentText, n)
	}
	if err := access.CheckText("text", text); err != nil {
		return Comment{}, err
	}
	if req.StartMS < 0 {
		return Comment{}, errs.InvalidArgument("start_ms", "must not be negative")
	}
	conv, err := c.repo.ScopedConversation(ctx, s, req.ConversationID)
	if err != nil {
		return Comment{}, err
	}
	if conv.DurationMS > 0 && req.StartMS > conv.DurationMS {
		return Comment{}, errs.InvalidArgument("start_ms", "must be within the call (0..%d ms)", conv.DurationMS)
	}
	if req.ReplyTo != nil {
		parent, err := c.repo.GetComment(ctx, s, *req.ReplyTo)
		if err != nil && !errs.IsNotFound(err) {
			return Comment{}, err
		}
		if err != nil || parent.ConversationID != conv.ID {
			return Comment{}, errs.InvalidArgument("reply_to", "must be a comment of the same conversation")
		}
	}
	row := &model.Comment{
		TenantID: s.TenantID, ConversationID: conv.ID, AuthorUserID: s.UserID,
		StartMS: req.StartMS, Text: text, ReplyTo: req.ReplyTo, CreatedAt: c.now().UTC(),
	}
	if err := c.repo.CreateComment(ctx, row); err != nil {
		return Comment{}, err
	}
	created, err := c.repo.GetComment(ctx, s, row.ID)
	if errs.Is(err, errs.ReasonCommentNotFound) {
		// Gone already: most likely its conversation was deleted, and the
		// comment with it.
		if _, gone := c.repo.ScopedConversation(ctx, s, conv.ID); gone != nil {
			return Comment{}, gone
		}
	}
	if err != nil {
		return Comment{}, err
	}
	return commentView(created), nil
}

// Delete removes a comment: its author or an admin may, and only while its
// conversation is in the caller's scope.
func (c *Comments) Delete(ctx context.Context, id int64) error {
	s, err := access.Require(ctx, access.User)
	if err != nil {
		return err
	}
	cm, err := c.repo.GetComment(ctx, s, id)
	if err != nil {
		return err
	}
	if cm.AuthorUserID != s.UserID && !s.IsAdmin() {
		return errs.Forbidden("only the author or an admin may delete a comment")
	}
	return c.repo.DeleteComment(ctx, s.TenantID, id)
}

func commentView(c *model.CommentWithAuthor) Comment {
	return Comment{
		ID: c.ID, ConversationID: c.ConversationID, AuthorUserID: c.AuthorUserID, AuthorName: c.AuthorName,
		StartMS: c.StartMS, Text: c.Text, ReplyTo: c.ReplyTo, CreatedAt: c.CreatedAt.UTC(),
	}
}
