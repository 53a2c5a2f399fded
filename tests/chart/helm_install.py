"""Installs the chart with real Helm into a cluster, reads the objects back and validates them.

    python3 tests/chart/helm_install.py KUBECONFIG RELEASE NAMESPACE [VALUES_JSON]
    python3 tests/chart/helm_install.py KUBECONFIG RELEASE NAMESPACE --uninstall

Used by tests/chart_install.rs against a real kube-apiserver of its own. Steps:

1. `helm install` through Helm's own Go library (helm-python-sdk's `Config.install`): the
   chart's CRDs from crds/, the release Secret, every rendered object, in Helm's order;
   `create_namespace` as `helm install --create-namespace` does; then `helm upgrade
   --reuse-values` (the README's upgrade) to revision 2.
2. Every object of the release manifest is read back from the API server with
   `kubectl get KIND NAME -o yaml` and validated with kubernetes-validate `--strict` (the CLI,
   as a user would run it), and so are the installed CRDs.
3. Prints one JSON document on standard output: {"manifest": [...rendered...],
   "installed": [...read back...], "notes": "..."}.

With --uninstall: `helm uninstall`, then checks that the CRDs are still there (Helm never
deletes them).

Any failure exits non-zero with the reason on standard error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "user-import-operator"
KUBE_VERSION = "1.37.0"


def tool(name: str) -> str:
    exe = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(exe).exists():
        sys.exit(f"{name} not found: install tests/chart/requirements.txt into the PATH's venv")
    return exe


def kubectl(kubeconfig: str, *args: str) -> str:
    result = subprocess.run(
        [tool("kubectl"), "--kubeconfig", kubeconfig, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def validate_strict(docs: list[dict]) -> None:
    """kubernetes-validate --strict over the read-back objects, one file each."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, doc in enumerate(docs):
            path = Path(tmp) / f"{i:02d}-{doc['kind']}-{doc['metadata']['name']}.yaml"
            path.write_text(yaml.safe_dump(doc))
            files.append(str(path))
        result = subprocess.run(
            [tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, *files],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            sys.exit(f"kubernetes-validate --strict failed:\n{result.stdout}{result.stderr}")


CRD_NAMES = ["tenants.riskassess.io", "tenantusers.riskassess.io", "userimports.riskassess.io"]


def crd_names(kubeconfig: str) -> list[str]:
    crds = yaml.safe_load(kubectl(kubeconfig, "get", "crd", "-o", "yaml"))["items"]
    return sorted(c["metadata"]["name"] for c in crds)


def uninstall(kubeconfig: str, release: str, namespace: str) -> None:
    with helm_python.Config(kubeconfig_path=kubeconfig, namespace=namespace) as config:
        config.uninstall(release, timeout=60)
        if config.list(all_states=True):
            sys.exit("a release is left after helm uninstall")
    if crd_names(kubeconfig) != CRD_NAMES:
        sys.exit(f"helm uninstall touched the CRDs: {crd_names(kubeconfig)}")


def main() -> None:
    kubeconfig, release, namespace = sys.argv[1:4]
    if sys.argv[4:] == ["--uninstall"]:
        uninstall(kubeconfig, release, namespace)
        return
    values = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    with helm_python.Config(kubeconfig_path=kubeconfig, namespace=namespace) as config:
        config.install(str(CHART), release, values, namespace=namespace, create_namespace=True, timeout=60)
        summary = config.upgrade(str(CHART), release, None, namespace=namespace, reuse_values=True, timeout=60)
        status = config.status(release)
    manifest = [d for d in yaml.safe_load_all(summary["manifest"]) if d]
    if (status.get("status"), status.get("revision")) != ("deployed", 2):
        sys.exit(f"release not deployed at revision 2: {status}")

    installed = []
    for doc in manifest:
        where = ["-n", doc["metadata"]["namespace"]] if doc["metadata"].get("namespace") else []
        kind = doc["kind"].lower() + "." + (doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else "")
        kind = kind.rstrip(".")
        installed.append(yaml.safe_load(kubectl(kubeconfig, "get", kind, doc["metadata"]["name"], *where, "-o", "yaml")))
    if crd_names(kubeconfig) != CRD_NAMES:
        sys.exit(f"Helm did not install the chart's CRDs: {crd_names(kubeconfig)}")
    crds = yaml.safe_load(kubectl(kubeconfig, "get", "crd", "-o", "yaml"))["items"]
    validate_strict(installed + crds)
    json.dump({"manifest": manifest, "installed": installed, "notes": status.get("notes", "")}, sys.stdout)


if __name__ == "__main__":
    main()
