"""Sweeps: a YAML search space over an agent, run by Ray Tune (pure of the warehouse).

A sweep file (example: ``rl/agents/sweep_demo.yaml``)::

    agent: demo                   # an agent name or file
    metric: sharpe                # validation metric the trials are ranked on (max)
    num_samples: 4                # trials (with grid entries: repeats of the whole grid)
    max_concurrent: 1             # trials at the same time
    scheduler: {type: asha, grace_period: 2, reduction_factor: 2}   # or {type: fifo}
    overrides: {budget.timesteps: 8192}                              # fixed for every trial
    space:                        # dotted agent keys -> one sampler each
      algorithm.lr: {loguniform: [0.0001, 0.003]}
      algorithm.entropy_coeff: {grid: [0.0, 0.01]}
      model.hidden: {choice: [8, 16]}

Samplers: ``grid``, ``choice`` (lists), ``uniform``, ``loguniform`` ([low, high]), ``randint``
([low, high), integers) and ``qrandint`` ([low, high, q]). Every trial's agent is validated
before anything runs, so a wrong key fails at once with the usual one-line error.

:func:`run_sweep_trials` runs a caller's trial function under Tune: the function trains one
trial and calls ``report`` with ``{"score", "best", "timesteps", "run_id"}`` at every validation
check (ASHA compares trials on ``best`` at equal ``timesteps``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tradewind.rl.agents import AGENTS_DIR, AgentConfig, AgentConfigError, load_agent
from tradewind.rl.train import TrainingInterrupted

SAMPLERS = ("grid", "choice", "uniform", "loguniform", "randint", "qrandint")


class SchedulerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["asha", "fifo"] = "asha"
    grace_period: int = Field(1, ge=1, description="Validation checks before a trial can stop.")
    reduction_factor: float = Field(2.0, gt=1)


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    agent: str
    metric: Literal["sharpe", "total_return", "cagr", "sortino"] = "sharpe"
    num_samples: int = Field(1, ge=1)
    max_concurrent: int = Field(1, ge=1)
    scheduler: SchedulerConfig = SchedulerConfig()
    overrides: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, dict[str, Any]]
    register_best: bool = Field(True, description="Register the best trial in the registry.")

    @model_validator(mode="after")
    def _samplers(self) -> SweepConfig:
        if not self.space:
            raise ValueError("space is empty: nothing to search")
        for key, spec in self.space.items():
            if len(spec) != 1 or next(iter(spec)) not in SAMPLERS:
                raise ValueError(f"space.{key}: one sampler of {', '.join(SAMPLERS)}")
            kind, args = next(iter(spec.items()))
            if not isinstance(args, list) or not args:
                raise ValueError(f"space.{key}.{kind}: a non-empty list")
            if kind in ("uniform", "loguniform", "randint") and len(args) != 2:
                raise ValueError(f"space.{key}.{kind}: [low, high]")
            if kind == "qrandint" and len(args) != 3:
                raise ValueError(f"space.{key}.qrandint: [low, high, q]")
        return self

    def base_agent(self) -> AgentConfig:
        agent = load_agent(self.agent)
        changes = {**self.overrides, "early_stopping.metric": self.metric}
        return agent.with_overrides(**changes)

    def check(self) -> AgentConfig:
        """Validate the agent with every grid/choice value and the sampler bounds."""
        base = self.base_agent()
        for key, spec in self.space.items():
            kind, args = next(iter(spec.items()))
            values = args if kind in ("grid", "choice") else args[:2]
            for value in values:
                base.with_overrides(**{key: value})
        return base


def load_sweep(path: str | Path) -> SweepConfig:
    p = Path(path)
    if not p.is_file() and (AGENTS_DIR / f"{path}.yaml").is_file():
        p = AGENTS_DIR / f"{path}.yaml"
    if not p.is_file():
        raise AgentConfigError(f"sweep file {str(path)!r} not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise AgentConfigError(f"{p}: is not valid YAML") from None
    data.setdefault("name", p.stem)
    try:
        sweep = SweepConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        what = "unknown key" if first.get("type") == "extra_forbidden" else first.get("msg")
        what = str(what).removeprefix("Value error, ")
        raise AgentConfigError(f"{p}: {loc + ': ' if loc else ''}{what}") from None
    sweep.check()
    return sweep


def param_space(sweep: SweepConfig) -> dict[str, Any]:
    """Tune's search space: one entry per dotted key."""
    from ray import tune

    out: dict[str, Any] = {}
    for key, spec in sweep.space.items():
        kind, args = next(iter(spec.items()))
        out[key] = {
            "grid": lambda a: tune.grid_search(a),
            "choice": lambda a: tune.choice(a),
            "uniform": lambda a: tune.uniform(*a),
            "loguniform": lambda a: tune.loguniform(*a),
            "randint": lambda a: tune.randint(*a),
            "qrandint": lambda a: tune.qrandint(*a),
        }[kind](args)
    return out


def scheduler(sweep: SweepConfig):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if sweep.scheduler.type == "fifo":
        return FIFOScheduler()
    base = sweep.base_agent()
    # Validation checks of a whole trial: every eval_every iterations and one at the end.
    iterations = -(-base.budget.timesteps // base.algorithm.train_batch_size)
    checks = -(-iterations // base.early_stopping.eval_every)
    return ASHAScheduler(
        time_attr="checks",
        # One past the last check: ASHA stops a trial that reaches max_t, and at the last check
        # the trial has not finished yet (its run is still to be closed and recorded).
        max_t=checks + 1,
        grace_period=min(sweep.scheduler.grace_period, checks),
        reduction_factor=sweep.scheduler.reduction_factor,
    )


class TrialStopped(TrainingInterrupted):
    """The scheduler stopped this trial (raised from ``report`` inside the trial function)."""


def run_sweep_trials(
    sweep: SweepConfig,
    trial: Callable[[dict[str, Any], Callable[[Mapping[str, Any]], None]], None],
    storage: str | Path,
    *,
    sweep_id: str,
    ray_address: str | None = None,
    cpus_per_trial: float = 1.0,
) -> list[dict[str, Any]]:
    """Run every trial; one dict per trial: trial, params, run_id, score (best), status."""
    import ray
    from ray import tune

    def trainable(config: dict[str, Any]) -> None:
        checks = {"n": 0}

        def report(metrics: Mapping[str, Any]) -> None:
            checks["n"] += 1
            try:
                tune.report({**metrics, "checks": checks["n"]})
            except SystemExit:
                # Tune ends a trial its scheduler stops with sys.exit(0) inside report(); as an
                # interruption the trainer stops like on Ctrl-C and the run is not "failed".
                raise TrialStopped(
                    f"stopped by the scheduler after {checks['n']} check(s)"
                ) from None

        try:
            trial(dict(config), report)
        except TrialStopped:
            return  # the end Tune asked for

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if ray_address:
            from tradewind.rl.train import _client_token_auth

            kwargs["address"] = ray_address
            _client_token_auth()
        from tradewind.rl.train import init_ray

        init_ray(**kwargs)
        started = True
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus_per_trial}),
            param_space=param_space(sweep),
            tune_config=tune.TuneConfig(
                metric="best",
                mode="max",
                num_samples=sweep.num_samples,
                max_concurrent_trials=sweep.max_concurrent,
                scheduler=scheduler(sweep),
            ),  # fmt: skip
            run_config=tune.RunConfig(
                name=sweep_id, storage_path=str(Path(storage).resolve()), verbose=0
            ),
        )
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    rows = []
    for result in grid:
        m = result.metrics or {}
        rows.append({
            "trial": str(m.get("trial_id") or Path(result.path).name),
            "params": {k: result.config.get(k) for k in sweep.space},
            "run_id": m.get("run_id"),
            "score": m.get("best"),
            "checks": m.get("checks", 0),
            "error": None if result.error is None else str(result.error).splitlines()[0],
        })  # fmt: skip
    rows.sort(key=lambda r: -float("inf") if r["score"] is None else -float(r["score"]))
    return rows
