// Command runner starts a throw-away Kubernetes control plane (etcd and kube-apiserver) on
// loopback for tests and local runs, the way controller-runtime's envtest does for Go operators.
//
// It makes a CA, a serving certificate for localhost/127.0.0.1 and an admin client certificate
// (group system:masters), starts etcd and kube-apiserver on free loopback ports in a temporary
// folder, waits until /readyz answers and the `default` namespace exists, writes a kubeconfig,
// prints `control plane ready`, and then stays in the foreground until SIGTERM or SIGINT, when it
// stops both processes and removes the folder. It installs nothing into the cluster.
//
// With USER_IMPORT_CONTROL_PLANE_STOP_ON_EOF=1 it also stops when its standard input ends: a
// test process passes a pipe whose other end it never closes, so the control plane goes when
// that process goes, even when it is killed and cannot send SIGTERM.
//
// scripts/control-plane builds it beside etcd and kube-apiserver and passes their paths.
package main

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"user-import-operator/control-plane/internal/harness"
)

// readyTimeout bounds the wait for the API server; a cold etcd and apiserver on two cores take
// a few seconds, a loaded machine longer.
const readyTimeout = 3 * time.Minute

// stopGrace is how long a child has between SIGTERM and SIGKILL.
const stopGrace = 10 * time.Second

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
	if os.Getenv("USER_IMPORT_CONTROL_PLANE_STOP_ON_EOF") == "1" {
		// PR_SET_PDEATHSIG would fire when the parent's spawning thread ends (a test's thread),
		// not when the parent process does; the end of a pipe is the process's end.
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	dir, err := os.MkdirTemp("", "user-import-control-plane-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	pki, err := makePKI(dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := harness.FreePorts("127.0.0.1", 3)
	if err != nil {
		return err
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	apiPort := ports[2]

	etcd := harness.StartEtcd(dir, etcdBin, filepath.Join(dir, "etcd-data"), etcdClient, etcdPeer)
	defer etcd.Stop(stopGrace)

	apiserverArgs := []string{
		"--etcd-servers=" + etcdClient,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + pki.File("serving.crt"),
		"--tls-private-key-file=" + pki.File("serving.key"),
		"--client-ca-file=" + pki.File("ca.crt"),
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The `kubernetes` Service endpoints may not point at loopback; nothing here needs them.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.File("service-account.key"),
		"--service-account-signing-key-file=" + pki.File("service-account.key"),
		"--disable-admission-plugins=ServiceAccount",
		"--v=0",
	}
	if auditLog := os.Getenv("USER_IMPORT_CONTROL_PLANE_AUDIT_LOG"); auditLog != "" {
		flags, err := harness.AuditFlags(dir, auditLog)
		if err != nil {
			return err
		}
		apiserverArgs = append(apiserverArgs, flags...)
	}
	if config := os.Getenv("USER_IMPORT_CONTROL_PLANE_ENCRYPTION_CONFIG"); config != "" {
		// Encryption at rest (docs/security.md): an EncryptionConfiguration file of the caller's.
		apiserverArgs = append(apiserverArgs, "--encryption-provider-config="+config)
	}
	apiserver := harness.Start(dir, "kube-apiserver", apiserverBin, apiserverArgs...)
	defer apiserver.Stop(stopGrace)

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	client, err := pki.Client("admin", 5*time.Second)
	if err != nil {
		return err
	}
	api := &harness.API{HTTP: client, Server: server}
	if err := harness.Wait(ctx, "the API server", readyTimeout, 250*time.Millisecond,
		[]*harness.Process{etcd, apiserver}, api.Ready); err != nil {
		return err
	}
	if err := pki.WriteKubeconfig(kubeconfig, "control-plane", server, "admin"); err != nil {
		return err
	}
	// etcd's address, for a test that reads what the API server stored (encryption at rest).
	fmt.Printf("etcd %s\n", etcdClient)
	fmt.Println("control plane ready")

	select {
	case <-ctx.Done():
		return nil
	case <-etcd.Done():
		return etcd.Failure()
	case <-apiserver.Done():
		return apiserver.Failure()
	}
}

// makePKI makes the CA and service-account key (see harness.NewPKI), a serving certificate
// for kube-apiserver (serving.crt, serving.key) and the admin's client certificate.
func makePKI(dir string) (*harness.PKI, error) {
	pki, err := harness.NewPKI(dir, "user-import-operator test CA")
	if err != nil {
		return nil, err
	}
	if err := pki.Issue("serving", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		[]string{"127.0.0.1", "10.0.0.1"}); err != nil {
		return nil, err
	}
	if err := pki.Issue("admin", pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil); err != nil {
		return nil, err
	}
	return pki, nil
}
