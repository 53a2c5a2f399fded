"""Encryption at rest, as docs/security.md configures it, on a real kube-apiserver and etcd.

The page's EncryptionConfiguration (with a fresh key) is given to scripts/control-plane. A
TenantUser, a UserImport and a Tenant created through the API are then read straight from
etcd (its JSON gateway, on loopback): the stored bytes carry the encryption prefix and no
e-mail address, while the API returns the objects whole. A ConfigMap holding the same address
is stored in clear, which shows the etcd read sees plaintext where there is some.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pasting import ROOT, fenced_after  # noqa: E402

PAGE = ROOT / "docs/security.md"
EMAIL = "ann.lee@acme.example"
READY_WAIT = 600  # a cold machine builds the control plane first


@pytest.fixture(scope="module")
def encrypted():
    """A control plane started with the page's config: (kubectl environment, etcd address)."""
    work = Path(tempfile.mkdtemp(prefix="encryption-"))
    config = fenced_after(PAGE, "<!-- encryption-config")
    assert "<32 random bytes, base64>" in config
    key = base64.b64encode(os.urandom(32)).decode()
    (work / "encryption.yaml").write_text(config.replace("<32 random bytes, base64>", key))
    env = dict(os.environ, USER_IMPORT_CONTROL_PLANE_ENCRYPTION_CONFIG=str(work / "encryption.yaml"))
    log_path = work / "control-plane.log"
    with log_path.open("w") as log:
        runner = subprocess.Popen(["scripts/control-plane", "--kubeconfig", str(work / "kubeconfig")],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + READY_WAIT
        while "control plane ready" not in log_path.read_text():
            assert runner.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the control plane did not start"
            time.sleep(0.2)
        etcd = re.search(r"^etcd (http://127\.0\.0\.1:\d+)$", log_path.read_text(), re.M)
        assert etcd, log_path.read_text()
        kube_env = dict(os.environ, KUBECONFIG=str(work / "kubeconfig"))
        kube_env["PATH"] = f"{ROOT / '.ci/.venv/bin'}:{kube_env['PATH']}"
        yield kube_env, etcd.group(1)
    finally:
        runner.terminate()
        runner.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def stored(etcd: str, key: str) -> bytes:
    """The value etcd holds under `key`, through its gRPC gateway's JSON API."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    request = urllib.request.Request(f"{etcd}/v3/kv/range", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    kvs = answer.get("kvs", [])
    assert len(kvs) == 1, f"{key}: {answer}"
    return base64.b64decode(kvs[0]["value"])


def test_custom_resources_with_personal_data_are_stored_encrypted(encrypted):
    env, etcd = encrypted
    crds = str(ROOT / "crds")
    kubectl(env, "apply", "--server-side", "-f", crds)
    kubectl(env, "wait", "--for", "condition=established", "--timeout=60s", "-f", crds)
    kubectl(env, "create", "namespace", "acme")
    objects = [
        {"apiVersion": "riskassess.io/v1alpha1", "kind": "Tenant",
         "metadata": {"name": "acme", "namespace": "acme"},
         "spec": {"displayName": "Acme", "defaultSiteAdministrator": {"email": EMAIL}}},
        {"apiVersion": "riskassess.io/v1alpha1", "kind": "TenantUser",
         "metadata": {"name": "acme-1001", "namespace": "acme",
                      "labels": {"riskassess.io/tenant": "acme"}},
         "spec": {"username": "alee", "firstName": "Ann", "lastName": "Lee", "email": EMAIL,
                  "coupaUserId": "1001"}},
        {"apiVersion": "riskassess.io/v1alpha1", "kind": "UserImport",
         "metadata": {"name": "acme-2026-12", "namespace": "acme"},
         "spec": {"tenantRef": {"name": "acme"},
                  "template": {"configMapKeyRef": {"name": "acme-users", "key": "template.csv"}}}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "acme-users", "namespace": "acme"},
         "data": {"template.csv": f"Username,Email\nalee,{EMAIL}\n"}},
    ]
    kubectl(env, "apply", "--server-side", "-f", "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))

    # The API returns them whole.
    user = json.loads(kubectl(env, "get", "tenantuser", "acme-1001", "-n", "acme", "-o", "json"))
    assert user["spec"]["email"] == EMAIL
    tenant = json.loads(kubectl(env, "get", "tenant", "acme", "-n", "acme", "-o", "json"))
    assert tenant["spec"]["defaultSiteAdministrator"]["email"] == EMAIL

    # etcd holds ciphertext for the listed resources...
    for key in ("/registry/riskassess.io/tenantusers/acme/acme-1001",
                "/registry/riskassess.io/userimports/acme/acme-2026-12",
                "/registry/riskassess.io/tenants/acme/acme"):
        value = stored(etcd, key)
        assert value.startswith(b"k8s:enc:aescbc:v1:key1:"), (key, value[:40])
        assert EMAIL.encode() not in value, key
        assert b"acme-users" not in value and b"alee" not in value, key
    # ...and plaintext for what the file does not list.
    config_map = stored(etcd, "/registry/configmaps/acme/acme-users")
    assert EMAIL.encode() in config_map
