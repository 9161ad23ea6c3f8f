"""What happens after a successful training run: register, evaluate, gate.

``tradewind train`` calls :func:`after_training` at its end (and ``make demo`` can too): the
run becomes a candidate version of the model named after its agent, that version and the
baselines are evaluated on the validation and test windows with one cost model, each
evaluation gets its report, and the gate decides on the validation window. Re-running it for
the same run changes nothing: the same version, the evaluations replaced in place, and the
gate's earlier decision returned instead of a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row

from tradewind.db import connect
from tradewind.registry.evaluation import Loader, Progress, evaluate_policy, load_policy
from tradewind.registry.gate import GATE_WINDOW, GateDecision, Margins, gate
from tradewind.registry.store import (
    ModelVersion,
    RegistryError,
    gate_decisions,
    get_evaluation,
    register_candidate,
    resolve,
)
from tradewind.rl.evaluation import EQUAL_WEIGHT, EVALUATION_WINDOWS


@dataclass
class AfterTraining:
    version: ModelVersion  # as it is after the gate (candidate or production)
    evaluation_ids: dict[str, str]  # window -> the model's evaluation
    baseline_evaluation_ids: dict[str, dict[str, str]]  # window -> policy -> evaluation
    decision: GateDecision
    report_uris: dict[str, str] = field(default_factory=dict)  # window -> model report
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # window -> name -> ...
    warnings: list[str] = field(default_factory=list)  # e.g. a test window without data

    @property
    def model_name(self) -> str:
        return self.version.model_name

    def lines(self) -> list[str]:
        """A short summary for the end of ``tradewind train``."""
        out = [f"registered {self.version.ref} (run {self.version.run_id})"]
        for window, by_policy in self.metrics.items():
            parts = [
                f"{name} {m.get('sharpe_ratio'):.2f}" if m.get("sharpe_ratio") is not None
                else f"{name} n/a"
                for name, m in by_policy.items()
            ]  # fmt: skip
            out.append(f"{window} Sharpe: " + ", ".join(parts))
        for window, uri in self.report_uris.items():
            out.append(f"{window} report: {uri}")
        out += [f"warning: {w}" for w in self.warnings]
        out.append(f"gate: {self.decision.decision}: {self.decision.reason}")
        out.append(f"stage: {self.version.stage}")
        return out


def training_run(db_url: str | None, run_id: str) -> dict[str, Any]:
    with connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select run_id, agent, status, artifact_uri, metrics from ml.training_runs "
            "where run_id = %s",
            [run_id],
        )
        row = cur.fetchone()
    if row is None:
        raise RegistryError(f"no training run {run_id}")
    return row


def _decision_from_row(row: dict[str, Any]) -> GateDecision:
    return GateDecision(
        promote=row["decision"] == "promoted",
        reason=row["reason"],
        metric=row["metric"],
        candidate=row["candidate_value"],
        equal_weight=row["baseline_value"],
        production=row["production_value"],
        production_version=row["production_version"],
    )


def after_training(
    db_url: str | None,
    run_id: str,
    *,
    margins: Margins | None = None,
    loader: Loader | None = None,
    reports: bool = True,
    progress: Progress | None = None,
) -> AfterTraining:
    """Register ``run_id`` as a candidate of its agent's model, evaluate it and the baselines
    on validation and test, and run the gate (once per version)."""
    run = training_run(db_url, str(run_id))
    if run["status"] != "succeeded":
        raise RegistryError(
            f"run {run_id} is {run['status']}: only a succeeded run becomes a candidate"
        )
    if not run["artifact_uri"]:
        raise RegistryError(f"run {run_id} has no artifact_uri")
    mv = register_candidate(db_url, run["agent"], run["artifact_uri"], run_id=str(run_id))
    if progress:
        progress(f"registered {mv.ref} ({mv.stage})")
    policy = (loader or load_policy)(mv.artifact_uri)
    results, warnings = [], []
    for window in EVALUATION_WINDOWS:
        try:
            results += evaluate_policy(
                db_url, policy, [window], model=mv, reports=reports, progress=progress
            )
        except RegistryError as exc:
            # The gate needs validation; the test window is only reported, so a test window
            # without data (yet) must not keep a good run from being registered and judged.
            if window == GATE_WINDOW:
                raise
            warnings.append(f"{window} not evaluated: {exc}")
            if progress:
                progress(warnings[-1])
    evaluation_ids = {r.window_name: r.model_evaluation_id for r in results}
    baseline_ids = {r.window_name: r.baseline_evaluation_ids for r in results}
    earlier = gate_decisions(db_url, mv.model_name, mv.version)
    if earlier:
        decision = _decision_from_row(earlier[-1])
        if progress:
            progress(f"gate already decided for {mv.ref}: {decision.decision}")
    elif mv.stage != "candidate":
        raise RegistryError(f"{mv.ref} is {mv.stage} without a gate decision: not re-gating it")
    else:
        decision = gate(db_url, mv.model_name, mv.version, margins=margins,
                        loader=lambda uri: policy if uri == mv.artifact_uri else
                        (loader or load_policy)(uri), reports=reports, progress=progress)  # fmt: skip
    report_uris: dict[str, str] = {}
    metrics: dict[str, dict[str, Any]] = {}
    for window, evaluation_id in evaluation_ids.items():
        ev = get_evaluation(db_url, evaluation_id)
        report_uris[window] = ev.report_uri or ""
        metrics[window] = {mv.ref: ev.metrics}
        base = baseline_ids[window].get(EQUAL_WEIGHT)
        if base:
            metrics[window][EQUAL_WEIGHT] = get_evaluation(db_url, base).metrics
    return AfterTraining(
        version=resolve(db_url, mv.model_name, mv.version),
        evaluation_ids=evaluation_ids,
        baseline_evaluation_ids=baseline_ids,
        decision=decision,
        report_uris=report_uris,
        metrics=metrics,
        warnings=warnings,
    )
