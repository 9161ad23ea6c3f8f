"""``tradewind models list|show NAME[@V]|promote NAME@V [--reason TEXT]|archive NAME@V`` and
``tradewind evaluate NAME@V [--window …]``.

Every failure (unknown model or version, a wrong stage, no features for a window, a
warehouse problem) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
models_app = typer.Typer(
    help="The model registry (ml.model_versions): versions, stages, promotions.",
    no_args_is_help=True,
)


def _friendly(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from pydantic import ValidationError

        from tradewind.db import WarehouseError

        try:
            return fn(*args, **kwargs)
        except (WarehouseError, ValidationError, FileNotFoundError, ValueError) as exc:
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _url() -> str:
    from tradewind.db import warehouse_url
    from tradewind.settings import get_settings

    return warehouse_url(get_settings())


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container without /etc/passwd entry)
        return "unknown"


def _num(x: Any, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


@models_app.command("list")
@_friendly
def models_list(
    model: Annotated[str | None, typer.Option(help="Only this model's versions.")] = None,
    stage: Annotated[str | None, typer.Option(help="candidate, production or archived.")] = None,
) -> None:
    """Every version with its stage and its validation/test Sharpe ratios."""
    from tradewind.registry.store import list_versions

    versions = list_versions(_url(), model, stage)
    table = Table("model", "version", "stage", "val. Sharpe", "test Sharpe", "created", "run",
                  title="model versions")  # fmt: skip
    for v in versions:
        val, test = v.metrics.get("validation") or {}, v.metrics.get("test") or {}
        style = "bold green" if v.stage == "production" else None
        table.add_row(
            v.model_name, str(v.version), v.stage, _num(val.get("sharpe_ratio")),
            _num(test.get("sharpe_ratio")), f"{v.created_at:%Y-%m-%d %H:%M}", v.run_id or "-",
            style=style,
        )  # fmt: skip
    console.print(table)
    if not versions:
        console.print("no model versions yet: `tradewind train AGENT` registers one")


@models_app.command("show")
@_friendly
def models_show(
    ref: Annotated[str, typer.Argument(help="NAME (its production version) or NAME@V.")],
) -> None:
    """One version: stage, artifact, evaluations (with reports), gate decisions, history."""
    from tradewind.registry.store import (
        evaluations_of,
        gate_decisions,
        parse_ref,
        resolve,
        stage_history,
    )

    url = _url()
    name, version = parse_ref(ref)
    v = resolve(url, name, version)
    console.print(f"[bold]{v.ref}[/]  stage [bold]{v.stage}[/]  (since "
                  f"{v.stage_changed_at:%Y-%m-%d %H:%M})", highlight=False)  # fmt: skip
    console.print(f"run {v.run_id or '-'}; artifact {v.artifact_uri}", highlight=False)
    if v.promotion_note:
        console.print(f"promotion: {v.promotion_note}", highlight=False)
    evals = evaluations_of(url, name, v.version)
    for e in evals:
        console.print(_evaluation_line(e), highlight=False)
    if not evals:
        console.print(f"no evaluations yet: `tradewind evaluate {v.ref}`")
    decisions = gate_decisions(url, name, v.version)
    for d in decisions:
        console.print(f"gate {d['decided_at']:%Y-%m-%d %H:%M}: [bold]{d['decision']}[/]: "
                      f"{d['reason']}", highlight=False)  # fmt: skip
    if not decisions:
        console.print("gate: not judged yet")
    for h in stage_history(url, name, v.version):
        console.print(f"  {h['changed_at']:%Y-%m-%d %H:%M} {h['from_stage'] or '-'} -> "
                      f"{h['to_stage']} by {h['changed_by']}: {h['reason']}",
                      highlight=False)  # fmt: skip


def _evaluation_line(e: Any) -> str:
    """One evaluation as one line (tables of a dozen columns wrap in a terminal)."""
    m, costs = e.metrics, e.costs
    return (
        f"{e.window_name} {e.start_session}..{e.end_session} ({e.sessions} sessions, "
        f"{costs.get('fixed_bps', 0):g} bps): Sharpe {_num(m.get('sharpe_ratio'))}, "
        f"Sortino {_num(m.get('sortino_ratio'))}, annual return "
        f"{_num(m.get('annual_return'), '+.1%')}, volatility "
        f"{_num(m.get('annual_volatility'), '.1%')}, max drawdown "
        f"{_num(m.get('max_drawdown'), '.1%')}, Calmar {_num(m.get('calmar_ratio'))}, "
        f"turnover {_num(m.get('turnover'))}/day, hit rate {_num(m.get('hit_rate'), '.1%')}; "
        f"evaluation {e.evaluation_id}; report {e.report_uri or '-'}"
    )


def _move(ref: str, stage: str, reason: str | None, by: str | None) -> None:
    from tradewind.registry.store import RegistryError, parse_ref, resolve, set_stage

    url = _url()
    name, version = parse_ref(ref, need_version=True)
    current = resolve(url, name, version)
    if current.stage == stage:
        raise RegistryError(f"{current.ref} is already {stage}")
    before = None
    if stage == "production":
        try:
            before = resolve(url, name)
        except RegistryError:
            before = None
    who = by or _who()
    why = reason or f"manual {'promotion' if stage == 'production' else stage}"
    v = set_stage(url, name, version, stage, by=who, reason=why)
    console.print(f"{v.ref}: {current.stage} -> {v.stage} by {who}: {why}", highlight=False)
    if before is not None:
        console.print(f"{before.ref}: production -> archived", highlight=False)


@models_app.command("promote")
@_friendly
def models_promote(
    ref: Annotated[str, typer.Argument(help="NAME@V")],
    reason: Annotated[str | None, typer.Option(help="Why (stored with the change).")] = None,
    by: Annotated[str | None, typer.Option(help="Who (default: your login name).")] = None,
) -> None:
    """Make NAME@V the production version (the previous one is archived); records who/why."""
    _move(ref, "production", reason, by)


@models_app.command("archive")
@_friendly
def models_archive(
    ref: Annotated[str, typer.Argument(help="NAME@V")],
    reason: Annotated[str | None, typer.Option(help="Why (stored with the change).")] = None,
    by: Annotated[str | None, typer.Option(help="Who (default: your login name).")] = None,
) -> None:
    """Retire NAME@V (a production version leaves the model without one)."""
    _move(ref, "archived", reason, by)


@models_app.command("gate")
@_friendly
def models_gate(ref: Annotated[str, typer.Argument(help="NAME@V (a candidate)")]) -> None:
    """Judge a candidate on its validation window now (evaluating what is missing) and
    promote it if it passes; the decision and its reason are stored either way."""
    from tradewind.registry.gate import gate
    from tradewind.registry.store import parse_ref

    name, version = parse_ref(ref, need_version=True)
    d = gate(_url(), name, version,
             progress=lambda line: console.print(f"  [dim]{line}[/]", highlight=False))  # fmt: skip
    console.print(f"{name}@{version}: [bold]{d.decision}[/]: {d.reason}", highlight=False)


@_friendly
def evaluate_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@V (or NAME: its production version).")],
    window: Annotated[
        list[str] | None,
        typer.Option("--window", "-w", help="validation, test (repeatable; default: both)."),
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the reports.")] = False,
) -> None:
    """Evaluate a model version and the baselines (same costs) on its windows; a re-run
    replaces the stored evaluation."""
    from tradewind.registry.evaluation import evaluate_model
    from tradewind.registry.store import evaluations_of, parse_ref, resolve
    from tradewind.rl.evaluation import DEFAULT_WINDOWS, EVALUATION_WINDOWS

    windows = tuple(window or EVALUATION_WINDOWS)
    unknown = [w for w in windows if w not in DEFAULT_WINDOWS]
    if unknown:
        raise ValueError(f"unknown window {unknown[0]!r}; known: {', '.join(DEFAULT_WINDOWS)}")
    url = _url()
    name, version = parse_ref(ref)
    v = resolve(url, name, version)
    ids = evaluate_model(
        url, v.model_name, v.version, windows, reports=not no_report,
        progress=lambda line: console.print(f"  [dim]{line}[/]", highlight=False),
    )  # fmt: skip
    stored = {e.evaluation_id: e for e in evaluations_of(url, v.model_name, v.version)}
    console.print(f"[bold]{v.ref}[/] ({v.stage})", highlight=False)
    for evaluation_id in ids:
        console.print(_evaluation_line(stored[evaluation_id]), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate_cmd)


__all__ = ["register"]
