//go:build tools

// Package controlplane only names the programs the tests run, so that `go mod tidy` keeps every
// module they need in go.mod and go.sum. The programs are built with `go build` by
// scripts/control-plane (etcd, kube-apiserver) and scripts/cluster (those two and the node's
// components); nothing of this package runs.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
