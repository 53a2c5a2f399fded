"""The documented commands, run as a person pastes them into a fresh shell.

1. docs/control-plane.md, "Try the operator on it": the block after `<!-- quickstart:` and the
   block after `<!-- quickstart-stop -->` are pasted, unchanged, into one bash process started
   from the repository root with the environment of a fresh login shell (HOME, PATH, the Rust
   toolchain's variables; no kubeconfig, no prebuilt binary named). They start a real control
   plane (scripts/control-plane) and the operator with `cargo run`, import the bundled example
   and stop both. The output of the last `kubectl get userimports` must match the page's
   `<!-- quickstart-output -->` block, but for the Age column.
2. README.md, "Two commands": the first command (`cargo run ... plan ...` on the examples) prints
   the README's output block, but for the report's date, which is today's.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A cold build of the control plane and of the operator fits in this.
WAIT = 1800


def fenced_after(path: Path, marker: str) -> str:
    text = path.read_text()
    start = text.index(marker)
    block = re.search(r"```[a-z]*\n(.*?)```", text[start:], re.S)
    assert block, f"no fenced block after {marker} in {path}"
    return block.group(1)


def fresh_shell_env(home: str) -> dict[str, str]:
    """What a new login shell has: no KUBECONFIG, no test variables."""
    keep = ("PATH", "LANG", "USER", "CARGO_HOME", "RUSTUP_HOME", "CARGO_TARGET_DIR",
            "GOPATH", "GOMODCACHE", "GOCACHE", "GOFLAGS", "GOTOOLCHAIN", "GOPROXY",
            "USER_IMPORT_CONTROL_PLANE_CACHE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    venv = str(ROOT / ".ci/.venv/bin")
    env["PATH"] = ":".join(p for p in env.get("PATH", "/usr/bin:/bin").split(":") if p != venv)
    env["HOME"] = home
    return env


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False


def run_pasted(script: str, tmp_path: Path, leaves_nothing_running: bool = True) -> str:
    log = tmp_path / "pasted.log"
    with log.open("w") as out:
        shell = subprocess.Popen(["bash", "-e"], stdin=subprocess.PIPE, stdout=out,
                                 stderr=subprocess.STDOUT, cwd=ROOT, text=True,
                                 env=fresh_shell_env(os.environ.get("HOME", str(tmp_path))),
                                 start_new_session=True)
        try:
            shell.communicate(script, timeout=WAIT)
            left_running = group_alive(shell.pid)
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


def test_control_plane_quickstart_imports_the_example(tmp_path):
    page = ROOT / "docs/control-plane.md"
    start = fenced_after(page, "<!-- quickstart:")
    stop = fenced_after(page, "<!-- quickstart-stop -->")
    expected = fenced_after(page, "<!-- quickstart-output -->")

    output = run_pasted(start + stop, tmp_path)
    print(output)
    header = expected.strip().splitlines()[0].split()
    assert header == ["NAME", "TENANT", "PHASE", "NEW", "UPDATE", "PROBLEM", "AGE"]
    lines = output.splitlines()
    at = max(i for i, line in enumerate(lines) if line.split() == header)
    table = "\n".join(lines[at:at + len(expected.strip().splitlines())])
    assert without_age(table) == without_age(expected), output


def test_readme_plan_prints_the_readme_output(tmp_path):
    readme = ROOT / "README.md"
    commands = [line for line in fenced_after(readme, "## Two commands").splitlines()
                if line.strip() and not line.startswith("#")]
    plan = next(line for line in commands if " plan " in line)
    expected = fenced_after(readme, "The first command prints")
    output = run_pasted(plan + "\n", tmp_path)
    today = re.compile(r" - \d{4}-\d{2}-\d{2}\.csv")
    assert today.sub(" - DATE.csv", output.strip()) == today.sub(" - DATE.csv", expected.strip())
