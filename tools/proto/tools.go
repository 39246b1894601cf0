//go:build tools

// Package tools pins the protoc plugins that `make proto` (scripts/proto.sh)
// builds with
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
//
// from this directory. It is never compiled into anything.
package tools

import (
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
