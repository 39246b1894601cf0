//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// A partner's ids are opaque on MySQL too: ids that differ only in case,
// accents or trailing spaces, one key to the utf8mb4_unicode_ci collation,
// are different departments, users, deals and conversations, and a
// reference by one finds the row of that id.
func TestOriginIDsAreComparedByteForByteOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	res, err := openv1.NewAuthServiceClient(conn).CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: f.App.AppKey, AppSecret: f.AppSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := authBearer(t.Context(), res.AccessToken)
	org, deals, convs := openv1.NewOrgServiceClient(conn), openv1.NewDealServiceClient(conn), openv1.NewConversationServiceClient(conn)

	for i, pair := range [][2]string{{"crm-U1", "crm-u1"}, {"crm-Ä-2", "crm-a-2"}, {"crm-x3", "crm-x3 "}} {
		var users, deps, dealIDs, convIDs [2]int64
		for j, origin := range pair {
			name := fmt.Sprintf("origin %d-%d", i, j)
			owner := &openv1.CreateConversationRequest_OriginOwnerUserId{OriginOwnerUserId: "crm-U1"}
			if origin[len(origin)-1] != ' ' { // users and departments refuse spaces around their ids
				d, err := org.UpsertDepartment(ctx, &openv1.UpsertDepartmentRequest{OriginDepartmentId: origin, Name: name})
				if err != nil || !d.Created || d.Department.OriginDepartmentId != origin {
					t.Fatalf("department %q: %v, %v", origin, d, err)
				}
				deps[j] = d.Department.Id
				u, err := org.UpsertUser(ctx, &openv1.UpsertUserRequest{OriginUserId: origin, Name: name,
					Email: fmt.Sprintf("origin%d-%d.%s@test.mgv", i, j, f.App.AppKey), OriginDepartmentId: origin})
				if err != nil || !u.Created || u.User.OriginUserId != origin || u.User.DepartmentId != deps[j] {
					t.Fatalf("user %q: %v, %v; want department %d", origin, u, err, deps[j])
				}
				users[j] = u.User.Id
				owner = &openv1.CreateConversationRequest_OriginOwnerUserId{OriginOwnerUserId: origin}
			}
			d, err := deals.UpsertDeal(ctx, &openv1.UpsertDealRequest{OriginDealId: origin, Name: name})
			if err != nil || !d.Created || d.Deal.OriginDealId != origin {
				t.Fatalf("deal %q: %v, %v", origin, d, err)
			}
			dealIDs[j] = d.Deal.Id
			c, err := convs.CreateConversation(ctx, &openv1.CreateConversationRequest{
				OriginConversationId: origin, Owner: owner, Deal: &openv1.CreateConversationRequest_OriginDealId{OriginDealId: origin},
				Channel: openv1.Channel_CHANNEL_CALL, BeginTime: timestamppb.New(time.Now().Add(-time.Hour)), DurationMs: 60_000,
			})
			if err != nil || !c.Created {
				t.Fatalf("conversation %q: %v, %v", origin, c, err)
			}
			convIDs[j] = c.ConversationId
		}
		if users[0] != 0 && users[0] == users[1] || deps[0] != 0 && deps[0] == deps[1] || dealIDs[0] == dealIDs[1] || convIDs[0] == convIDs[1] {
			t.Fatalf("%q: one row for both ids: users %v, departments %v, deals %v, conversations %v", pair, users, deps, dealIDs, convIDs)
		}
		for j, origin := range pair {
			got, err := convs.GetConversation(ctx, &openv1.GetConversationRequest{ConversationId: convIDs[j]})
			if err != nil {
				t.Fatal(err)
			}
			c := got.Conversation
			if c.OriginConversationId != origin || c.DealId != dealIDs[j] || users[j] != 0 && c.OwnerUserId != users[j] {
				t.Errorf("conversation %q: %v; want deal %d, owner %d", origin, c, dealIDs[j], users[j])
			}
		}
		// The same upserts again find their own rows.
		for j, origin := range pair {
			d, err := deals.UpsertDeal(ctx, &openv1.UpsertDealRequest{OriginDealId: origin, Name: "renamed"})
			if err != nil || d.Created || d.Deal.Id != dealIDs[j] {
				t.Errorf("deal %q again: %v, %v; want %d", origin, d, err, dealIDs[j])
			}
		}
	}
}

// Speaker keys are compared byte for byte on MySQL too: "rep", "REP",
// "rep " and "ä" next to "a" are different speakers of a conversation and
// of its transcript, and come back as given. MariaDB's collation took them
// for one key and the service refused the pair.
func TestSpeakerKeysAreComparedByteForByteOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	participants := func(names ...string) func(*openv1.CreateConversationRequest) {
		return func(r *openv1.CreateConversationRequest) {
			r.Participants = []*openv1.ParticipantInput{{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: f.Reps[0].ID}}}
			for i := 0; i < len(names); i += 2 {
				r.Participants = append(r.Participants, &openv1.ParticipantInput{SpeakerKey: names[i], Name: names[i+1], Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL})
			}
		}
	}
	// A transcript adds the keys the collation folds onto known ones.
	id := p.create("speaker-keys-put", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, participants("ä", "Anna"))
	said := []string{"rep", "REP", "rep ", "ä", "a", "new", "NEW"}
	sentences := make([]*openv1.Sentence, len(said))
	for i, key := range said {
		sentences[i] = &openv1.Sentence{Seq: int64(i), SpeakerKey: key, StartMs: int64(i) * 1000, EndMs: int64(i)*1000 + 900, Text: "line of " + key}
	}
	if put, err := p.put(id, sentences, 3); err != nil || put.SentenceCount != int64(len(said)) {
		t.Fatalf("transcript with new keys a, new, NEW: %v, %v", put, err)
	}
	// speakers lists a conversation's participants as key=name.
	speakers := func(id int64) []string {
		got, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: id})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, pt := range got.Participants {
			out = append(out, pt.SpeakerKey+"="+pt.Name)
		}
		return out
	}
	rep := "rep=" + f.Reps[0].Name
	if got, want := speakers(id), []string{"NEW=", "REP=", "a=", "new=", rep, "rep =", "ä=Anna"}; !slices.Equal(got, want) {
		t.Errorf("participants %q, want %q in byte order", got, want)
	}
	tr, err := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	var spoken []string
	for _, st := range tr.Sentences {
		if st.Text != "line of "+st.SpeakerKey {
			t.Errorf("sentence %d: %q said %q", st.Seq, st.SpeakerKey, st.Text)
		}
		spoken = append(spoken, st.SpeakerKey)
	}
	if !slices.Equal(spoken, said) {
		t.Errorf("transcript speakers %q, want %q", spoken, said)
	}

	// So does a creation.
	id = p.create("speaker-keys-create", f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, participants("REP", "Rep Two", "rep ", "Rep Three", "ä", "Anna", "a", "A."))
	if got, want := speakers(id), []string{"REP=Rep Two", "a=A.", rep, "rep =Rep Three", "ä=Anna"}; !slices.Equal(got, want) {
		t.Errorf("participants %q, want %q", got, want)
	}
}
