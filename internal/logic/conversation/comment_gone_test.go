package conversation_test

import (
	"context"
	"testing"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// deletedOnInsert stores a comment and then deletes its conversation, as
// a deletion that commits right after the comment's insert does.
type deletedOnInsert struct {
	conversation.CommentRepo
	convs *dao.Conversations
}

func (r deletedOnInsert) CreateComment(ctx context.Context, c *model.Comment) error {
	if err := r.CommentRepo.CreateComment(ctx, c); err != nil {
		return err
	}
	_, err := r.convs.DeleteConversations(ctx, c.TenantID, []int64{c.ConversationID})
	return err
}

// A comment whose conversation is deleted before the answer is read back
// answers CONVERSATION_NOT_FOUND, as one that came too late does.
func TestCommentOnAConversationDeletedMeanwhile(t *testing.T) {
	db := commentsDB(t)
	cs := conversation.NewComments(deletedOnInsert{CommentRepo: dao.NewComments(db), convs: dao.NewConversations(db)})
	admin := accesstest.User(model.RoleAdmin, 1, 10)
	if _, err := cs.Create(admin, conversation.CreateCommentRequest{ConversationID: 1, Text: "x"}); errs.ReasonOf(err) != errs.ReasonConversationNotFound {
		t.Fatalf("a comment whose conversation went: %v", err)
	}
	if _, err := cs.Create(admin, conversation.CreateCommentRequest{ConversationID: 1, Text: "x"}); errs.ReasonOf(err) != errs.ReasonConversationNotFound {
		t.Fatalf("a comment after the deletion: %v", err)
	}
}
