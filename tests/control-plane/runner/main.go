// Command runner starts a throw-away Kubernetes control plane (etcd and kube-apiserver) on
// loopback for tests and local runs, the way controller-runtime's envtest does for Go operators.
//
// It makes a CA, a serving certificate for localhost/127.0.0.1 and an admin client certificate
// (group system:masters), starts etcd and kube-apiserver on free loopback ports in a temporary
// folder, waits until /readyz answers and the `default` namespace exists, writes a kubeconfig,
// prints `control plane ready`, and then stays in the foreground until SIGTERM or SIGINT, when it
// stops both processes and removes the folder. It installs nothing into the cluster.
//
// scripts/control-plane builds it beside etcd and kube-apiserver and passes their paths.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// auditPolicy records every request's metadata (who, verb, resource, response code) once it
// has completed: tests compare what a ServiceAccount did with what its RBAC grants.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
`

// readyTimeout bounds the wait for the API server; a cold etcd and apiserver on two cores take
// a few seconds, a loaded machine longer.
const readyTimeout = 3 * time.Minute

func main() {
	etcdBin := flag.String("etcd", "", "path of the etcd binary")
	apiserverBin := flag.String("kube-apiserver", "", "path of the kube-apiserver binary")
	kubeconfig := flag.String("kubeconfig", "", "where to write the admin kubeconfig")
	flag.Parse()
	if *etcdBin == "" || *apiserverBin == "" || *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "usage: runner --etcd PATH --kube-apiserver PATH --kubeconfig FILE")
		os.Exit(2)
	}
	if err := run(*etcdBin, *apiserverBin, *kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "control plane:", err)
		os.Exit(1)
	}
}

func run(etcdBin, apiserverBin, kubeconfig string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	dir, err := os.MkdirTemp("", "user-import-control-plane-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	pki, err := makePKI(dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	apiPort := ports[2]

	etcd := start(dir, "etcd", etcdBin,
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd-data"),
		"--listen-client-urls="+etcdClient,
		"--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer,
		"--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=default="+etcdPeer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	defer etcd.stop()

	apiserverArgs := []string{
		"--etcd-servers=" + etcdClient,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The `kubernetes` Service endpoints may not point at loopback; nothing here needs them.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.serviceAccountKey,
		"--service-account-signing-key-file=" + pki.serviceAccountKey,
		"--disable-admission-plugins=ServiceAccount",
		"--v=0",
	}
	if auditLog := os.Getenv("USER_IMPORT_CONTROL_PLANE_AUDIT_LOG"); auditLog != "" {
		policy := filepath.Join(dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return err
		}
		apiserverArgs = append(apiserverArgs,
			"--audit-policy-file="+policy,
			"--audit-log-path="+auditLog,
			"--audit-log-format=json",
			"--audit-log-mode=blocking",
		)
	}
	apiserver := start(dir, "kube-apiserver", apiserverBin, apiserverArgs...)
	defer apiserver.stop()

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if err := waitReady(ctx, server, pki, etcd, apiserver); err != nil {
		return err
	}
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return err
	}
	fmt.Println("control plane ready")

	select {
	case <-ctx.Done():
		return nil
	case <-etcd.done:
		return etcd.failure()
	case <-apiserver.done:
		return apiserver.failure()
	}
}

// process is one child with its log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func start(dir, name, bin string, args ...string) *process {
	logPath := filepath.Join(dir, name+".log")
	p := &process{name: name, log: logPath, done: make(chan struct{})}
	logFile, err := os.Create(logPath)
	if err != nil {
		p.err = err
		close(p.done)
		return p
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	// Its own process group: a Ctrl-C in the terminal reaches this runner, which then stops the
	// child in order, rather than both at once.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		p.err = err
		logFile.Close()
		close(p.done)
		return p
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p
}

func (p *process) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// failure says that the process ended, with the end of its log.
func (p *process) failure() error {
	tail := ""
	if data, err := os.ReadFile(p.log); err == nil {
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		tail = "\n" + strings.Join(lines, "\n")
	}
	return fmt.Errorf("%s exited (%v); the end of its log:%s", p.name, p.err, tail)
}

func waitReady(ctx context.Context, server string, pki *pki, children ...*process) error {
	client, err := adminClient(pki)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(readyTimeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		for _, child := range children {
			select {
			case <-child.done:
				return child.failure()
			default:
			}
		}
		ready := get(client, server+"/readyz")
		if ready == nil {
			if last = describe(get(client, server+"/api/v1/namespaces/default")); last == "" {
				return nil
			}
		} else {
			last = ready.Error()
		}
		select {
		case <-ctx.Done():
			return errors.New("stopped before it was ready")
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %s", readyTimeout, last)
}

func describe(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func get(client *http.Client, url string) error {
	response, err := client.Get(url)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, response.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func adminClient(pki *pki) (*http.Client, error) {
	pair, err := tls.X509KeyPair(pki.adminCertPEM, pki.adminKeyPEM)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.caCertPEM)
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{pair},
		}},
	}, nil
}

func writeKubeconfig(path, server string, pki *pki) error {
	b64 := func(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: control-plane
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: control-plane
  context:
    cluster: control-plane
    user: admin
    namespace: default
current-context: control-plane
`, server, b64(pki.caCertPEM), b64(pki.adminCertPEM), b64(pki.adminKeyPEM))
	// Written beside the target and renamed: a reader never sees half a file.
	temporary := path + ".tmp"
	if err := os.WriteFile(temporary, []byte(config), 0o600); err != nil {
		return err
	}
	return os.Rename(temporary, path)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// pki holds the files and PEM blocks of the throw-away certificate authority.
type pki struct {
	caCert, servingCert, servingKey, serviceAccountKey string
	caCertPEM, adminCertPEM, adminKeyPEM               []byte
}

func makePKI(dir string) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "user-import-operator test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, dns []string, ips []net.IP) ([]byte, []byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		template := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
	}
	servingCert, servingKey, err := issue(2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")})
	if err != nil {
		return nil, err
	}
	adminCert, adminKey, err := issue(3, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saKeyDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.crt":              caPEM,
		"serving.crt":         servingCert,
		"serving.key":         servingKey,
		"service-account.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saKeyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return &pki{
		caCert:            filepath.Join(dir, "ca.crt"),
		servingCert:       filepath.Join(dir, "serving.crt"),
		servingKey:        filepath.Join(dir, "serving.key"),
		serviceAccountKey: filepath.Join(dir, "service-account.key"),
		caCertPEM:         caPEM,
		adminCertPEM:      adminCert,
		adminKeyPEM:       adminKey,
	}, nil
}
