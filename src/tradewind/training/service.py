"""One training run with its record: the warehouse side of ``tradewind train``.

:func:`run_training` reads the agent, writes the ``running`` row, loads the arrays, calls the
pure trainer (:func:`tradewind.rl.train.train`), keeps the row's progress current, and ends the
row ``succeeded`` / ``failed`` / ``aborted``. A succeeded run is then handed to
:func:`tradewind.registry.after_training` (candidate version, evaluations, gate).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewind.rl.agents import AgentConfig, load_agent, parse_agent
from tradewind.settings import Settings, get_settings
from tradewind.training.data import code_version, data_fingerprint, load_training_data
from tradewind.training.runs import (
    TrainingError,
    finish_run,
    get_run,
    start_run,
    update_run,
)


@dataclass
class TrainingOutcome:
    run_id: str
    agent: AgentConfig
    artifact_uri: str
    result: Any  # tradewind.rl.train.TrainResult
    timings: dict[str, float]
    after: Any = None  # tradewind.registry.AfterTraining, when it ran
    after_error: str | None = None


def artifacts_root(settings: Settings) -> str:
    return settings.artifacts_uri or str(settings.home / "artifacts")


def _is_url(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """``kill PID`` ends a run like Ctrl-C does (recorded ``aborted``, checkpoint saved)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside a Tune trial): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _metrics(result: Any) -> dict[str, Any]:
    return {
        "validation": result.validation,
        "selection_metric": result.manifest.get("selection_metric"),
        "stop_reason": result.status,
        "timesteps": result.timesteps,
        "iterations": result.iterations,
        "validation_history": [
            {k: e[k] for k in ("iteration", "timesteps", "score")} for e in result.history
        ],
    }


def run_training(
    db_url: str,
    agent: str | AgentConfig,
    *,
    seed: int | None = None,
    timesteps: int | None = None,
    resume: str | None = None,
    progress: Callable[[Any], None] | None = None,
    settings: Settings | None = None,
    register: bool = True,
    registry_progress: Callable[[str], None] | None = None,
    sweep_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> TrainingOutcome:
    """Train (or with ``resume=RUN_ID`` continue) a run; see the module docstring."""
    from tradewind.rl.artifacts import copy_artifacts
    from tradewind.rl.train import TrainingInterrupted, train

    settings = settings or get_settings()
    t0 = time.monotonic()
    if resume:
        run = get_run(db_url, resume)
        if run.status == "succeeded":
            raise TrainingError(f"run {resume} already succeeded: nothing to resume")
        cfg = parse_agent(run.config, origin=f"run {resume}")
        local_dir = Path(settings.home) / "artifacts" / cfg.name / run.run_id
        if run.artifact_uri and not _is_url(run.artifact_uri):
            local_dir = Path(run.artifact_uri.removeprefix("file://"))
        if not (local_dir / "state.json").is_file():
            raise TrainingError(f"run {resume} has no checkpoint to resume from in {local_dir}")
        run_id, artifact_uri = run.run_id, run.artifact_uri or str(local_dir)
        update_run(db_url, run_id, status="running", error=None, finished_at=None,
                   resumed_count=run.resumed_count + 1)  # fmt: skip
    else:
        cfg = agent if isinstance(agent, AgentConfig) else load_agent(agent)
        changes = dict(overrides or {})
        if seed is not None:
            changes["seed"] = seed
        if timesteps is not None:
            changes["budget.timesteps"] = timesteps
        if changes:
            cfg = cfg.with_overrides(**changes)
        import uuid

        run_id = run_id or str(uuid.uuid4())
        root = artifacts_root(settings)
        local_dir = (
            Path(settings.home) / "artifacts" / cfg.name / run_id
            if _is_url(root)
            else Path(root.removeprefix("file://")) / cfg.name / run_id
        )
        artifact_uri = (
            f"{root.rstrip('/')}/{cfg.name}/{run_id}" if _is_url(root) else str(local_dir)
        )
        start_run(
            db_url, agent=cfg.name, config=cfg.model_dump(mode="json", by_alias=True),
            seed=cfg.seed, windows=cfg.windows.as_dict(), artifact_uri=artifact_uri,
            code_version=code_version(), run_id=run_id, sweep_id=sweep_id,
        )  # fmt: skip

    timings: dict[str, float] = {}
    try:
        with _sigterm_as_interrupt():
            t = time.monotonic()
            data = load_training_data(db_url, cfg)
            fingerprint = data_fingerprint(data)
            update_run(db_url, run_id, data_fingerprint=fingerprint)
            timings["load_data_s"] = time.monotonic() - t

            def on_iteration(report: Any) -> None:
                update_run(db_url, run_id, progress={
                    "phase": report.phase, "iteration": report.iteration,
                    "timesteps": report.timesteps, "budget": report.budget,
                    "episode_return_mean": report.episode_return_mean,
                    "steps_per_s": report.steps_per_s, "elapsed_s": report.elapsed_s,
                    "validation": report.validation,
                })  # fmt: skip
                if progress is not None:
                    progress(report)

            t = time.monotonic()
            result = train(
                cfg, data, local_dir, run_id=run_id, timesteps=timesteps,
                resume=bool(resume), progress=on_iteration, ray_address=settings.ray_address,
                manifest_extra={"code_version": code_version(), "data_fingerprint": fingerprint},
            )  # fmt: skip
            timings["train_s"] = time.monotonic() - t
            if _is_url(artifact_uri):
                t = time.monotonic()
                copy_artifacts(local_dir, artifact_uri)
                timings["upload_s"] = time.monotonic() - t
    except (KeyboardInterrupt, TrainingInterrupted):
        timings["total_s"] = time.monotonic() - t0
        finish_run(db_url, run_id, "aborted", error="interrupted (resume with --resume "
                   f"{run_id})", timings=timings)  # fmt: skip
        raise
    except BaseException as exc:
        timings["total_s"] = time.monotonic() - t0
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        finish_run(db_url, run_id, "failed", error=f"{type(exc).__name__}: {line}",
                   timings=timings)  # fmt: skip
        raise
    timings["total_s"] = time.monotonic() - t0
    finish_run(db_url, run_id, "succeeded", metrics=_metrics(result), timings=timings)
    outcome = TrainingOutcome(run_id, cfg, artifact_uri, result, timings)
    if register:
        from tradewind.registry import after_training

        try:
            outcome.after = after_training(db_url, run_id, progress=registry_progress)
        except Exception as exc:  # the run itself succeeded and stays recorded as such
            outcome.after_error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return outcome
