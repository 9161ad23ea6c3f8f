"""Evaluations in the warehouse: a model version and the baselines over named windows, read
from the feature marts, backtested by :mod:`tradewind.rl.evaluation` (pure), stored in
``ml.evaluations`` / ``ml.evaluation_daily``, with one report per evaluation.

Identity (``eval_key``): a model version over a window's dates, or a baseline over a window's
dates with the symbols, window length and cost model of the agent it is compared with. A
re-run replaces the stored evaluation (same evaluation_id, same report folder).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from tradewind.registry.store import (
    ModelVersion,
    RegistryError,
    StoredEvaluation,
    evaluation_of,
    get_evaluation,
    resolve,
    save_evaluation,
    set_report_uri,
    transaction,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Loader = Callable[[str], Any]


def load_policy(artifact_uri: str) -> Any:
    """The trained policy of an artifact (``tradewind.rl.artifacts.load_policy``)."""
    from tradewind.rl.artifacts import load_policy as _load

    return _load(artifact_uri)


def reports_dir() -> Path:
    from tradewind.settings import get_settings

    return get_settings().home / "reports" / "evaluations"


def _say(progress: Progress | None, line: str) -> None:
    log.info(line)
    if progress is not None:
        progress(line)


def _env_config(policy: Any):
    from tradewind.rl.env import EnvConfig

    # The agent sees exactly its own features, whatever else is loaded for the baselines.
    return dataclasses.replace(EnvConfig.build(policy.env_config),
                               feature_names=tuple(policy.features))  # fmt: skip


def _baseline_identity(policy: Any, env_config: Any) -> str:
    """What makes two baseline runs the same: symbols (ordered), window length, costs, bounds."""
    cfg = env_config
    ident = {
        "symbols": list(policy.symbols),
        "window": cfg.window,
        "fixed_bps": cfg.fixed_bps,
        "slippage_coef": cfg.slippage_coef,
        "max_weight": cfg.max_weight,
        "long_short": cfg.long_short,
        "gross_limit": cfg.gross_limit,
        "point_in_time_universe": _point_in_time_universe(policy),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def model_key(mv: ModelVersion, window: str, bounds: tuple[dt.date, dt.date]) -> str:
    return f"model:{mv.model_name}@{mv.version}:{window}:{bounds[0]}:{bounds[1]}"


def baseline_key(name: str, identity: str, window: str, bounds: tuple[dt.date, dt.date]) -> str:
    return f"policy:{name}:{window}:{bounds[0]}:{bounds[1]}:{identity}"


def _windows(policy: Any, windows: Sequence[str] | Mapping[str, Any]):
    from tradewind.rl.evaluation import resolve_windows

    declared = (getattr(policy, "manifest", None) or {}).get("windows")
    try:
        return resolve_windows(windows, declared)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


def _point_in_time_universe(policy: Any) -> str | None:
    """The universe name whose daily membership restricts the assets, as in training."""
    agent = getattr(policy, "agent", None)
    universe = getattr(agent, "universe", None)
    if getattr(agent, "point_in_time", False) and isinstance(universe, str):
        return universe
    return None


def _load_data(db_url: str | None, policy: Any, start: dt.date, end: dt.date):
    from tradewind.rl.data import DEFAULT_FEATURES, DEFAULT_VOL_WINDOW, load_market_data
    from tradewind.rl.evaluation import BASELINE_FEATURES

    features = tuple(dict.fromkeys([*policy.features, *BASELINE_FEATURES, *DEFAULT_FEATURES]))
    cfg = _env_config(policy)
    # A few sessions past the end: the environment needs the observation after its last
    # decision, and the window's last decision must not be dropped for want of it. Decisions
    # stay within [start, end] (the env's session_range); T only ever sees data up to T.
    try:
        data = load_market_data(
            db_url, list(policy.symbols), start, end + dt.timedelta(days=10), features,
            warmup_sessions=cfg.window + DEFAULT_VOL_WINDOW, vol_window=DEFAULT_VOL_WINDOW,
        )  # fmt: skip
    except ValueError as exc:
        raise RegistryError(f"cannot evaluate {start}..{end}: {exc}") from None
    universe = _point_in_time_universe(policy)
    if universe is not None:
        # Exactly as in training (tradewind.training.data): an asset is observable and
        # tradable only on the days it was a member, for the model and the baselines alike.
        from tradewind.training.data import membership_mask, restrict_to_members

        data = restrict_to_members(data, membership_mask(universe, data.sessions, data.symbols))
    return data


def _config_record(mv: ModelVersion | None, policy: Any, env_config: Any) -> dict[str, Any]:
    agent = getattr(policy, "agent", None)
    if hasattr(agent, "model_dump"):
        agent = agent.model_dump(mode="json")
    env = {k: v for k, v in dataclasses.asdict(env_config).items() if k != "synthetic"}
    record = {"env_config": json.loads(json.dumps(env, default=str))}
    if mv is not None:
        record |= {"model": mv.ref, "artifact_uri": mv.artifact_uri, "run_id": mv.run_id}
        if agent is not None:
            record["agent"] = json.loads(json.dumps(agent, default=str))
    return record


@dataclasses.dataclass
class WindowResult:
    window_name: str
    bounds: tuple[dt.date, dt.date]
    model_evaluation_id: str | None
    baseline_evaluation_ids: dict[str, str]


def evaluate_policy(
    db_url: str | None,
    policy: Any,
    windows: Sequence[str] | Mapping[str, Any],
    *,
    model: ModelVersion | None = None,
    baselines: bool = True,
    reports: bool = True,
    on_version: bool = True,
    progress: Progress | None = None,
) -> list[WindowResult]:
    """Backtest ``policy`` (when ``model`` names its version) and the baselines on each window,
    store them (replacing earlier runs of the same evaluation) and write their reports.

    ``on_version``: also keep the model's metrics per window name on its ``ml.model_versions``
    row (off when a version is judged on another version's window)."""
    from tradewind.rl.evaluate import write_report
    from tradewind.rl.evaluation import BASELINES, backtest, baseline_backtests

    if model is None and not baselines:
        raise RegistryError("nothing to evaluate")
    cfg = _env_config(policy)
    identity = _baseline_identity(policy, cfg)
    results = []
    for window_name, bounds in _windows(policy, windows).items():
        start, end = bounds
        label = model.ref if model else "baselines"
        _say(progress, f"{label}: {window_name} {start}..{end}: loading features")
        data = _load_data(db_url, policy, start, end)
        runs = {}
        try:
            if baselines:
                runs = baseline_backtests(data, cfg, window_name=window_name, start=start, end=end)
            subject = None
            if model is not None:
                subject = backtest(
                    data, cfg, policy, name=model.ref, window_name=window_name,
                    start=start, end=end,
                )  # fmt: skip
        except ValueError as exc:
            raise RegistryError(f"{label} on {window_name}: {exc}") from None
        ids: dict[str, str] = {}
        model_id = None
        with transaction(db_url) as conn:
            for name, bt in runs.items():
                ids[name] = save_evaluation(
                    conn, eval_key=baseline_key(name, identity, window_name, bounds),
                    window_name=window_name, daily=bt.daily, symbols=bt.symbols,
                    costs=bt.costs, metrics=bt.metrics, policy=name,
                    config=_config_record(None, policy, cfg) | {"policy": name},
                )  # fmt: skip
            if subject is not None:
                model_id = save_evaluation(
                    conn, eval_key=model_key(model, window_name, bounds),
                    window_name=window_name, daily=subject.daily, symbols=subject.symbols,
                    costs=subject.costs, metrics=subject.metrics,
                    model_name=model.model_name, model_version=model.version,
                    config=_config_record(model, policy, cfg),
                )  # fmt: skip
                if on_version:
                    conn.execute(
                        "update ml.model_versions set metrics = metrics || %s "
                        "where model_name = %s and version = %s",
                        [Jsonb({window_name: subject.metrics}), model.model_name,
                         model.version],
                    )  # fmt: skip
            if reports:
                compare = {k: v for k, v in runs.items() if k in BASELINES}
                todo = [(model_id, subject)] if subject is not None else []
                todo += [(ids[k], bt) for k, bt in runs.items()]
                for evaluation_id, bt in todo:
                    rep = write_report(
                        bt, compare, reports_dir() / evaluation_id,
                        title=f"{bt.name} on {window_name} ({bt.start} to {bt.end})",
                        config=_config_record(model if bt is subject else None, policy, cfg),
                    )  # fmt: skip
                    set_report_uri(conn, evaluation_id, str(rep.html))
        if subject is not None:
            m = subject.metrics
            _say(progress, f"{model.ref}: {window_name}: Sharpe {_num(m['sharpe_ratio'])}, "
                           f"annual return {_pct(m['annual_return'])}, max drawdown "
                           f"{_pct(m['max_drawdown'])}, turnover {_num(m['turnover'])}/day "
                           f"over {m['sessions']} sessions")  # fmt: skip
        for name, bt in runs.items():
            _say(progress, f"{name}: {window_name}: Sharpe {_num(bt.metrics['sharpe_ratio'])}, "
                           f"annual return {_pct(bt.metrics['annual_return'])}")  # fmt: skip
        results.append(WindowResult(window_name, bounds, model_id, ids))
    return results


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def evaluate_model(
    db_url: str | None,
    model_name: str,
    version: int,
    windows: Sequence[str] | Mapping[str, Any] = ("validation", "test"),
    *,
    loader: Loader | None = None,
    baselines: bool = True,
    reports: bool = True,
    progress: Progress | None = None,
) -> list[str]:
    """Evaluate ``model_name@version`` (and, by default, the baselines with its symbols and
    costs) on each window; returns the model's evaluation ids in window order."""
    mv = resolve(db_url, model_name, version)
    policy = (loader or load_policy)(mv.artifact_uri)
    results = evaluate_policy(
        db_url, policy, windows, model=mv, baselines=baselines, reports=reports,
        progress=progress,
    )  # fmt: skip
    return [r.model_evaluation_id for r in results]


def ensure_validation(
    db_url: str | None,
    candidate: ModelVersion,
    production: ModelVersion | None,
    *,
    loader: Loader | None = None,
    reports: bool = True,
    progress: Progress | None = None,
) -> tuple[StoredEvaluation, StoredEvaluation, StoredEvaluation | None]:
    """The candidate's, 1/N's and production's evaluations on the CANDIDATE's validation
    window (same sessions, symbols and costs), computing whichever is missing."""
    from tradewind.rl.evaluation import EQUAL_WEIGHT

    load = loader or load_policy
    policy = load(candidate.artifact_uri)
    (name, bounds), = _windows(policy, ["validation"]).items()  # fmt: skip
    identity = _baseline_identity(policy, _env_config(policy))
    with transaction(db_url) as conn:
        cand = evaluation_of(conn, model_key(candidate, name, bounds))
        base = evaluation_of(conn, baseline_key(EQUAL_WEIGHT, identity, name, bounds))
        prod = evaluation_of(conn, model_key(production, name, bounds)) if production else None
    if cand is None or base is None:
        (res,) = evaluate_policy(db_url, policy, {name: bounds}, model=candidate,
                                 reports=reports, progress=progress)  # fmt: skip
        cand = get_evaluation(db_url, res.model_evaluation_id)
        base = get_evaluation(db_url, res.baseline_evaluation_ids[EQUAL_WEIGHT])
    if production is not None and prod is None:
        _say(progress, f"{production.ref}: no evaluation on {candidate.ref}'s validation "
                       f"window {bounds[0]}..{bounds[1]} yet: evaluating it")  # fmt: skip
        prod_policy = load(production.artifact_uri)
        (res,) = evaluate_policy(db_url, prod_policy, {name: bounds}, model=production,
                                 on_version=False, reports=reports, progress=progress)  # fmt: skip
        prod = get_evaluation(db_url, res.model_evaluation_id)
    return cand, base, prod
