"""Training on a real Ray cluster, and a real Ray Tune sweep whose trials are recorded runs.

- ``ray start --head`` on 127.0.0.1 (its own process group, stopped by PID at the end);
  ``TRADEWIND_RAY_ADDRESS`` points ``tradewind train`` at it; the run trains with one remote
  env runner there and records the cluster it joined.
- ``tradewind tune`` over a two-point grid: two recorded runs carrying the sweep id, the table
  ranked by each run's best validation score as stored in ``ml.training_runs``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row
from training_helpers import write_agent
from typer.testing import CliRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path: Path):
    ray_bin = Path(sys.executable).with_name("ray")
    port = _free_port()
    temp_dir = Path(f"/tmp/tw_ray_{os.getpid()}_{port}")  # short: Ray's socket paths are limited
    log = open(tmp_path / "ray_head.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
         "--temp-dir", str(temp_dir), "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in (tmp_path / "ray_head.log").read_text():
            assert proc.poll() is None, (tmp_path / "ray_head.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_training_joins_a_ray_cluster(warehouse: str, ray_head: str, tmp_path, monkeypatch):
    import json

    from tradewind.cli import app
    from tradewind.settings import reset_settings_cache

    monkeypatch.setenv("TRADEWIND_RAY_ADDRESS", ray_head)
    reset_settings_cache()
    agent_file = write_agent(tmp_path / "clustered.yaml", **{"runners.num_env_runners": 1})
    result = CliRunner().invoke(app, ["train", str(agent_file), "--no-register"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(warehouse) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute("select status, artifact_uri from ml.training_runs")
        [row] = cur.fetchall()
    assert row["status"] == "succeeded"
    manifest = json.loads((Path(row["artifact_uri"]) / "manifest.json").read_text())
    assert manifest["ray_address"] == ray_head
    # The GCS the driver ended up talking to: that cluster (Ray names it by the node's IP).
    assert manifest["ray_cluster"].endswith(":" + ray_head.split(":")[1])
    # The cluster outlives the run (we only disconnected from it).
    host, port = ray_head.split(":")
    with socket.socket() as s:
        assert s.connect_ex((host, int(port))) == 0


def test_tune_sweep_records_every_trial_and_ranks_on_validation(warehouse: str, tmp_path):
    from tradewind.cli import app

    agent_file = write_agent(tmp_path / "swept.yaml", **{"early_stopping.eval_every": 1})
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "agent": str(agent_file),
        "metric": "sharpe",
        "num_samples": 1,
        "max_concurrent": 1,
        "scheduler": {"type": "fifo"},
        "register_best": False,
        "space": {"algorithm.lr": {"grid": [0.0003, 0.003]}},
    }))  # fmt: skip
    result = CliRunner().invoke(app, ["tune", str(sweep_file)])
    assert result.exit_code == 0, result.output
    with psycopg.connect(warehouse) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute("select run_id::text, status, sweep_id, config, metrics "
                    "from ml.training_runs order by started_at")  # fmt: skip
        rows = cur.fetchall()
    assert len(rows) == 2
    assert {r["status"] for r in rows} == {"succeeded"}
    assert len({r["sweep_id"] for r in rows}) == 1 and rows[0]["sweep_id"].startswith("sweep-")
    assert sorted(r["config"]["algorithm"]["lr"] for r in rows) == [0.0003, 0.003]
    best = {r["run_id"]: max(h["score"] for h in r["metrics"]["validation_history"]) for r in rows}
    ranked = sorted(best, key=best.get, reverse=True)
    assert f"best trial: run {ranked[0]}" in result.output
