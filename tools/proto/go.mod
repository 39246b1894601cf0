// Build-only module for the protoc plugins used by `make proto`. Not part of
// the mgvcore module. google.golang.org/protobuf is kept at the version the
// main go.mod uses, so the generated code and its runtime match.
module github.com/megaview/mgvcore/tools/proto

go 1.25.0

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2
	google.golang.org/protobuf v1.36.12
)
