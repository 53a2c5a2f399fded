"""docs/upgrading.md on a real API server (scripts/control-plane) with the real Helm CLI.

1. The CRD block, pasted from a "new release" whose CRDs changed, applies over a Helm install,
   where a plain `kubectl apply --server-side` is refused with conflicts (why the page names
   Helm's field manager). The rollback block rolls a release back.
2. The `v1alpha1` → `v1beta1` rehearsal: a schema-compatible `v1beta1` of the TenantUser CRD,
   served and then stored, over a cluster holding TenantUsers. No TenantUser changes, and both
   versions read the same objects.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pasting import ROOT, fenced_after, fresh_shell_env, run_pasted  # noqa: E402

PAGE = ROOT / "docs/upgrading.md"
CRDS = ROOT / "crds"
GROUP = "riskassess.io"
READY_WAIT = 600  # a cold machine builds the control plane first


def helm_dir() -> str:
    """The folder of the Helm CLI that scripts/tools builds (.ci/run builds it first)."""
    out = subprocess.run(["scripts/tools", "--print-dir"], cwd=ROOT, capture_output=True,
                         text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    folder = out.stdout.strip()
    assert (Path(folder) / "helm").is_file(), folder
    return folder


@pytest.fixture(scope="module")
def cluster():
    """A control plane of this module's own, its kubeconfig, and a shell environment for it."""
    work = Path(tempfile.mkdtemp(prefix="upgrading-"))
    kubeconfig = work / "kubeconfig"
    log = (work / "control-plane.log").open("w")
    runner = subprocess.Popen(["scripts/control-plane", "--kubeconfig", str(kubeconfig)],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + READY_WAIT
    while "control plane ready" not in (work / "control-plane.log").read_text():
        assert runner.poll() is None, (work / "control-plane.log").read_text()
        assert time.monotonic() < deadline, "the control plane did not start"
        time.sleep(0.2)
    env = fresh_shell_env(str(work / "home"), {"KUBECONFIG": str(kubeconfig)})
    (work / "home").mkdir()
    env["PATH"] = ":".join([helm_dir(), str(ROOT / ".ci/.venv/bin"), env["PATH"]])
    try:
        yield env
    finally:
        runner.terminate()
        runner.wait(timeout=60)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True,
                         text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out


def crd_documents() -> list[dict]:
    return [doc for path in sorted(CRDS.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_crd_block_applies_changed_crds_over_a_helm_install(cluster, tmp_path):
    helm = ["helm", "--namespace", "user-import-operator"]
    # The chart's install, as Helm 4 does it: crds/ by server-side apply, manager "helm". No
    # pod has to run for this test, so the image is a name only.
    out = subprocess.run([*helm, "install", "user-import-operator",
                          str(ROOT / "charts/user-import-operator"), "--create-namespace",
                          "--set", "image.repository=example.invalid/user-import-operator"],
                         env=cluster, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    managers = json.loads(kubectl(cluster, "get", "crd", f"tenantusers.{GROUP}", "-o", "json",
                                  "--show-managed-fields").stdout)["metadata"]["managedFields"]
    assert {"helm"} <= {entry["manager"] for entry in managers}, managers

    # A "new release": the same CRDs with a changed description in every one.
    release = tmp_path / "release"
    (release / "crds").mkdir(parents=True)
    changed = []
    for doc in crd_documents():
        doc = copy.deepcopy(doc)
        for version in doc["spec"]["versions"]:
            version["schema"]["openAPIV3Schema"]["description"] = "Changed by the next release."
        changed.append(doc)
    (release / "crds/riskassess.io.yaml").write_text(yaml.safe_dump_all(changed))

    refused = kubectl(cluster, "apply", "--server-side", "-f", str(release / "crds"),
                      check=False)
    assert refused.returncode != 0
    assert 'conflict with "helm"' in refused.stderr, refused.stderr

    run_pasted(fenced_after(PAGE, "<!-- upgrade-crds -->"), tmp_path / "crds.log",
               env=cluster, cwd=release)
    for doc in changed:
        live = json.loads(kubectl(cluster, "get", "crd", doc["metadata"]["name"], "-o",
                                  "json").stdout)
        for version in live["spec"]["versions"]:
            assert version["schema"]["openAPIV3Schema"]["description"] == \
                "Changed by the next release."

    # The rollback block: a second revision (one value changed), rolled back to the first.
    out = subprocess.run([*helm, "upgrade", "user-import-operator",
                          str(ROOT / "charts/user-import-operator"), "--reuse-values",
                          "--set", "logging.level=debug"],
                         env=cluster, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    # `--wait` waits for pods, which cannot run here (no nodes): the block is pasted without it,
    # and the test checks the revision instead.
    block = fenced_after(PAGE, "<!-- rollback -->").replace(" --wait", "")
    assert block != fenced_after(PAGE, "<!-- rollback -->")
    run_pasted(block, tmp_path / "rollback.log", env=cluster)
    history = json.loads(subprocess.run([*helm, "history", "user-import-operator", "-o", "json"],
                                        env=cluster, capture_output=True, text=True,
                                        timeout=60).stdout)
    assert [entry["revision"] for entry in history] == [1, 2, 3], history
    values = json.loads(subprocess.run([*helm, "get", "values", "user-import-operator", "-o",
                                        "json"], env=cluster, capture_output=True, text=True,
                                       timeout=60).stdout)
    assert "logging" not in values, values


def tenant_users(env: dict[str, str], version: str, namespace: str) -> dict[str, dict]:
    """The namespace's TenantUsers read through `version`: name → (resourceVersion, spec, labels)."""
    listed = json.loads(kubectl(env, "get", f"tenantusers.{version}.{GROUP}", "-n", namespace,
                                "-o", "json").stdout)
    users = {}
    for item in listed["items"]:
        assert item["apiVersion"] == f"{GROUP}/{version}"
        users[item["metadata"]["name"]] = {
            "resourceVersion": item["metadata"]["resourceVersion"],
            "labels": item["metadata"].get("labels"),
            "spec": item["spec"],
        }
    return users


def tenant_user_crd_with_beta(storage: str) -> dict:
    """The generated TenantUser CRD with a `v1beta1` copy of `v1alpha1`; `storage` stores."""
    crd = next(doc for doc in crd_documents() if doc["metadata"]["name"] == f"tenantusers.{GROUP}")
    alpha = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    beta = copy.deepcopy(alpha)
    beta["name"] = "v1beta1"
    alpha["storage"] = storage == "v1alpha1"
    beta["storage"] = storage == "v1beta1"
    crd["spec"]["versions"].append(beta)
    # No webhook: the versions' schemas are the same, so the server converts by apiVersion.
    crd["spec"]["conversion"] = {"strategy": "None"}
    return crd


def test_a_v1beta1_version_keeps_every_tenant_user(cluster):
    namespace = "acme"  # the namespace examples/records.yaml names
    kubectl(cluster, "create", "namespace", namespace)
    kubectl(cluster, "apply", "--server-side", "--field-manager=helm", "-f", str(CRDS))
    kubectl(cluster, "wait", "--for", "condition=established", "--timeout=60s", "-f", str(CRDS))
    kubectl(cluster, "apply", "-n", namespace, "--server-side", "-f",
            str(ROOT / "examples/records.yaml"))
    before = tenant_users(cluster, "v1alpha1", namespace)
    assert len(before) >= 5, before

    for storage in ("v1alpha1", "v1beta1"):
        kubectl(cluster, "apply", "--server-side", "--field-manager=helm", "-f", "-",
                stdin=json.dumps(tenant_user_crd_with_beta(storage)))
        kubectl(cluster, "wait", "--for", "condition=established", "--timeout=60s",
                f"crd/tenantusers.{GROUP}")
        deadline = time.monotonic() + 60
        while True:  # the new version is served once discovery has it
            out = kubectl(cluster, "get", f"tenantusers.v1beta1.{GROUP}", "-n", namespace,
                          check=False)
            if out.returncode == 0:
                break
            assert time.monotonic() < deadline, out.stderr
            time.sleep(0.5)
        assert tenant_users(cluster, "v1alpha1", namespace) == before
        assert tenant_users(cluster, "v1beta1", namespace) == before

    # One written at v1beta1 now: both versions read it, and it is stored at v1beta1.
    created = {
        "apiVersion": f"{GROUP}/v1beta1", "kind": "TenantUser",
        "metadata": {"name": "acme-beta", "labels": {f"{GROUP}/tenant": "acme"}},
        "spec": {"username": "beta@acme.example", "coupaUserId": "990"},
    }
    kubectl(cluster, "apply", "-n", namespace, "--server-side", "-f", "-",
            stdin=json.dumps(created))
    alpha = tenant_users(cluster, "v1alpha1", namespace)
    beta = tenant_users(cluster, "v1beta1", namespace)
    assert alpha == beta
    assert set(alpha) == set(before) | {"acme-beta"}
    assert alpha["acme-beta"]["spec"]["coupaUserId"] == "990"
    stored = json.loads(kubectl(cluster, "get", "crd", f"tenantusers.{GROUP}", "-o",
                                "json").stdout)["status"]["storedVersions"]
    assert stored == ["v1alpha1", "v1beta1"], stored
