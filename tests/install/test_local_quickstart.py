"""docs/cluster.md, "Try it on a one-node cluster": its three blocks pasted as they are into one
fresh shell from the repository root. They build the image, the tools and the cluster, start the
cluster and a registry, push the image and the chart, install the chart from the registry (the
node pulls the image), import the bundled example, and stop everything. The last
`kubectl get userimports` must print the page's output block, but for the Age column; and the
host must be left as it was (no bridge, no KUBE-* chains, no kubelet mounts).

It runs after tests/install/test_install.py (pytest takes the files in order), whose cluster has
stopped by then: one cluster at a time on a machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pasting import ROOT, assert_last_table, fenced_after, fresh_shell_env, run_pasted  # noqa: E402

PAGE = ROOT / "docs/cluster.md"


def host_state() -> list[str]:
    """What a cluster leaves on the host when it does not clean up."""
    left = []
    if subprocess.run(["ip", "link", "show", "cni0"], capture_output=True).returncode == 0:
        left.append("cni0")
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    left += [line for line in rules.splitlines() if "KUBE-" in line][:3]
    mounts = Path("/proc/mounts").read_text()
    left += [line for line in mounts.splitlines() if "kubelet" in line or "containerd" in line][:3]
    return left


def test_local_quickstart_imports_the_example(tmp_path):
    assert host_state() == [], "the host is not clean before the quickstart"
    blocks = [fenced_after(PAGE, marker) for marker in (
        "<!-- local-quickstart:", "<!-- local-quickstart-install -->", "<!-- local-quickstart-stop -->")]
    expected = fenced_after(PAGE, "<!-- local-quickstart-output -->")
    env = fresh_shell_env(os.environ.get("HOME", str(tmp_path)))
    output = run_pasted("".join(blocks), tmp_path / "pasted.log", env=env)
    print(output)
    assert_last_table(output, expected)
    assert host_state() == [], "the cluster left state on the host"
