"""The feature warehouse: the dbt project in dbt/ and the Python that runs it.

``build()`` runs ``dbt build`` against the warehouse in use (Airflow, ``make demo``, the CLI);
``tradewind.features.reference`` holds the same features in pandas/numpy.

The names below load on first use (PEP 562): ``tradewind.features.reference`` is pure numpy and
pandas, and ``tradewind.rl`` imports it without pulling in the warehouse or dbt.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "feature_lookback": "tradewind.features.project",
    "project_vars": "tradewind.features.project",
    "BuildResult": "tradewind.features.runner",
    "FeatureBuildError": "tradewind.features.runner",
    "build": "tradewind.features.runner",
    "dbt_env": "tradewind.features.runner",
    "docs_generate": "tradewind.features.runner",
    "run_dbt": "tradewind.features.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tradewind.features' has no attribute {name!r}")
