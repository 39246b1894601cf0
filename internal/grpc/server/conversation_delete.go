package server

import (
	"context"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// ConversationWithDelete is ConversationService with DeleteConversation.
type ConversationWithDelete struct {
	Conversation
	Deleter *conversation.Deleter
}

// DeleteConversation deletes a conversation and everything derived from it.
func (s ConversationWithDelete) DeleteConversation(ctx context.Context, req *openv1.DeleteConversationRequest) (*openv1.DeleteConversationResponse, error) {
	if err := s.Deleter.Delete(ctx, req.GetConversationId()); err != nil {
		return nil, idField.Word(err)
	}
	return &openv1.DeleteConversationResponse{ConversationId: req.GetConversationId()}, nil
}
