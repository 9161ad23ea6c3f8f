"""Glue between astronomer-cosmos and the project's dbt set-up.

cosmos renders the dbt project (``settings.dbt_project_dir``) as Airflow tasks and runs each
node with our own ``dbt/profiles.yml``, the profile analysts use from the CLI. That profile
reads ``TRADEWIND_DBT_*`` environment variables; :func:`warehouse_env_interceptor` fills them
when a task runs, from the ``tradewind_warehouse`` connection or the settings, so no credential
is ever in DAG code, the serialized DAG or the rendered template fields.

Import-light: cosmos' own imports do not pull dbt; the interceptor imports the package at run
time only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradewind.settings import get_settings

PROFILE_NAME = "tradewind"
TARGET_NAME = "warehouse"


def project_dir() -> Path:
    return get_settings().dbt_project_dir


def manifest_path() -> Path:
    """Where ``dbt parse`` (run by ``make airflow`` and the tests) leaves the manifest cosmos
    renders from: parsing the project with dbt at every DAG-file parse would take seconds."""
    return project_dir() / "target" / "manifest.json"


def warehouse_env_interceptor(context: Any, operator: Any) -> None:
    """cosmos interceptor: give this dbt invocation the warehouse's ``TRADEWIND_DBT_*``."""
    from tradewind.features import dbt_env
    from tradewind.orchestration.connections import warehouse_url
    from tradewind.orchestration.runtime import quiet_noisy_loggers

    quiet_noisy_loggers()
    env = dbt_env(warehouse_url())
    # cosmos runs dbt in a temporary copy of the project with its own flags: keep our folders
    # out of its way.
    env.pop("DBT_PROJECT_DIR", None)
    env.pop("DBT_PROFILES_DIR", None)
    operator.env = {**(operator.env or {}), **env}


def parse_project(target_path: Path | None = None) -> Path:
    """``dbt parse`` of the project, writing ``manifest.json``; returns its path.

    Parsing reads the profile but never connects, so the embedded server's defaults suffice.
    """
    from tradewind.features import run_dbt

    target = target_path or manifest_path().parent
    settings = get_settings()
    placeholder = (
        f"postgresql://{settings.pg_user}@127.0.0.1:{settings.pg_port}/{settings.pg_database}"
    )
    run_dbt(["parse"], url=placeholder, target_path=target, probe=False)
    return target / "manifest.json"
