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

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pasting import ROOT, assert_last_table, fenced_after, run_pasted  # noqa: E402


def test_control_plane_quickstart_imports_the_example(tmp_path):
    page = ROOT / "docs/control-plane.md"
    start = fenced_after(page, "<!-- quickstart:")
    stop = fenced_after(page, "<!-- quickstart-stop -->")
    expected = fenced_after(page, "<!-- quickstart-output -->")

    output = run_pasted(start + stop, tmp_path / "pasted.log")
    print(output)
    header = expected.strip().splitlines()[0].split()
    assert header == ["NAME", "TENANT", "PHASE", "NEW", "UPDATE", "PROBLEM", "AGE"]
    assert_last_table(output, expected)


def test_readme_plan_prints_the_readme_output(tmp_path):
    readme = ROOT / "README.md"
    commands = [line for line in fenced_after(readme, "## Two commands").splitlines()
                if line.strip() and not line.startswith("#")]
    plan = next(line for line in commands if " plan " in line)
    expected = fenced_after(readme, "The first command prints")
    output = run_pasted(plan + "\n", tmp_path / "pasted.log")
    today = re.compile(r" - \d{4}-\d{2}-\d{2}\.csv")
    assert today.sub(" - DATE.csv", output.strip()) == today.sub(" - DATE.csv", expected.strip())
