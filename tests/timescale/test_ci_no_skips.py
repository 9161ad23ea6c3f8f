"""No silent skips in CI (issue 9, item 9): a test that needs a real component skips on a
laptop without it, and fails under CI=true. Checked by running pytest on such tests with the
component made unreachable (no Node.js on PATH; a missing shared-data folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradewind.settings import PROJECT_ROOT

PROBE = """
def test_needs_shared_data(shared_data):
    assert shared_data.is_dir()
"""


def _pytest(args: list[str], ci: bool, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | extra
    # A PATH without Node.js: only the folder of this Python (pytest's own needs).
    env["PATH"] = str(Path(sys.executable).parent)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("ci", [False, True])
def test_timescale_test_without_node(ci, tmp_path):
    r = _pytest(["tests/timescale/test_timescale_server.py::test_start_stop_and_context_manager"],
                ci, tmp_path)  # fmt: skip
    out = r.stdout + r.stderr
    if ci:
        assert r.returncode == 1 and "1 failed" in out, out[-2000:]
        assert "CI=true and a real component is missing: Node.js" in out
    else:
        assert r.returncode == 0 and "1 skipped" in out, out[-2000:]


@pytest.mark.parametrize("ci", [False, True])
def test_shared_data_test_when_the_data_is_missing(ci, tmp_path):
    probe = PROJECT_ROOT / "tests" / "timescale" / f"test_probe_{os.getpid()}_{int(ci)}.py"
    probe.write_text(PROBE)
    try:
        # A machine without the shared folder: conftest is pointed at one that does not exist.
        r = _pytest([str(probe)], ci, tmp_path, TRADEWIND_SHARED_DATA=str(tmp_path / "missing"))
    finally:
        probe.unlink()
    out = r.stdout + r.stderr
    if ci:
        assert r.returncode == 1 and "shared real data set is not here" in out, out[-2000:]
    else:
        assert r.returncode == 0 and "1 skipped" in out, out[-2000:]
