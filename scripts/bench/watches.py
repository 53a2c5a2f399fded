"""What the operator receives from the API server when the cluster is full of ConfigMaps and
Secrets that no import uses: one import, with N unrelated Secrets and N unrelated ConfigMaps of
K KiB each in other namespaces, measured for one or more builds of the operator in one run.

For each build and run: a namespace of its own with the examples' Tenant, users and template
(a ConfigMap) and a UserImport, created before the operator starts; then `run` for every
namespace (no --namespace), through a TCP relay that counts the bytes in each direction (TLS
passes through it untouched; the API server's certificate names 127.0.0.1). Measured:

- time to the first import: from starting the process to the UserImport's status finished
  (Succeeded / SucceededWithProblems), as a `kubectl get --watch` started before it sees it;
- bytes received from the API server: counted by the relay, from the start until the operator
  has been idle for IDLE seconds (its initial lists done) - TLS records, about the HTTP bytes;
- last byte: from the start to the last byte the relay passed, either way, before that idle
  time (when the operator's initial lists were done);
- peak RSS: VmHWM of the process, and its CPU time (user + system), read at that point.

Run by scripts/bench-watches, which builds the operator and starts a control plane.
"""

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNRELATED_NAMESPACES = 10
IDLE = 3.0


class Relay:
    """A TCP relay on 127.0.0.1 to the API server, counting bytes each way."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.down = 0  # from the API server to the operator
        self.up = 0
        self.last = time.monotonic()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait()

    def _serve(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _client(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def pump(source, sink, downward):
            try:
                while True:
                    data = await source.read(1 << 16)
                    if not data:
                        break
                    if downward:
                        self.down += len(data)
                    else:
                        self.up += len(data)
                    self.last = time.monotonic()
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    sink.close()
                except Exception:
                    pass

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))

    def reset(self):
        self.down = self.up = 0
        self.last = time.monotonic()


def kubectl(args, kubeconfig, stdin=None, check=True):
    return subprocess.run(
        [KUBECTL, "--kubeconfig", kubeconfig, *args],
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=check,
    )


def create_unrelated(kubeconfig, count, kib):
    """COUNT Secrets and COUNT ConfigMaps of KIB KiB each, spread over namespaces of their own,
    created with `kubectl create` (no last-applied annotation: see docs/performance.md)."""
    names = [f"unrelated-{i}" for i in range(UNRELATED_NAMESPACES)]
    for namespace in names:
        kubectl(["create", "namespace", namespace], kubeconfig)
    block = os.urandom(kib * 1024)
    secret_data = base64.b64encode(block).decode()
    # ConfigMap data is text: KIB KiB of base64 characters.
    text = base64.b64encode(block).decode()[: kib * 1024]

    def batch(kind, start, size):
        items = []
        for i in range(start, min(start + size, count)):
            meta = {"name": f"{kind.lower()}-{i}", "namespace": names[i % len(names)]}
            if kind == "Secret":
                items.append({"apiVersion": "v1", "kind": kind, "metadata": meta,
                              "data": {"blob": secret_data}})
            else:
                items.append({"apiVersion": "v1", "kind": kind, "metadata": meta,
                              "data": {"blob": text}})
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}).encode()
        kubectl(["create", "-f", "-", "-o", "name"], kubeconfig, stdin=listed)

    size = 50
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(batch, kind, start, size)
                for kind in ("Secret", "ConfigMap") for start in range(0, count, size)]
        for job in jobs:
            job.result()


def prepare_import(kubeconfig, namespace):
    """The examples' Tenant, users and template, and a UserImport of them, in NAMESPACE."""
    kubectl(["create", "namespace", namespace], kubeconfig)
    tenant = {
        "apiVersion": "riskassess.io/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "acme", "namespace": namespace},
        "spec": {"displayName": "Acme Corp", "ssoSync": {"enabled": True},
                 "defaultSiteAdministrator": {"name": "Ada Admin", "email": "admin@acme.test"}},
    }
    kubectl(["create", "-f", "-"], kubeconfig, stdin=json.dumps(tenant).encode())
    records = open(os.path.join(ROOT, "examples/records.yaml")).read()
    records = records.replace("namespace: acme\n", f"namespace: {namespace}\n")
    kubectl(["create", "-f", "-"], kubeconfig, stdin=records.encode())
    kubectl(["create", "configmap", "-n", namespace, "acme-user-import",
             f"--from-file=template.csv={os.path.join(ROOT, 'examples/template.csv')}"],
            kubeconfig)
    import_ = {
        "apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport",
        "metadata": {"name": "acme-2026-11", "namespace": namespace},
        "spec": {"tenantRef": {"name": "acme"},
                 "template": {"configMapKeyRef": {"name": "acme-user-import",
                                                  "key": "template.csv"}}},
    }
    kubectl(["create", "-f", "-"], kubeconfig, stdin=json.dumps(import_).encode())


def cpu_seconds(pid):
    """User and system CPU time of the process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure(label, binary, kubeconfig, relay, relay_kubeconfig, namespace, timeout):
    prepare_import(kubeconfig, namespace)
    watch = subprocess.Popen(
        [KUBECTL, "--kubeconfig", kubeconfig, "get", "userimports.riskassess.io",
         "acme-2026-11", "-n", namespace, "--watch", "--output-watch-events=false",
         "-o", "jsonpath={.status.phase}{\"\\n\"}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watch.stdout.readline()  # the UserImport as it is before the operator starts
    finished = threading.Event()

    def follow():
        for line in watch.stdout:
            if line.strip() in ("Succeeded", "SucceededWithProblems"):
                finished.set()
                return

    threading.Thread(target=follow, daemon=True).start()
    outbox = tempfile.mkdtemp(prefix="bench-watches-outbox-")
    relay.reset()
    env = dict(os.environ, KUBECONFIG=relay_kubeconfig, RUST_LOG="warn")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    started = time.monotonic()
    operator = subprocess.Popen(
        [binary, "run", "--leader-election", "false", "--metrics-addr", "127.0.0.1:0",
         "--outbox", outbox],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not finished.wait(timeout):
        operator.kill()
        watch.kill()
        sys.exit(f"{label}: the import did not finish within {timeout} s")
    to_import = time.monotonic() - started
    # Until the operator has received nothing for IDLE seconds: its initial lists are done.
    while time.monotonic() - relay.last < IDLE and time.monotonic() - started < timeout:
        time.sleep(0.2)
    peak = vm_hwm_kib(operator.pid)
    cpu = cpu_seconds(operator.pid)
    received, sent = relay.down, relay.up
    busy = relay.last - started
    operator.send_signal(signal.SIGTERM)
    operator.wait(60)
    watch.kill()
    # Gone before the next build starts: it would look at this import too. (Not the
    # namespace: the control plane runs no namespace controller to empty it.)
    kubectl(["delete", "userimports.riskassess.io", "--all", "-n", namespace], kubeconfig)
    mails = len([f for f in os.listdir(outbox) if f.endswith(".eml")])
    return {"label": label, "to_import": to_import, "busy": busy, "received": received,
            "sent": sent, "peak_kib": peak, "cpu": cpu, "mails": mails}


def main():
    global KUBECTL
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--kib", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("build", nargs="+", help="LABEL=PATH of an operator binary")
    args = parser.parse_args()
    KUBECTL = args.kubectl
    builds = [build.split("=", 1) for build in args.build]

    kubectl(["apply", "--server-side", "-f", os.path.join(ROOT, "crds")], args.kubeconfig)
    started = time.monotonic()
    create_unrelated(args.kubeconfig, args.count, args.kib)
    print(f"created {args.count} Secrets and {args.count} ConfigMaps of {args.kib} KiB in "
          f"{UNRELATED_NAMESPACES} namespaces in {time.monotonic() - started:.0f} s", flush=True)

    config = open(args.kubeconfig).read()
    server = re.search(r"server:\s*https://([^:/\s]+):(\d+)", config)
    relay = Relay(server.group(1), int(server.group(2)))
    relay_kubeconfig = os.path.join(tempfile.mkdtemp(prefix="bench-watches-"), "kubeconfig")
    with open(relay_kubeconfig, "w") as out:
        out.write(config.replace(server.group(0),
                                 f"server: https://{server.group(1)}:{relay.port}"))

    results = []
    for run in range(args.runs):
        for label, binary in builds:
            namespace = f"bench-{label}-{run}"
            result = measure(label, binary, args.kubeconfig, relay, relay_kubeconfig,
                             namespace, args.timeout)
            results.append(result)
            print(f"  {label} run {run + 1}: first import {result['to_import']:.2f} s, "
                  f"last byte at {result['busy']:.2f} s, "
                  f"received {result['received'] / 1e6:.1f} MB, "
                  f"peak RSS {result['peak_kib'] / 1024:.1f} MiB", flush=True)

    print()
    print(f"one import of examples/template.csv (21 rows); {args.count} unrelated Secrets and "
          f"{args.count} ConfigMaps of {args.kib} KiB; load average "
          f"{open('/proc/loadavg').read().split()[0]}")
    print("| build | time to first import | last byte | received from the API "
          "server | sent | peak RSS | CPU | reports mailed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['label']} | {r['to_import']:.2f} s | {r['busy']:.2f} s | "
              f"{r['received'] / 1e6:.1f} MB | {r['sent'] / 1e3:.0f} kB | "
              f"{r['peak_kib'] / 1024:.1f} MiB | {r['cpu']:.2f} s | {r['mails']} |")


if __name__ == "__main__":
    main()
