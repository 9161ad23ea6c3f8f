"""Model registry and evaluations: ``ml.model_versions``, ``ml.evaluations``, the promotion gate.

Public API (warehouse side; the pure backtest and metrics are ``tradewind.rl.evaluation``):

- ``after_training(db_url, run_id) -> AfterTraining``: register, evaluate, gate (the end of
  ``tradewind train``);
- ``register_candidate``, ``resolve(db_url, name, version=None) -> ModelVersion`` (production
  when ``version`` is None), ``production_models``, ``list_versions``, ``set_stage``;
- ``evaluate_model(db_url, name, version, windows=("validation", "test")) -> [evaluation_id]``,
  ``evaluate_policy`` (any policy-like object, e.g. for the demo);
- ``gate(db_url, name, version) -> GateDecision`` and the pure rule ``decide``.
"""

from tradewind.registry.evaluation import evaluate_model, evaluate_policy
from tradewind.registry.gate import GateDecision, Margins, decide, gate
from tradewind.registry.pipeline import AfterTraining, after_training
from tradewind.registry.store import (
    ModelVersion,
    RegistryError,
    StoredEvaluation,
    evaluations_of,
    gate_decisions,
    get_evaluation,
    list_versions,
    parse_ref,
    production_models,
    register_candidate,
    resolve,
    set_stage,
    stage_history,
)

__all__ = [
    "AfterTraining",
    "GateDecision",
    "Margins",
    "ModelVersion",
    "RegistryError",
    "StoredEvaluation",
    "after_training",
    "decide",
    "evaluate_model",
    "evaluate_policy",
    "evaluations_of",
    "gate",
    "gate_decisions",
    "get_evaluation",
    "list_versions",
    "parse_ref",
    "production_models",
    "register_candidate",
    "resolve",
    "set_stage",
    "stage_history",
]
