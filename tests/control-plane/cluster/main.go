// Command cluster starts a throw-away one-node Kubernetes cluster on this machine for the tests
// that need pods: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd with
// runc, kubelet and kube-proxy (iptables mode), with a bridge + host-local CNI network.
//
// It must run as root. It makes an interface with the node's address (nodeIP), a
// certificate authority and a certificate for every component, starts them all in a temporary
// folder, imports the image archives it is given into containerd, waits until the node is Ready
// and a smoke-test pod (the probe, see probe/main.go) has run to completion, writes an admin
// kubeconfig, prints `cluster ready`, and stays in the foreground until SIGTERM or SIGINT. Then it
// stops everything and removes what it made: pods (through the CRI, so that the CNI plugins
// remove their veth pairs and addresses), mounts, the kubepods cgroups, the KUBE-* iptables
// chains, the bridges, the folders, and it restores the kernel settings that
// kubelet, kube-proxy and the bridge plugin change.
//
// What it changed is written to stateFile first, so that a run that was killed (SIGKILL, a
// crash) is cleaned up by the next run before it starts.
//
// scripts/cluster builds it beside the binaries it runs and passes their folder. See
// docs/local-cluster.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"user-import-operator/control-plane/internal/harness"
)

// The network layout; see docs/local-cluster.md. All of it stays on this machine.
const (
	nodeName            = "user-import-node"
	nodeIP              = "10.250.0.1"     // on nodeLink, in the host's network namespace
	nodeLink            = "user-import0"   // a bridge without ports that holds nodeIP
	bridgeName          = "user-import-br" // the pods' bridge, made by the bridge CNI plugin
	podCIDR             = "10.244.0.0/24"
	podGateway          = "10.244.0.1"
	serviceCIDR         = "10.96.0.0/24"
	kubernetesServiceIP = "10.96.0.1"
	clusterDomain       = "cluster.local"
	// guardChain (mangle table) drops forwarded packets between the pods' bridge and any other
	// interface: pods reach the node's addresses and each other, never the outside world.
	guardChain = "USER-IMPORT-GUARD"
	stateFile  = "/run/user-import-operator-cluster.json"
	smokePod   = "cluster-smoke"
)

// readyTimeout bounds each wait (API server, node, smoke pod); a cold start on two busy cores
// takes well under a minute.
const readyTimeout = 4 * time.Minute

// stopGrace is how long a component has between SIGTERM and SIGKILL.
const stopGrace = 15 * time.Second

// sysctls are the kernel settings that kubelet (setupKernelTunables), kube-proxy (conntrack,
// route_localnet) and the bridge plugin (ip_forward) may change, and that this command sets
// itself: their values are saved before and written back after.
var sysctls = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
	"net/netfilter/nf_conntrack_max",
	"net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"net/netfilter/nf_conntrack_tcp_be_liberal",
}

// hostPaths are folders outside the temporary root that kubelet, containerd or its shims create
// at fixed places, and that nothing else on the machine uses. Those that did not exist before
// are removed after, with what is in them (mounts first).
var hostPaths = []string{
	"/var/lib/kubelet",
	"/var/lib/kubelet/device-plugins",
	"/var/log/containers",
	"/var/log/pods",
	"/etc/kubernetes",
	"/etc/cdi",
	"/run/cdi",
}

// sharedPaths are folders that the CNI library or containerd's shims may create and that podman
// (with CNI) or another containerd use too: only this cluster's entries are removed from them
// (cniCacheGlob; the shims remove their own sockets), and the folders themselves only when they
// did not exist before and are empty.
var sharedPaths = []string{
	"/run/containerd",
	"/run/containerd/s",
	"/run/nri",
	"/opt/containerd",
	"/var/lib/containerd",
	"/var/lib/cni",
	"/var/lib/cni/results",
	"/var/lib/cni/networks",
	"/opt/cni",
	"/etc/cni",
	"/run/netns",
}

// cniCacheGlob matches the CNI library's cache of this cluster's network ("user-import").
const cniCacheGlob = "/var/lib/cni/results/user-import-*"

// state is what a run changed on the host, written to stateFile before the first change.
type state struct {
	PID     int               `json:"pid"`
	Root    string            `json:"root"`
	Sysctls map[string]string `json:"sysctls"`
	Created []string          `json:"created"`
	// CreatedShared are the sharedPaths that did not exist before.
	CreatedShared []string `json:"createdShared"`
}

type options struct {
	bin, kubeconfig, image, cniBin, runc string
	archives, plainHTTP                  []string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o options
	var archives, plainHTTP listFlag
	flag.StringVar(&o.bin, "bin", "", "folder with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, containerd, containerd-shim-runc-v2, ctr")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "where to write the admin kubeconfig")
	flag.StringVar(&o.image, "node-image", "", "name of the image (in the first archive) that serves as the pause image and runs the probe")
	flag.StringVar(&o.cniBin, "cni-bin-dir", "/usr/lib/cni", "folder of the CNI plugins (bridge, host-local, loopback)")
	flag.StringVar(&o.runc, "runc", "", "path of runc (default: from PATH)")
	flag.Var(&archives, "image-archive", "OCI archive to import into containerd (repeatable)")
	flag.Var(&plainHTTP, "plain-http-registry", "HOST:PORT of a registry containerd reaches over plain HTTP (repeatable)")
	flag.Parse()
	o.archives, o.plainHTTP = archives, plainHTTP
	if o.bin == "" || o.kubeconfig == "" || o.image == "" {
		fmt.Fprintln(os.Stderr, "usage: cluster --bin DIR --node-image NAME --kubeconfig FILE [--image-archive FILE]... [--plain-http-registry HOST:PORT]...")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cluster: "+format+"\n", args...)
}

func run(o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (it runs kubelet and containerd)")
	}
	if o.runc == "" {
		if o.runc, err = exec.LookPath("runc"); err != nil {
			return errors.New("runc not found (Debian package runc)")
		}
	}
	for _, tool := range []string{"ip", "iptables", "ip6tables", "iptables-save", "iptables-restore", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: see docs/local-cluster.md for the packages", tool)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(o.cniBin, plugin)); err != nil {
			return fmt.Errorf("CNI plugin %s not in %s (Debian package containernetworking-plugins)", plugin, o.cniBin)
		}
	}
	if err := cleanStale(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	root, err := os.MkdirTemp("", "user-import-cluster-")
	if err != nil {
		return err
	}
	st := &state{PID: os.Getpid(), Root: root, Sysctls: map[string]string{}}
	for _, name := range sysctls {
		if value, err := os.ReadFile("/proc/sys/" + name); err == nil {
			st.Sysctls[name] = strings.TrimSpace(string(value))
		}
	}
	for _, path := range hostPaths {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			st.Created = append(st.Created, path)
		}
	}
	for _, path := range sharedPaths {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			st.CreatedShared = append(st.CreatedShared, path)
		}
	}
	if err := writeState(st); err != nil {
		return err
	}
	c := &cluster{o: o, st: st, root: root}
	defer func() {
		c.teardown()
		cleanup(st)
		logf("stopped and cleaned up")
	}()
	return c.start(ctx)
}

type cluster struct {
	o    options
	st   *state
	root string
	pki  *harness.PKI

	etcd, apiserver, controllerManager, scheduler, containerd, kubelet, proxy *harness.Process

	socket string // containerd's
}

func (c *cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.root}, parts...)...)
}

func (c *cluster) start(ctx context.Context) error {
	started := time.Now()
	if err := setupNetwork(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	var err error
	if c.pki, err = makePKI(c.path("pki")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := harness.FreePorts("127.0.0.1", 4)
	if err != nil {
		return err
	}
	nodePorts, err := harness.FreePorts(nodeIP, 2)
	if err != nil {
		return err
	}
	apiPort, kubeletPort := nodePorts[0], nodePorts[1]
	server := fmt.Sprintf("https://%s:%d", nodeIP, apiPort)
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	logs := c.path("logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(c.o.bin, name) }

	c.etcd = harness.StartEtcd(logs, bin("etcd"), c.path("etcd"), etcdClient, etcdPeer)
	apiserverArgs := []string{
		"--etcd-servers=" + etcdClient,
		"--cert-dir=" + c.path("apiserver-certs"),
		"--tls-cert-file=" + c.pki.File("apiserver.crt"),
		"--tls-private-key-file=" + c.pki.File("apiserver.key"),
		"--client-ca-file=" + c.pki.File("ca.crt"),
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--bind-address=" + nodeIP,
		"--advertise-address=" + nodeIP,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer=https://kubernetes.default.svc." + clusterDomain,
		"--service-account-key-file=" + c.pki.File("service-account.key"),
		"--service-account-signing-key-file=" + c.pki.File("service-account.key"),
		"--kubelet-client-certificate=" + c.pki.File("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + c.pki.File("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + c.pki.File("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--v=0",
	}
	if auditLog := os.Getenv("USER_IMPORT_CLUSTER_AUDIT_LOG"); auditLog != "" {
		flags, err := harness.AuditFlags(c.root, auditLog)
		if err != nil {
			return err
		}
		apiserverArgs = append(apiserverArgs, flags...)
	}
	c.apiserver = harness.Start(logs, "kube-apiserver", bin("kube-apiserver"), apiserverArgs...)

	client, err := c.pki.Client("admin", 10*time.Second)
	if err != nil {
		return err
	}
	api := &harness.API{HTTP: client, Server: server}
	if err := c.wait(ctx, "the API server", api.Ready); err != nil {
		return err
	}
	logf("API server ready at %s (%.1f s)", server, time.Since(started).Seconds())

	kubeconfigs := map[string]string{}
	for _, user := range []string{"controller-manager", "scheduler", "kubelet", "kube-proxy"} {
		kubeconfigs[user] = c.path("kubeconfig", user)
		if err := c.writeKubeconfig(kubeconfigs[user], server, user); err != nil {
			return err
		}
	}
	c.controllerManager = harness.Start(logs, "kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+kubeconfigs["controller-manager"],
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pki.File("service-account.key"),
		"--root-ca-file="+c.pki.File("ca.crt"),
		"--cluster-signing-cert-file="+c.pki.File("ca.crt"),
		"--cluster-signing-key-file="+c.pki.File("ca.key"),
		"--service-cluster-ip-range="+serviceCIDR,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--v=0",
	)
	c.scheduler = harness.Start(logs, "kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+kubeconfigs["scheduler"],
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--v=0",
	)

	if err := c.startContainerd(ctx, logs); err != nil {
		return err
	}
	logf("containerd ready, images imported (%.1f s)", time.Since(started).Seconds())
	if err := c.writeCNIConfig(); err != nil {
		return err
	}
	if err := c.startNode(logs, kubeconfigs, kubeletPort, ports[2], ports[3]); err != nil {
		return err
	}
	if err := c.wait(ctx, "the node to be Ready", func() error { return nodeReady(api) }); err != nil {
		return err
	}
	logf("node %s Ready (%.1f s)", nodeName, time.Since(started).Seconds())
	if err := c.smokeTest(ctx, api); err != nil {
		return fmt.Errorf("smoke test: %w", err)
	}
	if err := c.writeKubeconfig(c.o.kubeconfig, server, "admin"); err != nil {
		return err
	}
	logf("started in %.1f s; logs in %s", time.Since(started).Seconds(), logs)
	fmt.Println("cluster ready")

	children := c.children()
	dead := make(chan *harness.Process, len(children))
	for _, child := range children {
		go func(p *harness.Process) { <-p.Done(); dead <- p }(child)
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-dead:
		return p.Failure()
	}
}

// children are the components in the order they start; those not started yet are nil.
func (c *cluster) children() []*harness.Process {
	return []*harness.Process{c.etcd, c.apiserver, c.controllerManager, c.scheduler, c.containerd, c.kubelet, c.proxy}
}

// wait polls check until it returns nil, a component ends, the context ends or readyTimeout
// passes (see harness.Wait).
func (c *cluster) wait(ctx context.Context, what string, check func() error) error {
	return harness.Wait(ctx, what, readyTimeout, 500*time.Millisecond, c.children(), check)
}

// writeKubeconfig writes the kubeconfig of user (see users) at path, making its folder.
func (c *cluster) writeKubeconfig(path, server, user string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return c.pki.WriteKubeconfig(path, "local-cluster", server, user)
}

// setupNetwork makes the interface with the node's address, enables forwarding (for
// Service traffic between pods on the bridge) and the guard that keeps pods' traffic on the node.
func setupNetwork() error {
	steps := [][]string{
		// A bridge without ports: this kernel has no dummy interfaces, and a bridge holds a local
		// address just as well.
		{"ip", "link", "add", nodeLink, "type", "bridge"},
		{"ip", "addr", "add", nodeIP + "/32", "dev", nodeLink},
		{"ip", "link", "set", nodeLink, "up"},
		// A route for the Service range that ends on that portless bridge: a ClusterIP that
		// kube-proxy has not (yet) translated goes nowhere instead of to the default route.
		{"ip", "route", "add", serviceCIDR, "dev", nodeLink},
		{"iptables", "-w", "-t", "mangle", "-N", guardChain},
		{"iptables", "-w", "-t", "mangle", "-A", guardChain, "-i", bridgeName, "-o", bridgeName, "-j", "RETURN"},
		{"iptables", "-w", "-t", "mangle", "-A", guardChain, "-i", bridgeName, "-j", "DROP"},
		{"iptables", "-w", "-t", "mangle", "-A", guardChain, "-o", bridgeName, "-j", "DROP"},
		{"iptables", "-w", "-t", "mangle", "-I", "FORWARD", "-j", guardChain},
	}
	for _, step := range steps {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(step, " "), err, bytes.TrimSpace(out))
		}
	}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
		_ = exec.Command("modprobe", "br_netfilter").Run()
	}
	for name, value := range map[string]string{
		"net/ipv4/ip_forward":                 "1",
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
			logf("cannot set %s=%s (%v): Service traffic between pods may not work", name, value, err)
		}
	}
	return nil
}

// containerdConfig is containerd 2.4's configuration (version 4): everything under the
// temporary root, NRI off (it would make /var/run/nri), CRI with runc and the bridge network.
const containerdConfig = `version = 4
root = "{{root}}/containerd/root"
state = "{{root}}/containerd/state"

[plugins.'io.containerd.server.v1.grpc']
  address = "{{root}}/containerd/containerd.sock"

[plugins.'io.containerd.server.v1.ttrpc']
  address = "{{root}}/containerd/containerd.sock.ttrpc"

[plugins.'io.containerd.transfer.v1.local']
  config_path = "{{root}}/containerd/certs.d"

[plugins.'io.containerd.internal.v1.opt']
  path = "{{root}}/containerd/opt"

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{{image}}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{{root}}/containerd/certs.d"

[plugins.'io.containerd.cri.v1.runtime']
  # Without it, runc fails to lower the OOM score of the pause container ("can't get final
  # child's PID from pipe"): this machine does not grant CAP_SYS_RESOURCE.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = ["{{root}}/containerd/cdi"]
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "{{bin}}/containerd-shim-runc-v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{{runc}}"
        Root = "{{root}}/containerd/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{{cni}}"]
    conf_dir = "{{root}}/cni/net.d"
    max_conf_num = 1
    # containerd brings up the pods' loopback itself: no cache files of a loopback network.
    use_internal_loopback = true

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`

// plainHTTPHosts is a registry's hosts.toml that makes containerd use plain HTTP for it.
const plainHTTPHosts = `server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve", "push"]
`

func (c *cluster) startContainerd(ctx context.Context, logs string) error {
	config := strings.NewReplacer("{{root}}", c.root, "{{image}}", c.o.image, "{{bin}}", c.o.bin,
		"{{runc}}", c.o.runc, "{{cni}}", c.o.cniBin).Replace(containerdConfig)
	if err := os.MkdirAll(c.path("containerd", "certs.d"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.path("containerd", "config.toml"), []byte(config), 0o644); err != nil {
		return err
	}
	// localhost:PORT and 127.0.0.1:PORT need no entry: containerd tries HTTPS and falls back to
	// plain HTTP for loopback registries. A registry on the node's address does need one.
	registries := append([]string{nodeIP + ":5000"}, c.o.plainHTTP...)
	for _, registry := range registries {
		dir := c.path("containerd", "certs.d", hostDirectory(registry))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(fmt.Sprintf(plainHTTPHosts, registry)), 0o644); err != nil {
			return err
		}
	}
	c.socket = c.path("containerd", "containerd.sock")
	c.containerd = harness.Start(logs, "containerd", filepath.Join(c.o.bin, "containerd"), "--config", c.path("containerd", "config.toml"))
	if err := c.wait(ctx, "containerd", func() error {
		conn, err := net.Dial("unix", c.socket)
		if err != nil {
			return err
		}
		return conn.Close()
	}); err != nil {
		return err
	}
	for _, archive := range c.o.archives {
		out, err := exec.Command(filepath.Join(c.o.bin, "ctr"), "--address", c.socket, "--namespace", "k8s.io",
			"images", "import", "--no-unpack=false", archive).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s: %v: %s", archive, err, bytes.TrimSpace(out))
		}
	}
	out, err := exec.Command(filepath.Join(c.o.bin, "ctr"), "--address", c.socket, "--namespace", "k8s.io",
		"images", "list", "--quiet").Output()
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var names []string
	for _, name := range strings.Fields(string(out)) {
		if !strings.HasPrefix(name, "sha256:") {
			names = append(names, name)
		}
	}
	logf("images in the node's containerd: %s", strings.Join(names, ", "))
	return nil
}

// hostDirectory is the folder name containerd looks up for HOST:PORT ("HOST_PORT_").
func hostDirectory(host string) string {
	if i := strings.LastIndex(host, ":"); i > 0 {
		return host[:i] + "_" + host[i+1:] + "_"
	}
	return host
}

func (c *cluster) writeCNIConfig() error {
	config := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "user-import",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridgeName,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": c.path("cni", "ipam"),
					"ranges":  [][]map[string]string{{{"subnet": podCIDR, "gateway": podGateway}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.path("cni", "net.d"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(c.path("cni", "net.d", "10-user-import.conflist"), data, 0o644)
}

const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{nodeIP}}
port: {{port}}
readOnlyPort: 0
healthzPort: 0
# The machine has hybrid cgroups (v1 controllers) and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://{{socket}}
podLogsDir: {{root}}/pod-logs
tlsCertFile: {{pki}}/kubelet-serving.crt
tlsPrivateKeyFile: {{pki}}/kubelet-serving.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{pki}}/ca.crt
authorization:
  mode: Webhook
clusterDomain: ` + clusterDomain + `
resolvConf: {{root}}/resolv.conf
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`

const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {{kubeconfig}}
hostnameOverride: ` + nodeName + `
mode: iptables
bindAddress: {{nodeIP}}
healthzBindAddress: 127.0.0.1:{{healthz}}
metricsBindAddress: 127.0.0.1:{{metrics}}
clusterCIDR: ` + podCIDR + `
detectLocalMode: ClusterCIDR
nodePortAddresses: ["primary"]
iptables:
  localhostNodePorts: false
oomScoreAdj: 0
# 0 leaves the host's conntrack settings as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`

func (c *cluster) startNode(logs string, kubeconfigs map[string]string, kubeletPort, proxyHealthz, proxyMetrics int) error {
	replace := strings.NewReplacer("{{nodeIP}}", nodeIP, "{{port}}", strconv.Itoa(kubeletPort),
		"{{healthz}}", strconv.Itoa(proxyHealthz), "{{metrics}}", strconv.Itoa(proxyMetrics),
		"{{socket}}", c.socket, "{{root}}", c.root, "{{pki}}", c.pki.Dir, "{{kubeconfig}}", kubeconfigs["kube-proxy"])
	// Pods get an empty resolv.conf: there is no cluster DNS, and the host's resolvers are
	// outside the node. Tests use IP addresses.
	if err := os.WriteFile(c.path("resolv.conf"), nil, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(c.path("kubelet.yaml"), []byte(replace.Replace(kubeletConfig)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(c.path("kube-proxy.yaml"), []byte(replace.Replace(kubeProxyConfig)), 0o644); err != nil {
		return err
	}
	c.kubelet = harness.Start(logs, "kubelet", filepath.Join(c.o.bin, "kubelet"),
		"--config="+c.path("kubelet.yaml"),
		"--kubeconfig="+kubeconfigs["kubelet"],
		"--root-dir="+c.path("kubelet"),
		"--hostname-override="+nodeName,
		"--node-ip="+nodeIP,
		"--oom-score-adj=0",
		"--v=0",
	)
	c.proxy = harness.Start(logs, "kube-proxy", filepath.Join(c.o.bin, "kube-proxy"),
		"--config="+c.path("kube-proxy.yaml"),
		"--v=0",
	)
	return nil
}

// smokeTest runs the probe in a pod with the default ServiceAccount: it needs the scheduler,
// kubelet, containerd, runc, the CNI network, kube-proxy's Service rules, the token and CA
// volumes (ServiceAccount admission, kube-controller-manager's ServiceAccount and
// kube-root-ca.crt controllers), and the API server's connection to kubelet for the log.
func (c *cluster) smokeTest(ctx context.Context, api *harness.API) error {
	if err := c.wait(ctx, "the default ServiceAccount", func() error {
		return api.Get("/api/v1/namespaces/default/serviceaccounts/default", nil)
	}); err != nil {
		return err
	}
	pod := map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": smokePod, "namespace": "default"},
		"spec": map[string]any{
			"restartPolicy":                 "Never",
			"terminationGracePeriodSeconds": 1,
			"containers": []any{map[string]any{
				"name":            "probe",
				"image":           c.o.image,
				"imagePullPolicy": "Never",
				"command":         []string{"/probe"},
			}},
		},
	}
	if _, err := api.Do(http.MethodPost, "/api/v1/namespaces/default/pods", pod); err != nil {
		return err
	}
	podPath := "/api/v1/namespaces/default/pods/" + smokePod
	if err := c.wait(ctx, "the smoke-test pod to succeed", func() error {
		var status struct {
			Status struct {
				Phase             string `json:"phase"`
				ContainerStatuses []struct {
					State map[string]any `json:"state"`
				} `json:"containerStatuses"`
			} `json:"status"`
		}
		if err := api.Get(podPath, &status); err != nil {
			return err
		}
		switch status.Status.Phase {
		case "Succeeded":
			return nil
		case "Failed":
			log, _ := api.Do(http.MethodGet, podPath+"/log", nil)
			return harness.StopRetrying(fmt.Errorf("pod failed: %s", log))
		}
		return fmt.Errorf("pod is %s %v", status.Status.Phase, status.Status.ContainerStatuses)
	}); err != nil {
		return err
	}
	data, err := api.Do(http.MethodGet, podPath+"/log", nil)
	if err != nil {
		return fmt.Errorf("the pod's log through the API server and kubelet: %w", err)
	}
	log := string(data)
	if !strings.Contains(log, "authenticated as system:serviceaccount:default:default") {
		return fmt.Errorf("unexpected log: %s", log)
	}
	logf("smoke-test pod: %s", strings.TrimSpace(log))
	if _, err := api.Do(http.MethodDelete, podPath+"?gracePeriodSeconds=0", nil); err != nil {
		return err
	}
	return c.wait(ctx, "the smoke-test pod to be deleted", func() error {
		if err := api.Get(podPath, nil); err == nil {
			return errors.New("still there")
		} else if !strings.Contains(err.Error(), ": 404 ") {
			return err
		}
		return nil
	})
}

// teardown stops the components in order. Pods are removed through the CRI while containerd
// still runs, so that the CNI plugins delete their veth pairs and release their addresses.
func (c *cluster) teardown() {
	for _, p := range []*harness.Process{c.scheduler, c.controllerManager, c.kubelet} {
		p.Stop(stopGrace)
	}
	if c.containerd != nil && c.socket != "" {
		if err := removePods(c.socket); err != nil {
			logf("removing pods through the CRI: %v", err)
		}
	}
	for _, p := range []*harness.Process{c.proxy, c.containerd, c.apiserver, c.etcd} {
		p.Stop(stopGrace)
	}
}

func removePods(socket string) error {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runtime := runtimeapi.NewRuntimeServiceClient(conn)
	sandboxes, err := runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	for _, sandbox := range sandboxes.Items {
		if _, err := runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sandbox.Id}); err != nil {
			logf("stop pod sandbox %s: %v", sandbox.Id, err)
		}
		if _, err := runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sandbox.Id}); err != nil {
			logf("remove pod sandbox %s: %v", sandbox.Id, err)
		}
	}
	return nil
}

// cleanStale cleans up after an earlier run that could not (killed, crashed), or refuses to
// start while another run is alive: there is one node address, one bridge, one set of chains.
func cleanStale() error {
	data, err := os.ReadFile(stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", stateFile, err)
	}
	if st.PID > 0 && syscall.Kill(st.PID, 0) == nil {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.PID)); filepath.Base(exe) == "cluster" {
			return fmt.Errorf("another cluster runs (pid %d); stop it first", st.PID)
		}
	}
	logf("cleaning up after an earlier run (root %s)", st.Root)
	cleanup(&st)
	return nil
}

// cleanup removes what a run made on the host, whatever state it was left in. Each step goes on
// after an error; errors are logged.
func cleanup(st *state) {
	// Processes left over from a killed run: shims and containers outlive containerd.
	if st.Root != "" {
		killMatching(func(cmdline string) bool { return strings.Contains(cmdline, st.Root) })
	}
	killCgroups()
	unmountUnder(append([]string{st.Root}, st.Created...)...)
	removeCgroups()
	for _, step := range [][]string{
		{"ip", "link", "del", bridgeName},
		{"ip", "link", "del", nodeLink},
	} {
		_ = exec.Command(step[0], step[1:]...).Run()
	}
	removeVeths()
	for _, tool := range []string{"iptables", "ip6tables"} {
		cleanIptables(tool)
	}
	// Deepest first: a folder inside another one we made goes with its parent anyway.
	created := append([]string(nil), st.Created...)
	sort.Sort(sort.Reverse(sort.StringSlice(created)))
	for _, path := range created {
		if err := os.RemoveAll(path); err != nil {
			logf("remove %s: %v", path, err)
		}
	}
	if matches, err := filepath.Glob(cniCacheGlob); err == nil {
		for _, path := range matches {
			_ = os.Remove(path)
		}
	}
	// kubelet's links to the pods' logs, when /var/log/containers was there before.
	if links, err := filepath.Glob("/var/log/containers/*.log"); err == nil && st.Root != "" {
		for _, link := range links {
			if target, err := os.Readlink(link); err == nil && strings.HasPrefix(target, st.Root+"/") {
				_ = os.Remove(link)
			}
		}
	}
	removeDeadSockets("/run/containerd/s")
	shared := append([]string(nil), st.CreatedShared...)
	sort.Sort(sort.Reverse(sort.StringSlice(shared)))
	for _, path := range shared {
		_ = os.Remove(path) // only when empty
	}
	if st.Root != "" && strings.HasPrefix(st.Root, os.TempDir()) {
		if err := os.RemoveAll(st.Root); err != nil {
			logf("remove %s: %v", st.Root, err)
		}
	}
	for name, value := range st.Sysctls {
		current, err := os.ReadFile("/proc/sys/" + name)
		if err != nil || strings.TrimSpace(string(current)) == value {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
			logf("restore %s=%s: %v", name, value, err)
		}
	}
	if err := os.Remove(stateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		logf("remove %s: %v", stateFile, err)
	}
}

// removeDeadSockets removes the sockets in dir that nothing listens on any more: those of shims
// that were killed with a run. A live containerd's shims keep theirs.
func removeDeadSockets(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, entry := range entries {
		path := filepath.Join(dir, entry.Name())
		if entry.Type()&os.ModeSocket == 0 {
			continue
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(path)
		}
	}
}

func killMatching(match func(string) bool) {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && match(strings.ReplaceAll(string(cmdline), "\x00", " ")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cgroupDirs lists the kubepods folder of every cgroup hierarchy, deepest first.
func cgroupDirs() []string {
	var dirs []string
	hierarchies, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hierarchies {
		top := filepath.Join("/sys/fs/cgroup", h.Name(), "kubepods")
		_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}

func killCgroups() {
	for _, dir := range cgroupDirs() {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(field); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func removeCgroups() {
	for attempt := 0; attempt < 20; attempt++ {
		failed := false
		for _, dir := range cgroupDirs() {
			if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				failed = true
			}
		}
		if !failed {
			return
		}
		killCgroups()
		time.Sleep(250 * time.Millisecond)
	}
	logf("some kubepods cgroups could not be removed: %v", cgroupDirs())
}

// unmountUnder unmounts every mount point under the given folders, deepest first.
func unmountUnder(folders ...string) {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		for _, folder := range folders {
			if folder != "" && (point == folder || strings.HasPrefix(point, folder+"/")) {
				points = append(points, point)
				break
			}
		}
	}
	file.Close()
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, point := range points {
		if err := syscall.Unmount(point, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, os.ErrNotExist) {
			logf("unmount %s: %v", point, err)
		}
	}
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeVeths deletes host-side veth ends that the bridge plugin made (named veth…) and whose
// peer is gone or was attached to the pods' bridge; with the bridge gone, those left over have
// no master and are down.
func removeVeths() {
	out, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name := strings.TrimSuffix(fields[1], ":")
		if i := strings.Index(name, "@"); i >= 0 {
			name = name[:i]
		}
		if !strings.HasPrefix(name, "veth") || strings.Contains(line, " master ") {
			continue
		}
		// The bridge plugin names host ends "veth" + 8 hex digits; podman's are "veth" + digits
		// too, but podman's are attached to its bridge (master), which the check above skips.
		_ = exec.Command("ip", "link", "del", name).Run()
	}
}

// ours says whether an iptables chain belongs to kubelet, kube-proxy or this command.
func ours(chain string) bool {
	return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, guardChain)
}

// cleanIptables deletes every rule that jumps to one of our chains, then the chains.
func cleanIptables(tool string) {
	for _, table := range []string{"filter", "nat", "mangle", "raw"} {
		out, err := exec.Command(tool, "-w", "-t", table, "-S").Output()
		if err != nil {
			continue
		}
		var chains []string
		for _, line := range strings.Split(string(out), "\n") {
			args := splitRule(line)
			if len(args) < 2 {
				continue
			}
			switch args[0] {
			case "-N":
				if ours(args[1]) {
					chains = append(chains, args[1])
				}
			case "-A":
				if ours(args[1]) {
					continue // goes with the chain
				}
				for i := 2; i+1 < len(args); i++ {
					if (args[i] == "-j" || args[i] == "-g") && ours(args[i+1]) {
						rule := append([]string{"-w", "-t", table, "-D"}, args[1:]...)
						if out, err := exec.Command(tool, rule...).CombinedOutput(); err != nil {
							logf("%s %s: %v: %s", tool, strings.Join(rule, " "), err, bytes.TrimSpace(out))
						}
						break
					}
				}
			}
		}
		for _, chain := range chains {
			_ = exec.Command(tool, "-w", "-t", table, "-F", chain).Run()
		}
		for _, chain := range chains {
			if out, err := exec.Command(tool, "-w", "-t", table, "-X", chain).CombinedOutput(); err != nil {
				logf("%s -t %s -X %s: %v: %s", tool, table, chain, err, bytes.TrimSpace(out))
			}
		}
	}
}

// splitRule splits a line of `iptables -S` into arguments, honouring double quotes.
func splitRule(line string) []string {
	var args []string
	var current strings.Builder
	inQuotes, have := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && inQuotes && i+1 < len(line):
			i++
			current.WriteByte(line[i])
		case ch == '"':
			inQuotes, have = !inQuotes, true
		case (ch == ' ' || ch == '\t') && !inQuotes:
			if have {
				args = append(args, current.String())
				current.Reset()
				have = false
			}
		default:
			current.WriteByte(ch)
			have = true
		}
	}
	if have {
		args = append(args, current.String())
	}
	return args
}

func writeState(st *state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	temporary := stateFile + ".tmp"
	if err := os.WriteFile(temporary, data, 0o600); err != nil {
		return err
	}
	return os.Rename(temporary, stateFile)
}

// nodeReady returns nil once the node's Ready condition is True.
func nodeReady(api *harness.API) error {
	var node struct {
		Status struct {
			Conditions []struct {
				Type    string `json:"type"`
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := api.Get("/api/v1/nodes/"+nodeName, &node); err != nil {
		return err
	}
	for _, condition := range node.Status.Conditions {
		if condition.Type == "Ready" {
			if condition.Status == "True" {
				return nil
			}
			return fmt.Errorf("node not Ready: %s", condition.Message)
		}
	}
	return errors.New("node has no Ready condition yet")
}

// users are the client identities: who they are to RBAC and the Node authorizer.
var users = map[string]pkix.Name{
	"admin":              {CommonName: "admin", Organization: []string{"system:masters"}},
	"controller-manager": {CommonName: "system:kube-controller-manager"},
	"scheduler":          {CommonName: "system:kube-scheduler"},
	"kubelet":            {CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
	"kube-proxy":         {CommonName: "system:kube-proxy"},
	// The API server's identity towards kubelet (logs, exec, port-forward).
	"apiserver-kubelet-client": {CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
}

// makePKI makes the CA and service-account key (see harness.NewPKI), the serving certificates
// of kube-apiserver and kubelet, and a client certificate for each of users.
func makePKI(dir string) (*harness.PKI, error) {
	pki, err := harness.NewPKI(dir, "user-import-operator cluster CA")
	if err != nil {
		return nil, err
	}
	if err := pki.Issue("apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + clusterDomain},
		[]string{"127.0.0.1", nodeIP, kubernetesServiceIP}); err != nil {
		return nil, err
	}
	if err := pki.Issue("kubelet-serving", pkix.Name{CommonName: nodeName}, x509.ExtKeyUsageServerAuth,
		[]string{nodeName}, []string{nodeIP}); err != nil {
		return nil, err
	}
	for user, subject := range users {
		if err := pki.Issue(user, subject, x509.ExtKeyUsageClientAuth, nil, nil); err != nil {
			return nil, err
		}
	}
	return pki, nil
}
