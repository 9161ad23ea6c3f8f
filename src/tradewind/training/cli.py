"""``tradewind train AGENT [--seed N] [--timesteps N] [--resume RUN_ID]``, ``tradewind tune
SWEEP.yaml`` and ``tradewind runs [list|show]``.

A progress line per iteration, a summary table at the end, one error line (exit 1) for a wrong
agent file, an unknown run or a warehouse problem. Ctrl-C ends a run ``aborted`` after saving a
checkpoint (exit 130); ``--resume RUN_ID`` continues it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
runs_app = typer.Typer(help="Training runs recorded in ml.training_runs.", no_args_is_help=True)


def _friendly(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from pydantic import ValidationError

        from tradewind.db import WarehouseError
        from tradewind.rl.agents import AgentConfigError
        from tradewind.training.runs import TrainingError

        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: the run is recorded as aborted")
            raise typer.Exit(130) from None
        except (
            WarehouseError, ValidationError, AgentConfigError, TrainingError, FileNotFoundError,
            ConnectionError,  # e.g. TRADEWIND_RAY_ADDRESS names no reachable Ray cluster
            ValueError,  # bad input found while loading (no rows for the symbols, ...)
        ) as exc:  # fmt: skip
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _url() -> str:
    from tradewind.db import warehouse_url
    from tradewind.settings import get_settings

    return warehouse_url(get_settings())


def _quiet_ray() -> None:
    """Ray and RLlib log their start-up at INFO/WARNING; users see our progress lines instead."""
    import logging

    for name in ("ray", "ray.rllib", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _print_outcome(outcome) -> None:
    res = outcome.result
    table = Table("run", "agent", "stop", "iterations", "env steps", "train s",
                  "val. sharpe", "val. return", "artifact", title="training run")  # fmt: skip
    v = res.validation
    table.add_row(
        outcome.run_id, outcome.agent.name, res.status, str(res.iterations),
        f"{res.timesteps:,}", f"{outcome.timings.get('train_s', 0):.0f}",
        f"{v.get('sharpe', float('nan')):.3f}", f"{v.get('total_return', float('nan')):+.2%}",
        outcome.artifact_uri,
    )  # fmt: skip
    console.print(table)
    if outcome.after is not None:
        for line in outcome.after.lines():
            console.print(f"  {line}", highlight=False)
    elif outcome.after_error:
        err_console.print(f"[yellow]registry:[/] {outcome.after_error}", highlight=False)


def train_cmd(
    agent: Annotated[str, typer.Argument(help="Agent name in rl/agents/ or a YAML path.")] = "",
    seed: Annotated[int | None, typer.Option(help="Override the agent's seed.")] = None,
    timesteps: Annotated[int | None, typer.Option(help="Override the env-step budget.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue RUN_ID from its last checkpoint.")
    ] = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Skip the registry (candidate, evaluations).")
    ] = False,
) -> None:
    """Train an agent (RLlib, new API stack) and record the run; then register and evaluate it."""
    from tradewind.training.service import run_training

    if not agent and not resume:
        raise typer.BadParameter("give an AGENT, or --resume RUN_ID")
    url = _url()
    _quiet_ray()
    console.print(f"[bold]training[/] {agent or 'run ' + str(resume)}", highlight=False)

    def progress(report) -> None:
        console.print(report.line(), highlight=False, markup=False)

    outcome = run_training(
        url, agent, seed=seed, timesteps=timesteps, resume=resume, progress=progress,
        register=not no_register,
        registry_progress=lambda line: console.print(f"  [dim]{line}[/]", highlight=False),
    )  # fmt: skip
    _print_outcome(outcome)
    if outcome.after_error:
        raise typer.Exit(1)


def tune_cmd(
    sweep: Annotated[str, typer.Argument(help="Sweep YAML (see rl/agents/sweep_demo.yaml).")],
) -> None:
    """Ray Tune over an agent's search space: every trial a recorded run, ranked on validation."""
    from tradewind.training.sweep import run_sweep

    _quiet_ray()
    summary = run_sweep(
        _url(), sweep, progress=lambda line: console.print(line, highlight=False, markup=False)
    )
    table = Table("rank", "trial", "run", "status", "validation", *summary.param_names,
                  title=f"sweep {summary.sweep_id} ranked on validation {summary.metric}")  # fmt: skip
    for rank, row in enumerate(summary.rows, 1):
        score = row["score"]
        table.add_row(
            str(rank), row["trial"], row["run_id"] or "-", row["status"],
            "n/a" if score is None else f"{score:.4f}",
            *(str(row["params"].get(p)) for p in summary.param_names),
        )  # fmt: skip
    console.print(table)
    if summary.rows and summary.rows[0]["score"] is not None:
        top = summary.rows[0]
        console.print(f"best trial: run {top['run_id']} (validation {summary.metric} "
                      f"{top['score']:.4f})", highlight=False)  # fmt: skip
    if summary.after is not None:
        for line in summary.after.lines():
            console.print(f"  {line}", highlight=False)
    elif summary.after_error:
        err_console.print(f"[yellow]registry:[/] {summary.after_error}", highlight=False)


@runs_app.command("list")
@_friendly
def runs_list(
    agent: Annotated[str | None, typer.Option(help="Only this agent's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many (newest first).")] = 20,
) -> None:
    """The latest training runs."""
    from tradewind.training.runs import list_runs

    table = Table("run", "agent", "status", "seed", "steps", "val. sharpe", "started", "code")
    for r in list_runs(_url(), agent=agent, limit=limit):
        val = (r.metrics or {}).get("validation") or {}
        sharpe = val.get("sharpe")
        table.add_row(
            r.run_id, r.agent, r.status, str(r.seed),
            f"{(r.progress or {}).get('timesteps', 0):,}",
            "-" if sharpe is None else f"{sharpe:.3f}",
            r.started_at.strftime("%Y-%m-%d %H:%M"), (r.code_version or "")[:12],
        )  # fmt: skip
    console.print(table)


@runs_app.command("show")
@_friendly
def runs_show(run_id: Annotated[str, typer.Argument(help="The run id.")]) -> None:
    """Everything recorded about one run (JSON)."""
    from tradewind.training.runs import clean_json, get_run

    r = get_run(_url(), run_id)
    console.print_json(json.dumps(clean_json(r.__dict__), default=str))


def register(app: typer.Typer) -> None:
    app.command("train")(_friendly(train_cmd))
    app.command("tune")(_friendly(tune_cmd))
    app.add_typer(runs_app, name="runs")
