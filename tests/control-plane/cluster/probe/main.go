// Command probe is the smoke test that scripts/cluster runs in a pod before it says `cluster
// ready`. It proves, from inside a pod, what the operator needs there: the ServiceAccount token
// and the cluster CA are mounted, and the `kubernetes` Service (KUBERNETES_SERVICE_HOST, a
// ClusterIP that kube-proxy forwards to the API server on the node's address) answers and
// authenticates the token. It prints one line saying who it is and exits 0, or says why not and
// exits 1. It uses the standard library only, so that it builds into a static binary for an image
// that has nothing else in it.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const secrets = "/var/run/secrets/kubernetes.io/serviceaccount/"

func main() {
	if err := run(); err != nil {
		fmt.Println("probe failed:", err)
		os.Exit(1)
	}
}

func run() error {
	token, err := os.ReadFile(secrets + "token")
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(secrets + "ca.crt")
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in %sca.crt", secrets)
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return fmt.Errorf("KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is not set")
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}
	review := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	url := "https://" + net.JoinHostPort(host, port) + "/apis/authentication.k8s.io/v1/selfsubjectreviews"
	var lastErr error
	// kube-proxy may write its rules a moment after the pod starts: a few tries.
	for attempt := 0; attempt < 20; attempt++ {
		request, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(review))
		if err != nil {
			return err
		}
		request.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
		request.Header.Set("Content-Type", "application/json")
		response, err := client.Do(request)
		if err != nil {
			lastErr = err
			time.Sleep(time.Second)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(response.Body, 1<<16))
		response.Body.Close()
		if response.StatusCode != http.StatusCreated && response.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %d %s", url, response.StatusCode, body)
		}
		var answer struct {
			Status struct {
				UserInfo struct {
					Username string `json:"username"`
				} `json:"userInfo"`
			} `json:"status"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return err
		}
		fmt.Printf("probe: authenticated as %s through the kubernetes Service at %s\n",
			answer.Status.UserInfo.Username, net.JoinHostPort(host, port))
		return nil
	}
	return lastErr
}
