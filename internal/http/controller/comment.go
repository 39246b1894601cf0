package controller

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// Operations of the comments, which only the apps offer.
const (
	OperationListComments  = "/mgv.web.v1.CommentService/ListComments"
	OperationCreateComment = "/mgv.web.v1.CommentService/CreateComment"
	OperationDeleteComment = "/mgv.web.v1.CommentService/DeleteComment"
)

// Comments serves the timestamped comments of conversations.
type Comments struct {
	Comments *conversation.Comments
}

// CommentJSON is a remark at a moment of a call.
type CommentJSON struct {
	ID             int64     `json:"id"`
	ConversationID int64     `json:"conversation_id"`
	AuthorUserID   int64     `json:"author_user_id"`
	AuthorName     string    `json:"author_name"`
	StartMS        int64     `json:"start_ms"`
	Text           string    `json:"text"`
	ReplyTo        *int64    `json:"reply_to"`
	CreatedAt      time.Time `json:"created_at"`
}

// CommentPageJSON is the body of GET /conversations/{id}/comments.
type CommentPageJSON struct {
	Comments      []CommentJSON `json:"comments"`
	NextPageToken string        `json:"next_page_token"`
	Total         int64         `json:"total"`
}

// Routes adds the routes.
func (h Comments) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/conversations/:id/comments", OperationListComments, h.List, pageParams...)
	r.Handle(http.MethodPost, "/api/v1/conversations/:id/comments", OperationCreateComment, h.Create)
	r.Handle(http.MethodDelete, "/api/v1/comments/:id", OperationDeleteComment, h.Delete)
}

// List is GET /conversations/{id}/comments?page_size=…&page_token=…: the
// comments in the order of the call (start_ms, then creation).
func (h Comments) List(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	size, err := optInt(q, "page_size")
	if err != nil {
		return err
	}
	page, err := h.Comments.List(c.Request().Context(), conversation.ListCommentsRequest{
		ConversationID: id, PageSize: int(size), PageToken: q.Get("page_token"),
	})
	if err != nil {
		return err
	}
	return render.OK(c, CommentPageJSON{
		Comments:      convertAll(page.Comments, func(cm conversation.Comment) CommentJSON { return CommentJSON(cm) }),
		NextPageToken: page.NextPageToken, Total: page.Total,
	})
}

// Create is POST /conversations/{id}/comments: {start_ms, text, reply_to}.
func (h Comments) Create(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var body struct {
		StartMS int64  `json:"start_ms"`
		Text    string `json:"text"`
		ReplyTo *int64 `json:"reply_to"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	cm, err := h.Comments.Create(c.Request().Context(), conversation.CreateCommentRequest{
		ConversationID: id, StartMS: body.StartMS, Text: body.Text, ReplyTo: body.ReplyTo,
	})
	if err != nil {
		return err
	}
	return render.JSON(c, http.StatusCreated, CommentJSON(cm))
}

// Delete is DELETE /comments/{id}: by its author or an admin.
func (h Comments) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.Comments.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return render.OK(c, map[string]any{"id": id})
}
