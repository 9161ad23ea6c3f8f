"""Training an agent: one readable entry point, :func:`train`, over a typed :class:`AgentConfig`.

Pure of the warehouse: the caller hands over a :class:`~tradewind.rl.data.MarketData` (the
warehouse side is ``tradewind.training``) and an output folder, the run's artifact folder:

    <out_dir>/agent.yaml          the resolved agent definition
    <out_dir>/data.npz            the arrays trained on (train + validation windows only)
    <out_dir>/checkpoints/<phase>_<iteration>/   RLlib checkpoints (resume)
    <out_dir>/policy/best.pt      the module chosen on the validation window (load_policy)
    <out_dir>/policy/best_<iteration>.pt   every improvement on validation (best.pt is a copy)
    <out_dir>/policy/<phase>_end.pt, last.pt   the module at the end of a phase / of training
    <out_dir>/tensorboard/        TensorBoard event files (return, losses, entropy, steps/s)
    <out_dir>/state.json          where training stands (written after every checkpoint)
    <out_dir>/manifest.json       what tradewind.rl.artifacts.load_policy reads

The loop, per phase (an optional synthetic-market pre-training, then the real history):
``algo.train()`` until the phase's env-step budget; a progress report per iteration; an RLlib
checkpoint every ``checkpoint.every_iterations`` and at the end; every
``early_stopping.eval_every`` iterations a deterministic pass over the **validation** window
scores the current module; the best one is kept and early stopping counts checks without
improvement. The test window is cut off the data before anything runs: training cannot see it.

Ctrl-C or ``kill PID`` stops after the running iteration, checkpoints it and raises
:class:`TrainingInterrupted`; a second Ctrl-C stops at once and keeps the last checkpoint.
Resume (``resume=True``) reads ``state.json`` and restores the last RLlib checkpoint, so a run
interrupted or killed continues from there (the iterations after that checkpoint are redone).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradewind.rl.agents import AgentConfig
from tradewind.rl.data import MarketData

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
BEST_POLICY = "policy/best.pt"
LAST_POLICY = "policy/last.pt"


@dataclass(frozen=True)
class IterationReport:
    """What a progress line shows after one ``algo.train()``."""

    phase: str
    iteration: int  # within the phase, from 1
    timesteps: int  # env steps sampled in the phase so far
    budget: int  # the phase's env-step budget
    episode_return_mean: float
    steps_per_s: float  # this iteration: env steps sampled / its wall time
    elapsed_s: float  # whole run (this process)
    eta_s: float  # the phase's remaining steps at the phase's average speed
    validation: float | None = None  # the selection metric when this iteration was checked
    losses: Mapping[str, float] = field(default_factory=dict)
    rllib_iteration: int = 0  # RLlib's own counter (continues after a restored checkpoint)

    def line(self) -> str:
        val = "" if self.validation is None else f"  validation {self.validation:+.3f}"
        return (
            f"[{self.phase}] iter {self.iteration:4d}  steps {self.timesteps:,}/{self.budget:,}"
            f"  return {self.episode_return_mean:+.4f}  {self.steps_per_s:,.0f} steps/s"
            f"  elapsed {_hms(self.elapsed_s)}  eta {_hms(self.eta_s)}{val}"
        )


@dataclass
class TrainResult:
    run_dir: Path
    status: str  # "succeeded", "stopped_early" (validation patience) or "time_budget"
    timesteps: int
    iterations: int
    selected: str  # relative path of the chosen module (best on validation)
    validation: dict[str, float]  # performance() of the chosen module on validation
    history: list[dict[str, Any]]  # every validation check
    train_seconds: float
    manifest: dict[str, Any]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, after the last state was saved; ``resume`` continues it."""


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    s = int(seconds)
    return (
        f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"
        if s >= 3600
        else f"{s // 60:02d}:{s % 60:02d}"
    )


# ---------------------------------------------------------------------------- RLlib config
def algorithm_config(agent: AgentConfig, env_config: Mapping[str, Any], *, seed: int | None = None):
    """The RLlib config (new API stack, EIIE module) an agent file describes."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from tradewind.rl.model import DEFAULT_MODEL_CONFIG, EIIEAPPOModule, EIIEModule
    from tradewind.rl.ppo import RLLIB_ENV_ID, make_env

    algo = agent.algorithm
    if algo.name == "PPO":
        from ray.rllib.algorithms.ppo import PPOConfig

        config, module_class = PPOConfig(), EIIEModule
    else:
        from ray.rllib.algorithms.appo import APPOConfig

        config, module_class = APPOConfig(), EIIEAPPOModule
    register_env(RLLIB_ENV_ID, make_env)
    runners = agent.runners
    training = {
        "lr": algo.lr,
        "gamma": algo.gamma,
        "lambda_": algo.lambda_,
        "clip_param": algo.clip_param,
        "entropy_coeff": algo.entropy_coeff,
        "vf_loss_coeff": algo.vf_loss_coeff,
        "train_batch_size_per_learner": algo.train_batch_size,
        "minibatch_size": algo.minibatch_size,
        "num_epochs": algo.num_epochs,
        "grad_clip": algo.grad_clip,
        **algo.extra,
    }
    config = (
        config.framework("torch")
        .environment(
            env=RLLIB_ENV_ID,
            env_config=dict(env_config),
            # Raw Gaussian samples go to the env, which clips scores to [-1, 1] itself
            # (rl/core.py::weights_from_scores). RLlib's normalize_actions did the same clip
            # (its unsquash is the identity on this [-1, 1] box) one env at a time, ~40 % of
            # the sampling CPU of the DOW30 agent (benchmarks/RESULTS.md, training throughput).
            normalize_actions=False,
            clip_actions=False,
        )
        .env_runners(
            num_env_runners=runners.num_env_runners,
            num_envs_per_env_runner=runners.num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point" if runners.vectorize else "sync",
            rollout_fragment_length=runners.rollout_fragment_length,
        )
        .training(**training)
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=module_class,
                model_config={**DEFAULT_MODEL_CONFIG, **agent.model.model_dump()},
            )
        )
        .reporting(metrics_num_episodes_for_smoothing=20)
        .debugging(seed=agent.seed if seed is None else seed, log_level="ERROR")
    )
    return config


# ------------------------------------------------------------------------------ helpers
def _get(d: Mapping[str, Any], *path: str, default: float = float("nan")) -> Any:
    for p in path:
        if not isinstance(d, Mapping) or p not in d:
            return default
        d = d[p]
    return d


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a killed process leaves the old or the new file


def module_state(module: Any) -> dict[str, Any]:
    """The inference weights of a module (APPO's target copies left out)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items() if "_old_" not in k}


def trained_module(algo: Any) -> Any:
    """A copy of the module the learner trained, with the learner's current weights.

    Not ``algo.get_module()``: that is the local env runner's copy, which is what PPO samples
    with when there are no remote env runners, but APPO (and any algorithm sampling on remote
    runners) never syncs it: it keeps its initial weights (test_training_appo_and_asha).
    """
    import copy

    from ray.rllib.core import DEFAULT_MODULE_ID

    results = algo.learner_group.foreach_learner(
        lambda learner: module_state(learner.module[DEFAULT_MODULE_ID])
    )
    state = next(iter(results)).get()
    module = copy.deepcopy(algo.get_module())
    # strict=False: APPO's target copies are not in the state; anything else must match.
    missing, unexpected = module.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "_old_" not in k]:
        raise RuntimeError(f"learner and env-runner modules differ: {missing + unexpected}")
    return module


def save_module(module: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(module_state(module), tmp)
    os.replace(tmp, path)


def _set_weights(algo: Any, state: Mapping[str, Any]) -> None:
    """Load module weights into every learner and the env runners (pre-training -> real)."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    def load(learner):
        learner.module[DEFAULT_MODULE_ID].load_state_dict(dict(state), strict=False)
        if hasattr(learner.module[DEFAULT_MODULE_ID], "make_target_networks"):
            learner.module[DEFAULT_MODULE_ID].make_target_networks()

    algo.learner_group.foreach_learner(load)
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group)


def validation_score(
    agent: AgentConfig, data: MarketData, module: Any, window: str = "validation"
) -> dict[str, float]:
    """``performance()`` of the module's deterministic policy over one window (full pass)."""
    from tradewind.rl.artifacts import LoadedPolicy
    from tradewind.rl.baselines import run_policy
    from tradewind.rl.env import PortfolioEnv
    from tradewind.rl.evaluate import performance

    env = PortfolioEnv(data, agent.env_config(window))
    policy = LoadedPolicy.from_module(module, agent, env.symbols, env.config)
    record = run_policy(env, policy)
    return performance(record["log_return"].to_numpy(), record["turnover"].to_numpy())


class _Board:
    """TensorBoard scalars (tensorboardX writes the event files; no TensorFlow needed)."""

    def __init__(self, logdir: Path) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(logdir))

    def log(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _StopRequest:
    """Ctrl-C (SIGINT) or ``kill PID`` (SIGTERM) during training, handled between iterations.

    The first signal asks the loop to stop once the current ``algo.train()`` is done: its
    iteration is counted, checkpointed and recorded together, so the saved RLlib state, the
    step counter and ``state.json`` always describe the same iteration (an interrupt inside
    ``train()`` would save a half-done iteration: RLlib's metrics already hold its sampled steps
    and a resume counted them twice). A second signal stops at once, keeping the last
    checkpoint. Only in the main thread: inside a Tune trial signals are left alone.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning(
            "%s: stopping after this iteration (its checkpoint is saved); again to stop now",
            signal.Signals(signum).name,
        )


def init_ray(**kwargs: Any) -> None:
    """``ray.init``, retried when a local start times out (Ray waits a fixed 30 s for its raylet
    to register, which an overloaded machine can miss); other errors are raised at once."""
    import ray
    from tenacity import retry, retry_if_exception_message, stop_after_attempt, wait_fixed

    @retry(
        retry=retry_if_exception_message(match=".*timed out during startup.*"),
        stop=stop_after_attempt(3),
        wait=wait_fixed(2),
        reraise=True,
        before_sleep=lambda _: ray.shutdown(),
    )
    def attempt() -> None:
        ray.init(**kwargs)

    attempt()


def _client_token_auth() -> None:
    """Joining a cluster: send the token ``ray start`` enabled, as ``ray start`` itself does.

    A cluster started with ``ray start --head`` uses token authentication when a token exists
    (``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``), but a driver calling ``ray.init(address=...)``
    sends it only in token mode; without this it is refused ("InvalidAuthToken"). An explicit
    ``RAY_AUTH_MODE`` is left alone.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: its own defaults apply
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


# ---------------------------------------------------------------------------------- train
def train(
    agent: AgentConfig,
    data: MarketData,
    out_dir: str | Path,
    *,
    run_id: str,
    timesteps: int | None = None,
    resume: bool = False,
    progress: Callable[[IterationReport], None] | None = None,
    ray_address: str | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``agent`` on ``data`` into ``out_dir`` (see the module docstring).

    ``timesteps`` overrides the budget of the real-history phase. ``ray_address`` joins a Ray
    cluster (else a local Ray). ``manifest_extra`` (code_version, data_fingerprint, ...) is
    stored in the manifest as given. Ctrl-C finishes the running iteration, saves a checkpoint
    and raises :class:`TrainingInterrupted`.
    """
    import ray

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    val_end = agent.windows.validation.end
    # The test window is never given to training: cut it off here, whatever the caller loaded.
    data = data.between(None, val_end)
    data_path = out / "data.npz"
    state_path = out / STATE_FILE
    state: dict[str, Any]
    if resume and state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    else:
        if resume:
            raise FileNotFoundError(f"nothing to resume in {out}: no {STATE_FILE}")
        state = {"phase": None, "done_phases": [], "timesteps": 0, "iteration": 0,
                 "checkpoint": None, "best": None, "history": [], "stale": 0}  # fmt: skip
        data.save(data_path)
        (out / "agent.yaml").write_text(agent.to_yaml(), encoding="utf-8")

    phases: list[tuple[str, int, dict[str, Any]]] = []
    if agent.pretrain is not None:
        pre_env = {
            **agent.env_config("train"),
            "session_range": None,
            "episode_length": agent.pretrain.episode_length,
            "synthetic": agent.pretrain.synthetic,
        }
        phases.append(("pretrain", agent.pretrain.timesteps, pre_env))
    real_env = {**agent.env_config("train"), "data": str(data_path)}
    phases.append(("train", int(timesteps or agent.budget.timesteps), real_env))

    started_ray = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,  # users read our progress lines, not Ray's start-up
        }
        if ray_address:
            kwargs["address"] = ray_address
            _client_token_auth()
        init_ray(**kwargs)
        started_ray = True
    cluster = ray.get_runtime_context().gcs_address  # recorded: where this run trained
    # After ray.init, which installs its own SIGTERM handler in the driver: ``kill PID`` then
    # ends the run like Ctrl-C (checkpoint saved, TrainingInterrupted raised).
    stop = _StopRequest().__enter__()
    board = _Board(out / "tensorboard")
    status = "succeeded"
    last_module = None
    try:
        carry: dict[str, Any] | None = None  # module weights from the previous phase
        for phase, budget, env_config in phases:
            if phase in state["done_phases"]:
                carry = _load_state(out / state["phase_end"][phase])
                continue
            algo = algorithm_config(agent, env_config).build_algo()
            try:
                if state["phase"] == phase and state["checkpoint"]:
                    algo.restore_from_path(str((out / state["checkpoint"]).resolve()))
                else:
                    state.update(phase=phase, timesteps=0, iteration=0, checkpoint=None, stale=0)
                    if carry is not None:
                        _set_weights(algo, carry)
                status = _run_phase(
                    algo, agent, data, out, phase, budget, state, board, progress, t_start, stop
                )
                module = trained_module(algo)
                end_path = out / f"policy/{phase}_end.pt"
                save_module(module, end_path)
                carry = _load_state(end_path)
                state.setdefault("phase_end", {})[phase] = str(end_path.relative_to(out))
                state["done_phases"].append(phase)
                _write_json(state_path, state)
                last_module = module
            finally:
                algo.stop()
    finally:
        board.close()
        stop.__exit__()
        if started_ray:
            ray.shutdown()

    from tradewind.rl.artifacts import build_module

    if last_module is None:  # every phase was already done (resume of a finished run)
        last_module = build_module(agent, data.symbols, carry)
    save_module(last_module, out / LAST_POLICY)
    if state["best"] is None:  # never checked: the end of training is the choice
        score = validation_score(agent, data, last_module)
        state["best"] = {"iteration": state["iteration"], "timesteps": state["timesteps"],
                         "score": score[agent.early_stopping.metric], "metrics": score,
                         "path": LAST_POLICY}  # fmt: skip
    shutil.copyfile(out / state["best"]["path"], out / BEST_POLICY)
    _write_json(state_path, state)
    manifest = {
        "run_id": run_id,
        "agent": agent.name,
        "algorithm": agent.algorithm.name,
        "symbols": list(data.symbols),
        "features": list(agent.features),
        "window": agent.window,
        "env_config": {k: v for k, v in agent.env_config(None).items()},
        "action": agent.action.model_dump(),
        "costs": agent.costs.model_dump(),
        "model_config": agent.model.model_dump(),
        "windows": agent.windows.as_dict(),
        "seed": agent.seed,
        "timesteps": state["timesteps"],
        "iterations": state["iteration"],
        "selected_checkpoint": BEST_POLICY,
        "selected_on": "validation",
        "selection_metric": agent.early_stopping.metric,
        "validation": state["best"]["metrics"],
        "last_checkpoint": state["checkpoint"],
        "status": status,
        "ray_address": ray_address,
        "ray_cluster": cluster,
        **dict(manifest_extra or {}),
    }
    _write_json(out / MANIFEST_FILE, manifest)
    return TrainResult(
        run_dir=out,
        status=status,
        timesteps=int(state["timesteps"]),
        iterations=int(state["iteration"]),
        selected=BEST_POLICY,
        validation=state["best"]["metrics"],
        history=state["history"],
        train_seconds=time.monotonic() - t_start,
        manifest=manifest,
    )


def _load_state(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _checkpoint(algo: Any, out: Path, phase: str, state: dict[str, Any]) -> None:
    rel = f"checkpoints/{phase}_{state['iteration']:06d}"
    algo.save_to_path(str((out / rel).resolve()))
    previous = state.get("checkpoint")
    state["checkpoint"] = rel
    _write_json(out / STATE_FILE, state)
    # Keep the last two: the previous one stays until the new one is complete and recorded.
    keep = {rel, previous}
    for old in (out / "checkpoints").iterdir():
        if f"checkpoints/{old.name}" not in keep and old.name.startswith(phase):
            shutil.rmtree(old, ignore_errors=True)


def _run_phase(
    algo: Any,
    agent: AgentConfig,
    data: MarketData,
    out: Path,
    phase: str,
    budget: int,
    state: dict[str, Any],
    board: _Board,
    progress: Callable[[IterationReport], None] | None,
    t_start: float,
    stop: _StopRequest,
) -> str:
    es = agent.early_stopping
    max_s = agent.budget.max_minutes * 60 if agent.budget.max_minutes else math.inf
    phase_t0 = time.monotonic()
    phase_steps0 = state["timesteps"]
    status = "succeeded"
    try:
        while state["timesteps"] < budget:
            t0 = time.monotonic()
            result = algo.train()
            dt = time.monotonic() - t0
            sampled = int(_get(result, "env_runners", "num_env_steps_sampled", default=0))
            state["timesteps"] += sampled
            state["iteration"] += 1
            it = state["iteration"]
            learner = _get(result, "learners", "default_policy", default={})
            losses = {
                k: float(learner[k])
                for k in ("policy_loss", "vf_loss", "total_loss", "entropy", "mean_kl_loss")
                if isinstance(learner, Mapping) and k in learner
            }
            ret = float(_get(result, "env_runners", "episode_return_mean"))
            done_steps = state["timesteps"] - phase_steps0
            speed = done_steps / max(time.monotonic() - phase_t0, 1e-9)
            eta = (budget - state["timesteps"]) / speed if speed > 0 else math.inf
            val = None
            if phase == "train" and (it % es.eval_every == 0 or state["timesteps"] >= budget):
                val = _check_validation(algo, agent, data, out, state)
            board.log(
                state["timesteps"],  # per phase: the tags carry the phase name
                {
                    f"{phase}/episode_return_mean": ret,
                    f"{phase}/steps_per_s": sampled / dt if dt > 0 else float("nan"),
                    **{f"{phase}/{k}": v for k, v in losses.items()},
                    **({"validation/score": val} if val is not None else {}),
                },
            )
            if progress is not None:
                progress(
                    IterationReport(
                        phase=phase,
                        iteration=it,
                        timesteps=state["timesteps"],
                        budget=budget,
                        episode_return_mean=ret,
                        steps_per_s=sampled / dt if dt > 0 else 0.0,
                        elapsed_s=time.monotonic() - t_start,
                        eta_s=max(eta, 0.0),
                        rllib_iteration=int(_get(result, "training_iteration", default=0)),
                        validation=val,
                        losses=losses,
                    )  # fmt: skip
                )
            if stop.requested:
                _checkpoint(algo, out, phase, state)
                raise TrainingInterrupted(f"interrupted after {phase} iteration {it}")
            if it % agent.checkpoint.every_iterations == 0:
                _checkpoint(algo, out, phase, state)
            if phase == "train" and es.patience and state["stale"] >= es.patience:
                status = "stopped_early"
                break
            if time.monotonic() - t_start > max_s:
                status = "time_budget"
                break
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        # The second signal: no checkpoint of a half-done iteration; resume redoes the
        # iterations after the last one saved.
        raise TrainingInterrupted(
            f"stopped in {phase} iteration {state['iteration'] + 1}; "
            f"the checkpoint of iteration {_saved_iteration(out)} is kept"
        ) from None
    except Exception as exc:
        if stop.requested:  # e.g. Ctrl-C reached the Ray workers of the process group too
            raise TrainingInterrupted(
                f"stopped in {phase} iteration {state['iteration'] + 1} ({type(exc).__name__}); "
                f"the checkpoint of iteration {_saved_iteration(out)} is kept"
            ) from exc
        raise
    _checkpoint(algo, out, phase, state)
    return status


def _saved_iteration(out: Path) -> int | None:
    path = out / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8"))["iteration"] if path.is_file() else None


def _check_validation(
    algo: Any, agent: AgentConfig, data: MarketData, out: Path, state: dict[str, Any]
) -> float:
    es = agent.early_stopping
    module = trained_module(algo)
    metrics = validation_score(agent, data, module)
    score = float(metrics[es.metric])
    if not np.isfinite(score):
        score = -math.inf
    entry = {"iteration": state["iteration"], "timesteps": state["timesteps"], "score": score,
             "metrics": metrics}  # fmt: skip
    state["history"].append(entry)
    best = state["best"]
    if best is None or score > best["score"] + es.min_delta:
        # A file per check: after a kill, state.json (written at checkpoints) may point to an
        # earlier best than the latest one saved, and must still find its own file.
        rel = f"policy/best_{state['iteration']:06d}.pt"
        save_module(module, out / rel)
        state["best"] = {**entry, "path": rel}
        state["stale"] = 0
    else:
        state["stale"] += 1
    return score
