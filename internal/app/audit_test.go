package app

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// writeMethod tells a gRPC method that changes data by its verb.
func writeMethod(name string) bool {
	for _, verb := range []string{"Create", "Put", "Upsert", "Update", "Delete", "Set", "Erase", "Rotate", "Disable", "Enable", "Redeliver"} {
		if strings.HasPrefix(name, verb) {
			return true
		}
	}
	return false
}

// TestEveryOperationIsInTheAuditTable walks the HTTP routes the server
// registers and the methods of every gRPC service of mgv.open.v1: each must
// be in auditRules, every write must be audited, and so must transcript
// reads and searches.
func TestEveryOperationIsInTheAuditTable(t *testing.T) {
	ts := newTestServer(t)
	if len(ts.ops) < 10 {
		t.Fatalf("only %d routes registered", len(ts.ops))
	}
	for route, op := range ts.ops {
		rule, ok := auditRules[op]
		method, _, _ := strings.Cut(route, " ")
		switch {
		case !ok:
			t.Errorf("%s (%s) is not in auditRules: decide whether it is audited", route, op)
		case method != http.MethodGet && rule.Name == "":
			t.Errorf("%s (%s) writes but is not audited", route, op)
		}
	}

	methods := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("mgv.open.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				m := sd.Methods().Get(j)
				full := "/" + string(sd.FullName()) + "/" + string(m.Name())
				methods++
				rule, ok := auditRules[full]
				switch {
				case !ok:
					t.Errorf("gRPC %s is not in auditRules: decide whether it is audited", full)
				case writeMethod(string(m.Name())) && rule.Name == "":
					t.Errorf("gRPC %s writes but is not audited", full)
				}
			}
		}
		return true
	})
	if methods < 10 {
		t.Fatalf("only %d gRPC methods found", methods)
	}
	for _, op := range []string{
		openv1.ConversationService_GetTranscript_FullMethodName,
		openv1.SearchService_SearchTranscripts_FullMethodName,
		openv1.AuthService_CreateAppToken_FullMethodName,
	} {
		if auditRules[op].Name == "" {
			t.Errorf("%s must be audited", op)
		}
	}
	for op := range auditRules {
		if !strings.HasPrefix(op, "/mgv.") {
			t.Errorf("auditRules key %q is not an operation name", op)
		}
	}
}

func TestExtraAuditedOperations(t *testing.T) {
	get := openv1.ConversationService_GetConversation_FullMethodName
	rules, err := withExtraAudits(auditRules, []string{get, openv1.SearchService_SearchTranscripts_FullMethodName})
	if err != nil {
		t.Fatal(err)
	}
	if r := rules[get]; r.Name != get || !r.Anonymous {
		t.Fatalf("extra read: %+v", r)
	}
	if r := rules[openv1.SearchService_SearchTranscripts_FullMethodName]; r.Name != "search" {
		t.Fatalf("an operation audited already keeps its name: %+v", r)
	}
	if auditRules[get].Name != "" {
		t.Fatal("the built-in table was changed")
	}
	if _, err := withExtraAudits(auditRules, []string{"/mgv.open.v1.Nothing/Here"}); err == nil {
		t.Fatal("an unknown operation was taken")
	}
}

// notesItsTarget are the audited operations whose handler or use case
// names the target itself (audit.Target): what a create made, the user a
// sign-in found, an erasure's job.
var notesItsTarget = map[string]bool{
	controller.OperationLogin:                                    true,
	controller.OperationRefresh:                                  true,
	openv1.AuthService_CreateAppToken_FullMethodName:             true,
	controller.OperationCreateUser:                               true,
	openv1.OrgService_UpsertUser_FullMethodName:                  true,
	openv1.ConversationService_CreateConversation_FullMethodName: true,
	openv1.ConversationService_PutTranscript_FullMethodName:      true,
	controller.OperationCreateTracker:                            true,
	controller.OperationStartErasure:                             true,
	openv1.EventService_CreateSubscription_FullMethodName:        true,
	controller.OperationCreateApp:                                true,
}

// Every audited operation with a target type says where its record finds
// the target's id: a parameter of the call, or the use case noting it. A
// record of "user" with no id does not say whom a write changed.
func TestEveryAuditedTargetHasAnID(t *testing.T) {
	for op, rule := range auditRules {
		if rule.TargetType == "" || rule.TargetType == "tenant" {
			continue // no single target, or the record's own tenant
		}
		if len(rule.TargetParams) == 0 && !notesItsTarget[op] {
			t.Errorf("%s (%s) has target type %q but nothing names its id", op, rule.Name, rule.TargetType)
		}
	}
}
