//go:build tools

// Package tools pins the Jaeger all-in-one command so that
//
//	go build -o <dir>/jaeger-all-in-one github.com/jaegertracing/jaeger/cmd/all-in-one
//
// works from this directory. It is never compiled into anything.
package tools

import (
	_ "github.com/jaegertracing/jaeger/cmd/all-in-one"
)
