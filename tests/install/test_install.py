"""The operator as it ships: its image, on a real one-node cluster, installed by the real Helm CLI.

One cluster for the whole module (scripts/cluster: etcd, kube-apiserver, controller-manager,
scheduler, kubelet, kube-proxy, containerd, runc), a real registry on loopback (scripts/registry)
that the node pulls the image from, and a real SMTP server (aiosmtpd) on the node's address,
which the pods reach as they would reach a relay. The image is built from the Dockerfile by
scripts/image (or taken from USER_IMPORT_IMAGE_ARCHIVE, built by scripts/test) and pushed to the
registry, as a release pipeline pushes it.

The tests run in the order of a platform team's day, each block of docs/cluster.md pasted as it
is (the install block with the test's image and relay in its first two lines):
install -> the example imported and mailed once -> the leader's pod deleted -> helm upgrade ->
logs -> uninstall and install again -> the commands helm prints (NOTES.txt).
"""

from __future__ import annotations

import email
import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pasting import ROOT, fenced_after, fresh_shell_env, run_pasted  # noqa: E402

CLUSTER_DOC = ROOT / "docs/cluster.md"
NAMESPACE = "user-import-operator"
RELEASE = "user-import-operator"
LEASE = f"{RELEASE}-leader"
REGISTRY = "127.0.0.1:5000"
# A cold build of the image, the cluster and the tools fits in this.
BUILD_WAIT = 2400


def version() -> str:
    """The workspace's one version, which every crate of it takes."""
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start(args: list[str], log: Path, ready: str | None, wait: float = BUILD_WAIT,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """Starts a long-running script and waits for its `ready` line (None: no waiting)."""
    out = log.open("w")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                            env=env, start_new_session=True)
    if ready is None:
        return proc
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if any(line.startswith(ready) for line in log.read_text().splitlines()):
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"{args[0]} exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.5)
    proc.terminate()
    raise AssertionError(f"{args[0]}: no `{ready}` in {wait} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen | None, wait: float = 120) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def listens(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def output_of(args: list[str], **kwargs) -> str:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Cluster:
    work: Path
    kubeconfig: Path
    node_ip: str
    image: str
    smtp_port: int
    maildir: Path
    tools: str
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                                capture_output=True, text=True, env=self.env, timeout=300)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def paste(self, script: str, name: str, cwd: Path = ROOT) -> str:
        try:
            return run_pasted(script, self.work / f"{name}.log", env=self.env, cwd=cwd,
                              leaves_nothing_running=True, timeout=900)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n--- the cluster then:\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """Pods, their containers' states and the recent events of every namespace."""
        pods = self.kubectl("get", "pods", "-A", "-o", "wide", check=False)
        events = self.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", check=False)
        images = self.kubectl("get", "nodes", "-o",
                              "jsonpath={range .items[0].status.images[*]}{.names}{'\\n'}{end}",
                              check=False)
        return pods + "\nimages on the node:\n" + images + "\n" + "\n".join(events.splitlines()[-40:])

    def mails(self) -> list[email.message.Message]:
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        return [email.message_from_bytes(p.read_bytes()) for p in sorted(new.iterdir())]

    def operator_pods(self) -> list[dict]:
        pods = self.json("-n", NAMESPACE, "get", "pods", "-l",
                         f"app.kubernetes.io/instance={RELEASE}")["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def lease_holder(self) -> str:
        return self.kubectl("-n", NAMESPACE, "get", "lease", LEASE,
                            "-o", "jsonpath={.spec.holderIdentity}")

    def user_import(self, name: str, namespace: str = "acme") -> dict:
        return self.json("-n", namespace, "get", "userimport", name)

    def tenant_user_versions(self) -> dict[str, str]:
        users = self.json("-n", "acme", "get", "tenantusers")["items"]
        return {u["metadata"]["name"]: u["metadata"]["resourceVersion"] for u in users}


def until(what: str, check, wait: float = 300, every: float = 1.0):
    deadline = time.monotonic() + wait
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {wait} s (last: {last!r})")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    work = tmp_path_factory.mktemp("install")
    procs: list[subprocess.Popen] = []
    try:
        tools = output_of(["scripts/tools", "--print-dir"], timeout=BUILD_WAIT).strip()
        archive = os.environ.get("USER_IMPORT_IMAGE_ARCHIVE")
        if archive:
            image = Path(archive + ".ref").read_text().strip()
        else:
            archive = str(work / "image.tar")
            image = output_of(["scripts/image", "--output", archive],
                              timeout=BUILD_WAIT).strip().splitlines()[-1]
        assert image == f"localhost/user-import-operator:{version()}", image
        kubeconfig = work / "kubeconfig"
        procs.append(start(["scripts/cluster", "--kubeconfig", str(kubeconfig)],
                           work / "cluster.log", "cluster ready"))
        procs.append(start(["scripts/registry", "--addr", REGISTRY, "--root",
                            str(work / "registry")], work / "registry.log", "registry ready"))
        env = fresh_shell_env(str(work), {"KUBECONFIG": str(kubeconfig)})
        env["PATH"] = f"{ROOT / '.ci/.venv/bin'}:{tools}:{env['PATH']}"
        node = json.loads(output_of(["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes",
                                     "-o", "json"], env=env))["items"][0]
        node_ip = next(a["address"] for a in node["status"]["addresses"]
                       if a["type"] == "InternalIP")
        smtp_port = free_port(node_ip)
        maildir = work / "maildir"
        procs.append(start([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                            f"{node_ip}:{smtp_port}", "-c", "aiosmtpd.handlers.Mailbox",
                            str(maildir)], work / "smtp.log", None))
        until("the SMTP server listens", lambda: listens(node_ip, smtp_port), wait=30)
        # The release pipeline's push, to the registry the node pulls from.
        output_of(["podman", "push", "--tls-verify=false", image,
                   f"{REGISTRY}/user-import-operator:{version()}"], timeout=300)
        yield Cluster(work, kubeconfig, node_ip, image, smtp_port, maildir, tools, env)
    finally:
        for proc in reversed(procs):
            stop(proc)


def with_our_values(block: str, values: dict[str, str]) -> str:
    """A block whose first lines set the reader's values (NAME=...), with the test's instead."""
    lines = block.splitlines()
    names = [line.split("=", 1)[0] for line in lines[:len(values)]]
    assert names == list(values), lines[:len(values)]
    return "\n".join([f"{name}={value}" for name, value in values.items()]
                     + lines[len(values):]) + "\n"


def install_block(cluster: Cluster) -> str:
    """docs/cluster.md's install block, with the test's image and relay in its first lines."""
    return with_our_values(fenced_after(CLUSTER_DOC, "<!-- install:"), {
        "IMAGE": f"{REGISTRY}/user-import-operator",
        "SMTP_URL": f"'smtp://{cluster.node_ip}:{cluster.smtp_port}?tls=none'"})


def deployment_available(cluster: Cluster) -> bool:
    deployment = cluster.json("-n", NAMESPACE, "get", "deployment", RELEASE)
    status = deployment["status"]
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return (conditions.get("Available") == "True"
            and status.get("readyReplicas") == 2
            and status.get("updatedReplicas") == 2
            and status.get("replicas") == 2)


def held_by_a_pod(cluster: Cluster) -> str | None:
    holder = cluster.lease_holder()
    names = [p["metadata"]["name"] for p in cluster.operator_pods()]
    owner = [n for n in names if holder.startswith(n + "-")]
    return owner[0] if owner else None


def test_install_block_makes_the_deployment_available(cluster):
    started = time.monotonic()
    cluster.paste(install_block(cluster), "install")
    until("the Deployment is Available with 2 ready replicas",
          lambda: deployment_available(cluster), wait=300)
    print(f"helm install to Available: {time.monotonic() - started:.1f} s")
    pods = cluster.operator_pods()
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"] == f"{REGISTRY}/user-import-operator:{version()}"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["status"]
    # One replica holds the Lease, the other stands by (and is ready as a standby).
    until("one pod holds the Lease", lambda: held_by_a_pod(cluster), wait=60)


def test_example_is_imported_and_mailed_once(cluster):
    output = cluster.paste(fenced_after(CLUSTER_DOC, "<!-- install-example -->"), "example")
    assert "SucceededWithProblems" in output, output
    status = cluster.user_import("acme-2026-11")["status"]
    assert status["phase"] == "SucceededWithProblems"
    assert (status["counts"]["new"], status["counts"]["update"], status["counts"]["problem"]) == (5, 5, 10)
    until("the error report is sent",
          lambda: cluster.user_import("acme-2026-11")["status"]["errorReport"]["state"] == "Sent")
    mails = until("one mail arrives", cluster.mails, wait=60)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == "\"Ada Admin\" <admin@acme.test>"
    attachments = [part for part in mail.walk() if part.get_filename()]
    assert len(attachments) == 1
    name = attachments[0].get_filename()
    assert name.startswith("User Sync Error Report - Acme Corp - ") and name.endswith(".csv")
    rows = attachments[0].get_payload(decode=True).decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 1 + 10


def scrape(cluster: Cluster, pod: str) -> tuple[dict[str, set[str]], set[str]]:
    """A pod's /metrics through the API server's proxy: every sample name with the labels its
    samples carry (a labelled family with no sample yet has its names and no labels), and the
    families' names from `# TYPE`."""
    text = cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}:8080/proxy/metrics")
    samples: dict[str, set[str]] = {}
    families = set()
    suffixes = {"counter": ["_total", "_created"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count", "_created"]}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            families.add(family)
            for suffix in suffixes[kind]:
                samples.setdefault(family + suffix, set())
        elif line and not line.startswith("#"):
            found = re.match(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s", line)
            assert found, line
            labels = re.findall(r'(\w+)="', found.group(2) or "")
            samples.setdefault(found.group(1), set()).update(labels)
    assert text.rstrip().endswith("# EOF"), text[-200:]
    return samples, families


def test_metrics_the_alerts_and_dashboard_query_are_exposed(cluster):
    """Every metric and label that the chart's PrometheusRule and Grafana dashboard query from
    the operator is one that the leader's /metrics exposes after the example import (a reconcile
    error is caused first, in a namespace of its own, so that the errors' label is seen too);
    the others are kube-state-metrics' (tests/chart/test_prometheus_rules.py checks those)."""
    sys.path.insert(0, str(ROOT / "tests" / "chart"))
    import promql  # noqa: E402
    promql.self_check()
    leader = until("a pod holds the Lease", lambda: held_by_a_pod(cluster), wait=120)
    # A template URL that refuses connections: a TemplateFetch error, retried with back-off. The
    # node's address, not loopback, which --allowed-template-hosts refuses before any request.
    cluster.kubectl("create", "namespace", "metrics-check")
    try:
        objects = [
            {"apiVersion": "riskassess.io/v1alpha1", "kind": "Tenant",
             "metadata": {"name": "probe", "namespace": "metrics-check"},
             "spec": {"displayName": "Probe"}},
            {"apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport",
             "metadata": {"name": "unreachable", "namespace": "metrics-check"},
             "spec": {"tenantRef": {"name": "probe"},
                      "template": {"url": {"url": f"https://{cluster.node_ip}:9/users.csv",
                                               "interval": "1h"}}}},
        ]
        path = cluster.work / "metrics-check.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        cluster.kubectl("apply", "-f", str(path))
        samples, _ = until("the TemplateFetch error is counted", lambda: (
            (found := scrape(cluster, leader))[0].get("user_import_reconcile_failures_total") and found), wait=120)
    finally:
        cluster.kubectl("delete", "namespace", "metrics-check", "--wait=false", check=False)
    samples, families = scrape(cluster, leader)
    assert samples["user_import_rows_total"] == {"result"}
    assert samples["user_import_reconcile_failures_total"] == {"error"}
    assert samples["user_import_report_deliveries_total"] == {"result"}
    # The leader's gauges of the UserImports by state (the example import's among them).
    assert samples["user_import_imports"] == {"namespace", "phase", "stalled_reason"}
    assert samples["user_import_error_reports"] == {"namespace", "state", "reason"}
    # The rules as the real Helm CLI renders them for this release.
    import yaml  # noqa: E402
    rule = yaml.safe_load(subprocess.run(
        ["helm", "template", RELEASE, str(ROOT / "charts" / "user-import-operator"), "--namespace", NAMESPACE,
         "--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml"],
        capture_output=True, text=True, env=cluster.env, check=True).stdout)
    queries = [promql.parse(e) for e in promql.rule_exprs(rule).values()]
    queries += [promql.parse(e) for e in promql.dashboard_exprs()] + promql.dashboard_variable_queries()
    external = promql.external_metrics()
    used = set()
    for query in queries:
        labels_of_query = set(promql.TARGET_LABELS)
        for metric, labels in query.selectors.items():
            if metric.startswith(promql.OPERATOR_PREFIX):
                used.add(metric)
                assert metric in samples, (metric, query.expr, sorted(samples))
                # As Prometheus stores them: a label the target has too is `exported_`.
                exposed = promql.as_scraped(samples[metric])
                assert labels <= exposed | promql.TARGET_LABELS, (metric, labels, query.expr)
                labels_of_query |= exposed
            else:
                assert metric in external, (metric, query.expr)
                labels_of_query |= external[metric]
        assert query.grouping <= labels_of_query, (query.grouping, query.expr)
    # Every family the operator exposes is on the dashboard or in an alert.
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", m) for m in used}
    assert families <= shown, f"not on the dashboard nor in an alert: {sorted(families - shown)}"


def test_readme_plugin_shows_the_import_as_the_readme_does(cluster):
    """README's kubectl plugin blocks pasted: the install (into ~/.local/bin, which a login
    shell has on its PATH) and `kubectl user-import status`, whose output is the README's but for
    the dates and times."""
    readme = ROOT / "README.md"
    install = fenced_after(readme, "Install it by putting the binary")
    status = fenced_after(readme, "piped into a file")
    expected = fenced_after(readme, "```text\nName:")
    env = dict(cluster.env, PATH=f"{cluster.work / '.local/bin'}:{cluster.env['PATH']}")
    output = run_pasted(install + status, cluster.work / "plugin.log", env=env, timeout=900)
    dates = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?")
    shown = output[output.index("Name:"):]
    assert dates.sub("DATE", shown).strip() == dates.sub("DATE", expected).strip()


def test_leader_moves_when_its_pod_dies_and_an_import_completes_once(cluster):
    """The leader's pod deleted: its process releases the Lease on SIGTERM, and another pod takes
    it. That is the standby or, as often, the pod the ReplicaSet starts in its place: a standby
    looks at a held Lease again only when the holder's term would end (kube-lease-manager),
    while a new pod looks at once. Either way one pod leads, and an import created meanwhile
    completes once."""
    leader = until("a leader", lambda: held_by_a_pod(cluster), wait=60)
    versions = cluster.tenant_user_versions()
    mails = len(cluster.mails())
    started = time.monotonic()
    cluster.kubectl("-n", NAMESPACE, "delete", "pod", leader, "--wait=false")
    # Meanwhile a second import of the same template: every applied row is now stored.
    subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
                   input=json.dumps(second_import("acme-2026-12")), text=True, check=True,
                   env=cluster.env, capture_output=True)
    new_leader = until("the Lease moves to another pod",
                       lambda: (held_by_a_pod(cluster) or leader) != leader
                       and held_by_a_pod(cluster), wait=60)
    print(f"leader's pod deleted to a new holder ({new_leader}): {time.monotonic() - started:.1f} s")
    done = until("the second import finishes",
                 lambda: (cluster.user_import("acme-2026-12").get("status", {})
                          .get("errorReport", {}).get("state") == "Sent"), wait=300)
    assert done
    print(f"leader's pod deleted to the next import finished: {time.monotonic() - started:.1f} s")
    status = cluster.user_import("acme-2026-12")["status"]
    assert status["phase"] == "SucceededWithProblems"
    assert (status["counts"]["new"], status["counts"]["problem"]) == (0, 10), status["counts"]
    assert status["errorReport"]["attempts"] == 1
    # Nothing written twice: the users are as the first import left them; one mail more.
    assert cluster.tenant_user_versions() == versions
    time.sleep(10)
    assert len(cluster.mails()) == mails + 1


def second_import(name: str) -> dict:
    return {
        "apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport",
        "metadata": {"name": name, "namespace": "acme"},
        "spec": {"tenantRef": {"name": "acme"},
                 "template": {"configMapKeyRef": {"name": "acme-user-import", "key": "template.csv"}},
                 "mode": "Apply", "onProblem": "Continue"},
    }


def finished_imports(cluster: Cluster) -> dict[str, tuple]:
    items = cluster.json("-n", "acme", "get", "userimports")["items"]
    return {i["metadata"]["name"]: (i["status"]["completedAt"], i["status"]["errorReport"]["attempts"],
                                    i["status"]["errorReport"].get("sentAt"))
            for i in items}


@dataclass
class Done:
    """What the operator has done so far: finished imports, stored users, mails sent."""
    imports: dict[str, tuple]
    users: dict[str, str]
    mails: int

    @staticmethod
    def now(cluster: Cluster) -> "Done":
        return Done(finished_imports(cluster), cluster.tenant_user_versions(), len(cluster.mails()))


def assert_nothing_more_done(cluster: Cluster, before: Done) -> None:
    """Once a pod leads again and has had time to look at every import: nothing imported again,
    no user written, no mail sent."""
    until("a pod holds the Lease", lambda: held_by_a_pod(cluster), wait=120)
    time.sleep(15)
    assert Done.now(cluster) == before


def test_helm_upgrade_rolls_the_pods_and_imports_nothing_again(cluster):
    before = {p["metadata"]["name"] for p in cluster.operator_pods()}
    done = Done.now(cluster)
    cluster.paste(fenced_after(CLUSTER_DOC, "<!-- upgrade -->"), "upgrade")
    until("the Deployment is Available again", lambda: deployment_available(cluster), wait=300)
    after = {p["metadata"]["name"] for p in cluster.operator_pods()}
    assert not before & after, (before, after)
    for pod in cluster.operator_pods():
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["RUST_LOG"] == "debug"
    assert_nothing_more_done(cluster, done)


def test_logs_are_json_lines_without_errors(cluster):
    for pod in cluster.operator_pods():
        name = pod["metadata"]["name"]
        logs = cluster.kubectl("-n", NAMESPACE, "logs", name)
        lines = [line for line in logs.splitlines() if line.strip()]
        assert lines, f"{name} logged nothing"
        for line in lines:
            entry = json.loads(line)
            assert entry["level"] not in ("ERROR",), line


def test_uninstall_keeps_the_data_and_a_reinstall_writes_nothing(cluster):
    done = Done.now(cluster)
    cluster.paste(fenced_after(CLUSTER_DOC, "<!-- uninstall -->"), "uninstall")
    until("the operator's pods are gone", lambda: not cluster.operator_pods(), wait=120)
    crds = cluster.kubectl("get", "crds", "-o", "name")
    for crd in ("tenants", "tenantusers", "userimports"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}.riskassess.io" in crds
    assert cluster.kubectl("-n", "acme", "get", "tenant", "acme", "-o", "name")
    assert cluster.tenant_user_versions() == done.users
    cluster.paste(install_block(cluster), "reinstall")
    until("the Deployment is Available again", lambda: deployment_available(cluster), wait=300)
    assert_nothing_more_done(cluster, done)


def notes_commands(notes: str) -> str:
    """The lines of NOTES.txt to paste: every kubectl line, and the heredoc's body."""
    lines, in_heredoc = [], False
    for line in notes.splitlines():
        if in_heredoc or line.startswith("kubectl "):
            lines.append(line)
        if line.startswith("kubectl ") and line.endswith("<<'YAML'"):
            in_heredoc = True
        elif line == "YAML":
            in_heredoc = False
    assert not in_heredoc, notes
    return "\n".join(lines) + "\n"


def test_the_commands_helm_prints_work_as_pasted(cluster):
    notes = subprocess.run(["helm", "get", "notes", RELEASE, "--namespace", NAMESPACE],
                           capture_output=True, text=True, env=cluster.env, check=True).stdout
    script = notes_commands(notes)
    assert "kind: UserImport" in script and "get userimports" in script, script
    folder = cluster.work / "notes"
    folder.mkdir()
    (folder / "users.csv").write_bytes((ROOT / "examples/template.csv").read_bytes())
    output = cluster.paste(script, "notes", cwd=folder)
    status = cluster.user_import("acme-users", namespace="tenant-a")["status"]
    # An empty tenant: `plan` of the example against no users says New 13, Problem 8.
    assert (status["counts"]["new"], status["counts"]["problem"]) == (13, 8), status
    assert "acme-users" in output
    # DryRun: nothing was written into the tenant's namespace.
    assert not cluster.json("-n", "tenant-a", "get", "tenantusers")["items"]


def big_template(rows: int, title: str) -> str:
    lines = ["First Name,Last Name,Email,Coupa Username,Coupa User ID,Status,Title,City"]
    lines += [f"Ann,Lee{i},user{i}@big.test,user{i},{i},Active,{title if i % 2 else 'Analyst'},Boston"
              for i in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def container_memory_peak(cluster: Cluster, pod: dict) -> int:
    """The container's peak memory since it started, from its memory cgroup on the node."""
    uid = pod["metadata"]["uid"]
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://")[-1]
    found = [p for p in Path("/sys/fs/cgroup/memory").rglob("memory.max_usage_in_bytes")
             if container_id in str(p) and (uid in str(p) or uid.replace("-", "_") in str(p))]
    assert len(found) == 1, found
    return int(found[0].read_text())


def test_pod_memory_importing_ten_thousand_rows_into_ten_thousand_users(cluster):
    """Two imports in a tenant of its own: 10,000 new users, then the same 10,000 rows with half
    of them changed, against those 10,000 users. The leader's container's peak over both is
    read from its memory cgroup and must stay under the chart's limit."""
    rows = 10_000
    cluster.kubectl("create", "namespace", "big")
    tenant = {"apiVersion": "riskassess.io/v1alpha1", "kind": "Tenant",
              "metadata": {"name": "big", "namespace": "big"},
              "spec": {"displayName": "Big Corp",
                       "defaultSiteAdministrator": {"name": "Ada", "email": "admin@big.test"}}}
    subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
                   input=json.dumps(tenant), text=True, check=True, env=cluster.env,
                   capture_output=True)
    started = time.monotonic()
    for name, title in (("big-1", "Analyst"), ("big-2", "Lead")):
        template = cluster.work / f"{name}.csv"
        template.write_text(big_template(rows, title))
        cluster.kubectl("-n", "big", "create", "configmap", name, f"--from-file=template.csv={template}")
        spec = {"apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport",
                "metadata": {"name": name, "namespace": "big"},
                "spec": {"tenantRef": {"name": "big"}, "mode": "Apply",
                         "template": {"configMapKeyRef": {"name": name, "key": "template.csv"}}}}
        subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
                       input=json.dumps(spec), text=True, check=True, env=cluster.env,
                       capture_output=True)
        cluster.kubectl("-n", "big", "wait", f"userimport/{name}", "--for", "condition=Ready",
                        "--timeout=600s")
    counts = [cluster.user_import(n, namespace="big")["status"]["counts"] for n in ("big-1", "big-2")]
    assert (counts[0]["new"], counts[1]["update"], counts[1]["unchanged"]) == (rows, rows // 2, rows // 2), counts
    leader = held_by_a_pod(cluster)
    pod = next(p for p in cluster.operator_pods() if p["metadata"]["name"] == leader)
    peak = container_memory_peak(cluster, pod)
    limit = cluster.json("-n", NAMESPACE, "get", "deployment", RELEASE)["spec"]["template"]["spec"][
        "containers"][0]["resources"]["limits"]["memory"]
    print(f"two imports of {rows} rows: {time.monotonic() - started:.1f} s; "
          f"leader's peak memory {peak / 2**20:.1f} MiB (limit {limit})")
    assert limit.endswith("Mi") and peak < int(limit[:-2]) * 2**20


def test_the_guides_other_blocks_work_on_the_cluster(cluster):
    """The remaining blocks of the chart README and the cluster guide: the CRDs applied after an
    upgrade, the mail section's manifests (accepted by the API server, in a server-side dry run,
    so the example tenant keeps its settings), and the Flux upgrade, which rolls the pods."""
    crds = fenced_after(ROOT / "charts/user-import-operator/README.md", "apply them yourself:")
    assert crds.startswith("kubectl apply --server-side"), crds
    cluster.paste(crds, "crds")
    mail = CLUSTER_DOC.read_text()
    mail = mail[mail.index("## Configure mail"):mail.index("## GitOps")]
    manifests = re.findall(r"```yaml\n(.*?)```", mail, re.S)
    assert len(manifests) == 2, manifests
    for manifest in manifests:
        result = subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply",
                                 "--dry-run=server", "-f", "-"], input=manifest, text=True,
                                env=cluster.env, capture_output=True)
        assert result.returncode == 0, (manifest, result.stderr)
    flux = fenced_after(CLUSTER_DOC, "- **HTTPS URLs**")
    assert "fluxSources.enabled=true" in flux, flux
    before = {p["metadata"]["name"] for p in cluster.operator_pods()}
    cluster.paste(flux, "flux")
    until("the Deployment is Available again", lambda: deployment_available(cluster), wait=300)
    pods = cluster.operator_pods()
    assert not before & {p["metadata"]["name"] for p in pods}
    for pod in pods:
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["USER_IMPORT_FLUX_SOURCES"] == "true"


def can_i(cluster: Cluster, user: str, verb: str, resource: str) -> bool:
    answer = cluster.kubectl("auth", "can-i", verb, resource, "-n", "acme", "--as", user, check=False)
    return answer.strip() == "yes"


def test_users_default_roles_carry_the_operators_resources(cluster):
    """The chart's users' ClusterRoles, aggregated by kube-controller-manager into view, edit
    and admin: a namespace's viewer reads imports, its editor starts them but cannot change a
    Tenant (where reports go), its admin can; nobody but the operator writes TenantUsers."""
    for user, role in (("vera", "view"), ("ed", "edit"), ("ada", "admin")):
        cluster.kubectl("-n", "acme", "create", "rolebinding", f"{user}-{role}",
                        f"--clusterrole={role}", f"--user={user}")
    until("edit carries the operator's rules",
          lambda: can_i(cluster, "ed", "create", "userimports.riskassess.io"), wait=60)
    expected = {
        ("vera", "list", "userimports.riskassess.io"): True,
        ("vera", "get", "tenantusers.riskassess.io"): True,
        ("vera", "create", "userimports.riskassess.io"): False,
        ("ed", "create", "userimports.riskassess.io"): True,
        ("ed", "patch", "tenants.riskassess.io"): False,
        ("ed", "patch", "tenantusers.riskassess.io"): False,
        ("ada", "patch", "tenants.riskassess.io"): True,
        ("ada", "delete", "tenantusers.riskassess.io"): True,
        ("ada", "create", "tenantusers.riskassess.io"): False,
    }
    assert {key: can_i(cluster, *key) for key in expected} == expected


def test_one_release_per_namespace_reads_only_that_namespace(cluster):
    """docs/security.md's block: a second release that watches `acme` only, with a Role there and
    no ClusterRole of its own; it sees the finished imports of `acme` and writes nothing."""
    done = Done.now(cluster)
    block = fenced_after(ROOT / "docs/security.md", "<!-- one-release-per-namespace:")
    cluster.paste(with_our_values(block, {"IMAGE": f"{REGISTRY}/user-import-operator"}),
                  "one-release")
    roles = cluster.json("-n", "acme", "get", "roles")["items"]
    assert any(r["metadata"]["name"] == "user-import-operator-acme" for r in roles)
    cluster_roles = {r["metadata"]["name"] for r in cluster.json("get", "clusterroles")["items"]}
    assert "user-import-operator-acme" not in cluster_roles
    assert "user-import-operator-acme-view" in cluster_roles
    time.sleep(15)
    assert Done.now(cluster) == done
    subprocess.run(["helm", "uninstall", "user-import-operator-acme", "--namespace", "user-import-operator-acme", "--wait"],
                   env=cluster.env, check=True, capture_output=True)


KSTATUS_NAMESPACE = "kstatus"
GOOD_TEMPLATE = ("First Name,Last Name,Email,Coupa Username,Coupa User ID,Status\n"
                 "Kim,Stat,kim@kstatus.test,kim,5001,Active\n"
                 "Lou,Stat,lou@kstatus.test,lou,5002,Active\n")
# No Email and no Coupa User ID column: rejected whole.
REJECTED_TEMPLATE = "First Name,Last Name,Coupa Username\nKim,Stat,kim\n"


def kstatus_import(name: str, template: dict) -> dict:
    return {"apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport",
            "metadata": {"name": name, "namespace": KSTATUS_NAMESPACE},
            "spec": {"tenantRef": {"name": "stat"}, "mode": "Apply", "template": template}}


def kstatus_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_kstatus_reads_each_phase_as_docs_status_promises(cluster):
    """docs/status.md's promise to Flux, checked with kstatus itself (sigs.k8s.io/cli-utils
    v0.37.2, tests/kstatus): a watch started before the imports computes kstatus on every
    status the operator writes. Running reads InProgress, a finished import Current, a stalled
    one (a rejected template, a missing key) Failed, a download being retried InProgress, and a
    new generation InProgress until the operator has seen it; InProgress and Failed carry the
    message of the Ready condition."""
    kstatus = output_of(["scripts/tools", "--print-kstatus"], timeout=BUILD_WAIT).strip()
    ns = KSTATUS_NAMESPACE
    cluster.kubectl("create", "namespace", ns)
    tenant = {"apiVersion": "riskassess.io/v1alpha1", "kind": "Tenant",
              "metadata": {"name": "stat", "namespace": ns},
              "spec": {"displayName": "Stat Corp",
                       "defaultSiteAdministrator": {"name": "Ada", "email": "admin@kstatus.test"}}}
    watch_out, watch_err = cluster.work / "kstatus-watch.jsonl", cluster.work / "kstatus-watch.err"
    watcher = subprocess.Popen([kstatus, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ns,
                                "--watch", "--timeout", "15m"],
                               stdout=watch_out.open("w"), stderr=watch_err.open("w"))
    try:
        until("kstatus watches", lambda: "watching from" in watch_err.read_text()
              or watcher.poll() is not None, wait=60)
        assert watcher.poll() is None, watch_err.read_text()
        for name, text in (("good", GOOD_TEMPLATE), ("rejected", REJECTED_TEMPLATE)):
            (cluster.work / f"kstatus-{name}.csv").write_text(text)
        cluster.kubectl("-n", ns, "create", "configmap", "templates",
                        f"--from-file=good.csv={cluster.work / 'kstatus-good.csv'}",
                        f"--from-file=rejected.csv={cluster.work / 'kstatus-rejected.csv'}")
        closed_port = free_port(cluster.node_ip)  # nothing listens there: connection refused
        objects = [tenant,
                   kstatus_import("done", {"configMapKeyRef": {"name": "templates", "key": "good.csv"}}),
                   kstatus_import("rejected", {"configMapKeyRef": {"name": "templates", "key": "rejected.csv"}}),
                   kstatus_import("missing-key", {"configMapKeyRef": {"name": "templates", "key": "absent.csv"}}),
                   kstatus_import("fetch-failed", {"url": {
                       "url": f"https://{cluster.node_ip}:{closed_port}/users.csv", "interval": "1h"}})]
        subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
                       input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
                       text=True, check=True, env=cluster.env, capture_output=True)

        def condition(name: str, type_: str) -> dict:
            status = cluster.user_import(name, namespace=ns).get("status", {})
            return next((c for c in status.get("conditions", []) if c["type"] == type_), {})

        until("done is Ready", lambda: condition("done", "Ready").get("status") == "True", wait=300)
        until("rejected stalls", lambda: condition("rejected", "Stalled").get("reason") == "TemplateRejected")
        until("missing-key stalls", lambda: condition("missing-key", "Stalled").get("reason") == "TemplateKeyNotFound")
        until("fetch-failed retries", lambda: condition("fetch-failed", "Reconciling").get("reason") == "TemplateFetchFailed")
        # A new generation: InProgress until the operator has observed it, Current again after.
        cluster.kubectl("-n", ns, "patch", "userimport", "done", "--type", "merge",
                        "-p", '{"spec":{"mode":"DryRun"}}')
        until("done is Ready for generation 2",
              lambda: (cluster.user_import("done", namespace=ns).get("status", {})
                       .get("observedGeneration") == 2 and condition("done", "Ready").get("status") == "True"),
              wait=300)

        listed = output_of([kstatus, "--kubeconfig", str(cluster.kubeconfig), "--namespace", ns])
    finally:
        watcher.terminate()
        watcher.wait(30)
    seen = kstatus_lines(watch_out)
    for line in seen:
        print(f"kstatus: {line['event']:8} {line['name']:12} gen {line['generation']} "
              f"{line.get('phase', '-'):14} {line['status']:10} {line['message']}")
    now = {line["name"]: line for line in map(json.loads, listed.splitlines())}

    # Now, as `kstatus` lists them.
    assert {name: (line["phase"], line["status"]) for name, line in now.items()} == {
        "done": ("Succeeded", "Current"),
        "rejected": ("Failed", "Failed"),
        "missing-key": ("Pending", "Failed"),
        "fetch-failed": ("Failed", "InProgress"),
    }, now
    assert now["done"]["message"] == "Resource is Ready", now["done"]
    for name in ("rejected", "missing-key", "fetch-failed"):
        assert now[name]["message"] == now[name]["ready"]["message"] != "", now[name]

    # Every status the operator wrote, as the watch saw it (an object before its first status,
    # which kstatus reads as Current, is the moment docs/status.md speaks of: the first
    # reconcile writes one at once).
    written = [line for line in seen if line.get("phase")]
    for line in written:
        ready = line["ready"]
        if ready["status"] == "True" and line["status"] != "InProgress":
            assert line["status"] == "Current", line
        else:
            assert line["status"] in ("InProgress", "Failed"), line
            assert line["message"] == ready["message"] or line["message"].startswith(
                "UserImport generation is "), line
    done = [line for line in written if line["name"] == "done"]
    assert any(line["phase"] == "Running" and line["status"] == "InProgress"
               and line["message"] == "the import is running" for line in done), done
    # Never Current before the import finished, nor Failed on its way.
    assert all(line["status"] == "InProgress" for line in done
               if line["phase"] not in ("Succeeded", "SucceededWithProblems")), done
    assert not any(line["status"] == "Failed" for line in done), done
    assert any(line["generation"] == 2 and line["status"] == "InProgress"
               and line["message"] == "UserImport generation is 2, but latest observed generation is 1"
               for line in done), done
    assert done[-1]["generation"] == 2 and done[-1]["status"] == "Current", done[-1]
    for name in ("rejected", "missing-key"):
        assert {line["status"] for line in written if line["name"] == name} == {"Failed"}, name
