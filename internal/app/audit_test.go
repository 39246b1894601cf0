package app

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
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
