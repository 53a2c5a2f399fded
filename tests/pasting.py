"""Commands of the documentation, run as a person pastes them into a fresh shell.

Shared by tests/chart/test_quickstart.py and tests/install/: a fenced block is found after a
marker in a page, and pasted into `bash -e` started from the repository root with the
environment of a fresh login shell.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A cold build of the control plane, the cluster and the operator fits in this.
WAIT = 2400


def fenced_after(path: Path, marker: str) -> str:
    """The first fenced block after `marker` in `path`, without its fences."""
    text = path.read_text()
    start = text.index(marker)
    block = re.search(r"```[a-z]*\n(.*?)```", text[start:], re.S)
    assert block, f"no fenced block after {marker} in {path}"
    return block.group(1)


def fresh_shell_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a new login shell has: no KUBECONFIG, no test variables, no virtualenv."""
    keep = ("PATH", "LANG", "USER", "CARGO_HOME", "RUSTUP_HOME", "CARGO_TARGET_DIR",
            "GOPATH", "GOMODCACHE", "GOCACHE", "GOFLAGS", "GOTOOLCHAIN", "GOPROXY",
            "USER_IMPORT_CONTROL_PLANE_CACHE", "USER_IMPORT_CLUSTER_CACHE", "USER_IMPORT_TOOLS_CACHE",
            "USER_IMPORT_IMAGE_CACHE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    venv = str(ROOT / ".ci/.venv/bin")
    env["PATH"] = ":".join(p for p in env.get("PATH", "/usr/bin:/bin").split(":") if p != venv)
    # A home of its own keeps what a block writes there (~/.local/bin, say) out of the user's;
    # the toolchains stay those of the user's own home.
    real_home = Path(os.environ.get("HOME", "/root"))
    if Path(home) != real_home:
        env.setdefault("RUSTUP_HOME", str(real_home / ".rustup"))
        env.setdefault("CARGO_HOME", str(real_home / ".cargo"))
        env.setdefault("GOPATH", str(real_home / "go"))
        env.setdefault("GOCACHE", str(real_home / ".cache/go-build"))
    env["HOME"] = home
    env.update(extra or {})
    return env


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False


def run_pasted(script: str, log: Path, leaves_nothing_running: bool = True,
               env: dict[str, str] | None = None, cwd: Path = ROOT,
               timeout: float = WAIT) -> str:
    """Pastes `script` into `bash -e`; returns its output (also kept in `log`)."""
    with log.open("w") as out:
        shell = subprocess.Popen(["bash", "-e"], stdin=subprocess.PIPE, stdout=out,
                                 stderr=subprocess.STDOUT, cwd=cwd, text=True,
                                 env=env or fresh_shell_env(os.environ.get("HOME", str(log.parent))),
                                 start_new_session=True)
        try:
            shell.communicate(script, timeout=timeout)
            # What the lines stopped may take a moment to go (a registry or a container's
            # conmon on a loaded machine): give it 10 s before calling it left running.
            deadline = time.monotonic() + 10
            while (left_running := group_alive(shell.pid)) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            # Whatever the pasted lines left running (on failure), stopped with the shell.
            try:
                os.killpg(shell.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    output = log.read_text()
    assert shell.returncode == 0, output
    if leaves_nothing_running:
        assert not left_running, f"processes still running after the pasted lines:\n{output}"
    return output


def without_age(table: str) -> list[list[str]]:
    """The table's cells, minus the last (Age) column."""
    return [row.split()[:-1] for row in table.strip().splitlines()]


def assert_last_table(output: str, expected: str) -> None:
    """The last table in `output` with `expected`'s header is `expected`, but for the Age column."""
    header = expected.strip().splitlines()[0].split()
    lines = output.splitlines()
    at = max(i for i, line in enumerate(lines) if line.split() == header)
    table = "\n".join(lines[at:at + len(expected.strip().splitlines())])
    assert without_age(table) == without_age(expected), output
