"""``tradewind tune SWEEP.yaml``: every Tune trial is a recorded training run.

Each trial calls :func:`tradewind.training.service.run_training` with its sampled overrides and
the sweep id (``ml.training_runs.sweep_id``), reporting the validation score at every check.
Trials the scheduler (ASHA) stops early are killed by Tune: their rows are closed here as
``aborted`` with the reason. Ranking is on the validation window only; the best trial is then
registered (candidate version, evaluations, gate) unless the sweep says ``register_best: false``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewind.rl.tune import SweepConfig, load_sweep, run_sweep_trials
from tradewind.settings import Settings, get_settings
from tradewind.training.runs import finish_run, get_run


@dataclass
class SweepSummary:
    sweep_id: str
    metric: str
    rows: list[dict[str, Any]]  # ranked, best first
    param_names: list[str]
    best_run_id: str | None
    after: Any = None
    after_error: str | None = None


def _trial_function(db_url: str, sweep: SweepConfig, sweep_id: str, settings: Settings):
    def trial(params: dict[str, Any], report: Callable[[Mapping[str, Any]], None]) -> None:
        from tradewind.training.service import run_training

        run_id = str(uuid.uuid4())
        best = {"v": -math.inf}

        def progress(r) -> None:
            if r.validation is None:
                return
            score = r.validation if math.isfinite(r.validation) else -1e9
            best["v"] = max(best["v"], score)
            report({"score": score, "best": best["v"], "timesteps": r.timesteps,
                    "run_id": run_id})  # fmt: skip

        run_training(
            db_url, sweep.base_agent(), overrides=params, progress=progress, register=False,
            settings=settings, sweep_id=sweep_id, run_id=run_id,
        )  # fmt: skip

    return trial


def run_sweep(
    db_url: str,
    sweep_file: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
    settings: Settings | None = None,
) -> SweepSummary:
    settings = settings or get_settings()
    sweep = load_sweep(sweep_file)
    sweep_id = f"{sweep.name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    say = progress or (lambda line: None)
    say(f"sweep {sweep_id}: agent {sweep.agent}, {sweep.num_samples} sample(s), "
        f"scheduler {sweep.scheduler.type}, ranked on validation {sweep.metric}")  # fmt: skip
    rows = run_sweep_trials(
        sweep, _trial_function(db_url, sweep, sweep_id, settings),
        settings.home / "sweeps", sweep_id=sweep_id, ray_address=settings.ray_address,
    )  # fmt: skip
    for row in rows:
        row["status"] = "no run"
        if row["run_id"]:
            run = get_run(db_url, row["run_id"])
            # Stopped by the scheduler: still running if its process was killed, "aborted"
            # (recorded as an interruption) if it stopped in report(); say why.
            if run.status in ("running", "aborted"):
                finish_run(db_url, run.run_id, "aborted", error="stopped early by the "
                           f"{sweep.scheduler.type} scheduler after {row['checks']} check(s)")  # fmt: skip
                run = get_run(db_url, row["run_id"])
            row["status"] = run.status
    ok = [r for r in rows if r["status"] == "succeeded" and r["score"] is not None]
    summary = SweepSummary(sweep_id, sweep.metric, rows, list(sweep.space),
                           ok[0]["run_id"] if ok else None)  # fmt: skip
    if summary.best_run_id and sweep.register_best:
        from tradewind.registry import after_training

        try:
            summary.after = after_training(db_url, summary.best_run_id, progress=progress)
        except Exception as exc:  # the sweep's records stand; say why the registry did not
            summary.after_error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return summary
