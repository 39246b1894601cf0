//go:build tools

// Package tools pins the Consul agent command so that
//
//	go build -o <dir>/consul github.com/hashicorp/consul
//
// works from this directory. It is never compiled into anything.
package tools

import (
	_ "github.com/hashicorp/consul"
)
