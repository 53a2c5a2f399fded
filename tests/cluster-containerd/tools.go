//go:build tools

// Package clustercontainerd only names the containerd programs that scripts/cluster builds, so
// that `go mod tidy` keeps every module they need in go.mod and go.sum. It is a module of its own,
// apart from tests/control-plane, because containerd and k8s.io/kubernetes require different
// versions of the k8s.io modules. Nothing of this package runs.
package clustercontainerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
