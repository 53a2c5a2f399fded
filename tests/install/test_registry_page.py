"""docs/registry-and-helm.md, "Pushing the image and the chart": its block pasted as it is into a
fresh shell. It starts the registry, pushes an image built offline and the chart as an OCI
artefact, reads the chart back and renders it from the registry, and stops the registry."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pasting import ROOT, fenced_after, fresh_shell_env, run_pasted  # noqa: E402


def test_push_block_pushes_and_renders_the_chart_from_the_registry(tmp_path):
    block = fenced_after(ROOT / "docs/registry-and-helm.md", "<!-- push:")
    env = fresh_shell_env(os.environ.get("HOME", str(tmp_path)))
    output = run_pasted(block, tmp_path / "pasted.log", env=env, timeout=1800)
    assert "Pushed: 127.0.0.1:5123/charts/user-import-operator:0.1.0" in output, output
    assert "name: user-import-operator" in output
    # helm template from the registry rendered the Deployment with the pushed image.
    assert 'image: "127.0.0.1:5123/test/catatonit:1"' in output, output
