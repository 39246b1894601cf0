package app

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestEveryOperationHasANeed walks the HTTP routes the server registers and
// the methods of mgv.open.v1: every operation that needs a token is in
// operationNeeds, so its scope or role is checked before its handler reads
// the request, and nothing else is.
func TestEveryOperationHasANeed(t *testing.T) {
	ts := newTestServer(t)
	seen := map[string]bool{}
	check := func(where, op string) {
		seen[op] = true
		_, ok := operationNeeds[op]
		switch {
		case publicOperations[op] && ok:
			t.Errorf("%s (%s) needs no token but is in operationNeeds", where, op)
		case !publicOperations[op] && !ok:
			t.Errorf("%s (%s) is not in operationNeeds: name the scope or role its use case requires", where, op)
		}
	}
	for route, op := range ts.ops {
		check(route, op)
	}
	protoregistry.GlobalFiles.RangeFilesByPackage("mgv.open.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				check("gRPC", "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	for op := range operationNeeds {
		if !seen[op] {
			t.Errorf("operationNeeds names %s, which is no route or method", op)
		}
	}
	// A heavy operation is bounded per tenant, so it needs a caller of a
	// tenant: a misspelt or public one would go unbounded.
	for op := range heavyOperations {
		if _, ok := operationNeeds[op]; !seen[op] || !ok {
			t.Errorf("heavyOperations names %s, which is no route or method that needs a token", op)
		}
	}
}
