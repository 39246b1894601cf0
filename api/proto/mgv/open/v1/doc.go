// Package openv1 is the Go code generated from the mgv.open.v1 .proto files
// beside it: the gRPC API of the Megaview open platform. Regenerate it with
// `make proto`; only this file is written by hand.
package openv1
