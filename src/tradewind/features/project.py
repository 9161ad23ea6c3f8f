"""Facts about the dbt project that Python needs too, read from dbt/dbt_project.yml."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from tradewind.settings import get_settings


def project_vars(project_dir: Path | None = None) -> dict:
    """The `vars:` of dbt_project.yml (the defaults; --vars may override them per run)."""
    project_dir = project_dir or get_settings().dbt_project_dir
    with (project_dir / "dbt_project.yml").open() as fh:
        return dict(yaml.safe_load(fh).get("vars") or {})


def feature_lookback(vars: Mapping | None = None) -> int:
    """Bars before a daily_features row that it can depend on (macro feature_lookback)."""
    v = {**project_vars(), **(vars or {})}
    windows = [*v["return_windows"], *v["ma_windows"], v["volume_ma_window"], v["rsi_window"], 1]
    return int(max(windows))
