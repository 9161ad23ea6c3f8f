"""Interrupting and resuming ``tradewind train`` (real processes, real signals, real RLlib).

1. ``tradewind train`` runs in a child process; Ctrl-C (SIGINT) after a few iterations: the
   process finishes the running iteration, saves a checkpoint, exits 130, and the run row says
   ``aborted``.
2. ``tradewind train --resume RUN_ID`` in another child process continues; SIGTERM (``kill``)
   ends it the same way (exit 130, ``aborted``).
3. A third process resumes and is killed with SIGKILL (no chance to clean up): the row still
   says ``running``.
4. A resume in this process finishes the run: its first iteration is the one after the last
   checkpoint (by our counter and by RLlib's own restored ``training_iteration``), the env
   steps add up to the budget exactly, and the row ends ``succeeded`` with three resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from training_helpers import write_agent

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BATCH = 512
ITERATIONS = 9


def _row(url: str) -> dict:
    with psycopg.connect(url) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from ml.training_runs")
        rows = cur.fetchall()
    assert len(rows) <= 1
    return rows[0] if rows else {}


def _start(args: list[str], tmp_path: Path, name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed by the process' end
    # A session of its own: the whole process group (the CLI and the Ray processes it starts)
    # can be signalled and killed together.
    return subprocess.Popen(
        [sys.executable, "-m", "tradewind", *args],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True,
    )  # fmt: skip


def _wait_for(url: str, run_dir_of, min_checkpoint: int, proc, timeout: float = 420) -> dict:
    """Wait until state.json records a checkpoint at iteration >= min_checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        row = _row(url)
        if row.get("artifact_uri"):
            state_file = Path(row["artifact_uri"]) / "state.json"
            if state_file.is_file():
                state = json.loads(state_file.read_text())
                if state["checkpoint"] and state["iteration"] >= min_checkpoint:
                    return state
        time.sleep(0.5)
    raise AssertionError("no checkpoint in time")


def _stop(proc: subprocess.Popen, sig: int, timeout: float = 120, group: bool = True) -> int:
    """Ctrl-C in a terminal signals the whole foreground group; ``kill PID`` one process."""
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    try:
        return proc.wait(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left (Ray workers)
        except ProcessLookupError:
            pass


def test_interrupt_and_resume_continue_from_the_last_checkpoint(
    warehouse: str, tmp_path: Path
) -> None:
    from tradewind.settings import reset_settings_cache
    from tradewind.training.service import run_training

    agent_file = write_agent(
        tmp_path / "resumable.yaml",
        **{"budget.timesteps": BATCH * ITERATIONS, "algorithm.train_batch_size": BATCH,
           "early_stopping.eval_every": 4},
    )  # fmt: skip

    # 1. Ctrl-C: checkpoint, exit 130, aborted.
    proc = _start(["train", str(agent_file), "--no-register"], tmp_path, "first")
    _wait_for(warehouse, None, 2, proc)
    code = _stop(proc, signal.SIGINT)
    first_log = (tmp_path / "first.log").read_text()
    assert code == 130, first_log[-3000:]
    assert "SIGINT: stopping after this iteration" in first_log
    row = _row(warehouse)
    run_id = str(row["run_id"])
    assert row["status"] == "aborted" and "--resume" in row["error"]
    state = json.loads((Path(row["artifact_uri"]) / "state.json").read_text())
    aborted_at = state["iteration"]
    assert state["checkpoint"].endswith(f"train_{aborted_at:06d}")  # saved on the way out

    # 2. Resume in a new process and stop it with SIGTERM (``kill PID``): like Ctrl-C.
    proc = _start(["train", "--resume", run_id, "--no-register"], tmp_path, "second")
    _wait_for(warehouse, None, aborted_at + 1, proc)
    code = _stop(proc, signal.SIGTERM, group=False)
    assert code == 130, (tmp_path / "second.log").read_text()[-3000:]
    row = _row(warehouse)
    assert row["status"] == "aborted" and row["resumed_count"] == 1
    terminated_at = json.loads((Path(row["artifact_uri"]) / "state.json").read_text())["iteration"]
    assert terminated_at > aborted_at

    # 3. Resume again, then SIGKILL: no cleanup at all, the row still says running.
    proc = _start(["train", "--resume", run_id, "--no-register"], tmp_path, "third")
    _wait_for(warehouse, None, terminated_at + 1, proc)
    _stop(proc, signal.SIGKILL)
    row = _row(warehouse)
    assert row["status"] == "running" and row["resumed_count"] == 2
    killed_state = json.loads((Path(row["artifact_uri"]) / "state.json").read_text())
    last = killed_state["iteration"]
    assert last > terminated_at

    # 4. Resume here and finish.
    reset_settings_cache()
    reports = []
    outcome = run_training(warehouse, "", resume=run_id, register=False,
                           progress=reports.append)  # fmt: skip
    assert reports[0].iteration == last + 1
    assert reports[0].rllib_iteration == last + 1  # RLlib restored its own state too
    assert reports[-1].iteration == ITERATIONS
    assert outcome.result.timesteps == BATCH * ITERATIONS
    row = _row(warehouse)
    assert row["status"] == "succeeded" and row["resumed_count"] == 3 and row["error"] is None
    assert row["progress"]["iteration"] == ITERATIONS
    # Every validation check of the three processes is kept, in order, none repeated.
    checks = [h["iteration"] for h in row["metrics"]["validation_history"]]
    assert checks == sorted(set(checks)) and checks[-1] == ITERATIONS
