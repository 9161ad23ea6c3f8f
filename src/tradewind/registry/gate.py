"""The promotion gate: a candidate becomes production only when, on the VALIDATION window, its
metric beats both the production version and 1/N by the configured margins.

:func:`decide` is the rule (pure); :func:`gate` applies it in the warehouse: it reads the
stored validation evaluations, evaluates the production version on the candidate's validation
window when it has no evaluation there yet (so both are judged on the same sessions, symbols
and costs), records the decision and its reason either way, and promotes on success. The test
window is never looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from tradewind.registry.store import RegistryError, resolve, set_stage, transaction

GATE_WINDOW = "validation"
# Metrics where a larger number is better (max_drawdown is negative: closer to 0 is better).
HIGHER_IS_BETTER = (
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "annual_return",
    "total_return",
    "max_drawdown",
    "hit_rate",
)


@dataclass(frozen=True)
class Margins:
    metric: str = "sharpe_ratio"
    over_production: float = 0.0
    over_equal_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.metric not in HIGHER_IS_BETTER:
            raise RegistryError(
                f"gate metric must be one of {', '.join(HIGHER_IS_BETTER)}, not {self.metric!r}"
            )
        if self.over_production < 0 or self.over_equal_weight < 0:
            raise RegistryError("gate margins must be >= 0")

    @classmethod
    def from_settings(cls, settings: Any = None) -> Margins:
        if settings is None:
            from tradewind.settings import get_settings

            settings = get_settings()
        return cls(
            metric=settings.gate_metric,
            over_production=settings.gate_margin_production,
            over_equal_weight=settings.gate_margin_equal_weight,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "over_production": self.over_production,
            "over_equal_weight": self.over_equal_weight,
        }


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    candidate: float | None
    equal_weight: float | None
    production: float | None
    production_version: int | None = None

    @property
    def decision(self) -> str:
        return "promoted" if self.promote else "refused"


def _value(metrics: dict[str, Any] | None, metric: str) -> float | None:
    if metrics is None:
        return None
    v = metrics.get(metric)
    return float(v) if v is not None and math.isfinite(float(v)) else None


def decide(
    candidate: dict[str, Any],
    equal_weight: dict[str, Any],
    production: dict[str, Any] | None,
    margins: Margins,
    *,
    production_version: int | None = None,
) -> GateDecision:
    """Promote iff candidate > 1/N + margin and (no production, or candidate > production +
    margin) on ``margins.metric``; a missing or non-finite candidate value always refuses."""
    m = margins.metric
    cand, base, prod = _value(candidate, m), _value(equal_weight, m), _value(production, m)

    def result(ok: bool, reason: str) -> GateDecision:
        return GateDecision(ok, reason, m, cand, base, prod, production_version)

    if cand is None:
        return result(False, f"candidate has no finite validation {m}")
    if base is None:
        return result(False, f"1/N has no finite validation {m} to compare with")
    if not cand > base + margins.over_equal_weight:
        return result(
            False,
            f"validation {m} {cand:.4f} does not beat 1/N {base:.4f} "
            f"by more than {margins.over_equal_weight:g}",
        )
    if production is not None:
        if prod is None:
            return result(False, f"production version {production_version} has no finite {m}")
        if not cand > prod + margins.over_production:
            return result(
                False,
                f"validation {m} {cand:.4f} does not beat production v{production_version} "
                f"{prod:.4f} by more than {margins.over_production:g}",
            )
        return result(
            True,
            f"validation {m} {cand:.4f} beats production v{production_version} {prod:.4f} "
            f"(margin {margins.over_production:g}) and 1/N {base:.4f} "
            f"(margin {margins.over_equal_weight:g})",
        )
    return result(
        True,
        f"validation {m} {cand:.4f} beats 1/N {base:.4f} (margin "
        f"{margins.over_equal_weight:g}); no production version yet",
    )


def gate(
    db_url: str | None,
    model_name: str,
    version: int,
    *,
    margins: Margins | None = None,
    loader: Any = None,
    reports: bool = True,
    progress: Any = None,
) -> GateDecision:
    """Judge ``model_name@version`` (a candidate) on its validation evaluation; record the
    decision; promote when it passes. Missing validation evaluations are computed first."""
    from tradewind.registry.evaluation import ensure_validation

    margins = margins or Margins.from_settings()
    candidate = resolve(db_url, model_name, version)
    if candidate.stage != "candidate":
        raise RegistryError(f"{candidate.ref} is {candidate.stage}, not a candidate")
    try:
        production = resolve(db_url, model_name)
    except RegistryError:
        production = None
    cand_eval, base_eval, prod_eval = ensure_validation(
        db_url, candidate, production, loader=loader, reports=reports, progress=progress
    )
    decision = decide(
        cand_eval.metrics,
        base_eval.metrics,
        prod_eval.metrics if prod_eval is not None else None,
        margins,
        production_version=production.version if production else None,
    )
    with transaction(db_url) as conn:
        conn.execute(
            "insert into ml.gate_decisions (model_name, version, decision, reason, metric, "
            "window_name, candidate_value, production_version, production_value, "
            "baseline_value, margins) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [model_name, version, decision.decision, decision.reason, margins.metric,
             GATE_WINDOW, decision.candidate, decision.production_version,
             decision.production, decision.equal_weight, Jsonb(margins.as_dict())],
        )  # fmt: skip
        if decision.promote:
            set_stage(
                db_url, model_name, version, "production", by="gate",
                reason=decision.reason, conn=conn,
            )  # fmt: skip
    return decision
