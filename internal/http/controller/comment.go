package controller

import (
	"net/http"

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
	L *conversation.Comments
}

// Routes adds the routes.
func (h Comments) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/conversations/:id/comments", OperationListComments, h.List)
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
	page, err := h.L.List(c.Request().Context(), conversation.ListCommentsRequest{
		ConversationID: id, PageSize: int(size), PageToken: q.Get("page_token"),
	})
	if err != nil {
		return err
	}
	return render.OK(c, page)
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
	cm, err := h.L.Create(c.Request().Context(), conversation.CreateCommentRequest{
		ConversationID: id, StartMS: body.StartMS, Text: body.Text, ReplyTo: body.ReplyTo,
	})
	if err != nil {
		return err
	}
	return render.JSON(c, http.StatusCreated, cm)
}

// Delete is DELETE /comments/{id}: by its author or an admin.
func (h Comments) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.L.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return render.OK(c, map[string]any{"id": id})
}
