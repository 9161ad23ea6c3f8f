"""The feature warehouse: the dbt project in dbt/ and the Python that runs it.

``build()`` runs ``dbt build`` against the warehouse in use (Airflow, ``make demo``, the CLI);
``tradewind.features.reference`` holds the same features in pandas/numpy.
"""

from tradewind.features.project import feature_lookback, project_vars
from tradewind.features.runner import (
    BuildResult,
    FeatureBuildError,
    build,
    dbt_env,
    docs_generate,
    run_dbt,
)

__all__ = [
    "BuildResult",
    "FeatureBuildError",
    "build",
    "dbt_env",
    "docs_generate",
    "feature_lookback",
    "project_vars",
    "run_dbt",
]
