//go:build tools

// Package tools only names the program that scripts/tools builds from this module, so that
// `go mod tidy` keeps every module it needs in go.mod and go.sum: Prometheus' promtool, which
// checks and unit-tests the chart's alerting rules (tests/chart/test_prometheus_rules.py). It is a
// module of its own, apart from tests/tools, so that Prometheus' dependencies and Helm's never
// have to agree on one version. Nothing of this package runs; see docs/troubleshooting.md.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
