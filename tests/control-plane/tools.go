//go:build tools

// Package controlplane only names the two programs the tests run, so that `go mod tidy` keeps
// every module they need in go.mod and go.sum. The programs are built with `go build` by
// scripts/control-plane; nothing of this package runs.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
