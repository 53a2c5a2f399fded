package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// StartEtcd starts a one-member etcd that keeps its data in dataDir and serves clients on
// clientURL, logging to logDir/etcd.log. It does not fsync: the data is thrown away anyway.
func StartEtcd(logDir, bin, dataDir, clientURL, peerURL string) *Process {
	return Start(logDir, "etcd", bin,
		"--name=default",
		"--data-dir="+dataDir,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
}

// auditPolicy records every request's metadata (who, verb, resource, response code) once it
// has completed: tests compare what a ServiceAccount did with what its RBAC grants.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
`

// AuditFlags writes the audit policy to dir/audit-policy.yaml and returns the kube-apiserver
// flags that write the audit log (JSON lines) to logPath.
func AuditFlags(dir, logPath string) ([]string, error) {
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + logPath,
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
	}, nil
}

// API is a minimal JSON client of an API server (Server is its https://HOST:PORT).
type API struct {
	HTTP   *http.Client
	Server string
}

// Do sends body (if not nil) as JSON and returns the response body; a status other than 2xx is
// an error with the start of the body.
func (a *API) Do(method, path string, body any) ([]byte, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(data)
	}
	request, err := http.NewRequest(method, a.Server+path, reader)
	if err != nil {
		return nil, err
	}
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	response, err := a.HTTP.Do(request)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	if response.StatusCode < 200 || response.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, response.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// Get reads path and decodes the JSON answer into into, unless it is nil.
func (a *API) Get(path string, into any) error {
	data, err := a.Do(http.MethodGet, path, nil)
	if err != nil || into == nil {
		return err
	}
	return json.Unmarshal(data, into)
}

// Ready returns nil once the API server is ready (/readyz) and has made the `default`
// namespace, which clients expect.
func (a *API) Ready() error {
	if err := a.Get("/readyz", nil); err != nil {
		return err
	}
	return a.Get("/api/v1/namespaces/default", nil)
}
