package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// ConversationDelete serves DELETE /api/v1/conversations/{id}, under the
// operation of ConversationService.DeleteConversation.
type ConversationDelete struct {
	Deleter *conversation.Deleter
}

// DeletedJSON names what a deletion removed.
type DeletedJSON struct {
	ID int64 `json:"id"`
}

// Routes adds the route.
func (h ConversationDelete) Routes(r Router) {
	r.Handle(http.MethodDelete, "/api/v1/conversations/:id", openv1.ConversationService_DeleteConversation_FullMethodName, h.Delete)
}

// Delete is DELETE /conversations/{id}: admins only; 404 when it is not
// there (any more).
func (h ConversationDelete) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.Deleter.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return render.OK(c, DeletedJSON{ID: id})
}
