//go:build tools

// Package tools only names the two programs that scripts/tools builds, so that `go mod tidy`
// keeps every module they need in go.mod and go.sum: the Helm v4 command line and the CNCF
// distribution registry. Nothing of this package runs; see docs/registry-and-helm.md.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
	_ "helm.sh/helm/v4/cmd/helm"
)
