"""Airflow test fixtures: a throw-away AIRFLOW_HOME with an sqlite metadata DB (Airflow's own
bookkeeping only; the warehouse is always the real PostgreSQL of the ``db_url`` fixture), the
project's dags/ and plugins/ folders, a copy of the dbt project with its manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from airflow_testlib import AirflowRunner, airflow_base_env

from tradewind.settings import PROJECT_ROOT


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow home (sqlite metadata, pools created), shared by the session."""
    home = tmp_path_factory.mktemp("airflow_home")
    AirflowRunner(home).call("setup", timeout=300)
    return home


@pytest.fixture
def airflow(airflow_home: Path, tmp_path: Path) -> AirflowRunner:
    """A runner for one test; the test adds warehouse/vendor variables to ``runner.env``."""
    return AirflowRunner(airflow_home, env={"TRADEWIND_HOME": str(tmp_path / "tw-home")})


@pytest.fixture(scope="session")
def airflow_in_process(airflow_home: Path):
    """Lets a test import Airflow in the pytest process (timetable unit tests), configured with
    the throw-away home, never the developer's ~/airflow."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in airflow_base_env(airflow_home).items():
            if key.startswith("AIRFLOW"):
                mp.setenv(key, value)
        restore = _use_plugins_folder(
            airflow_base_env(airflow_home)["AIRFLOW__CORE__PLUGINS_FOLDER"]
        )
        yield airflow_home
        _use_plugins_folder(restore)


def _use_plugins_folder(folder: str | None) -> str | None:
    """Point an already-imported Airflow at ``folder`` and forget the plugins it loaded.

    Airflow reads the plugins folder once, when ``airflow.settings`` is imported, and caches the
    plugins for the life of the process: an earlier in-process test (``dag.test`` under another
    home) must not decide which timetables this one sees. Returns the folder it replaced."""
    import sys

    settings = sys.modules.get("airflow.settings")
    previous = getattr(settings, "PLUGINS_FOLDER", None)
    if settings is not None and folder is not None:
        settings.PLUGINS_FOLDER = folder
    plugins_manager = sys.modules.get("airflow.plugins_manager")
    for name in ("_get_plugins", "get_timetables_plugins"):
        cached = getattr(plugins_manager, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    return previous


@pytest.fixture(scope="session")
def dbt_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of dbt/ with its manifest parsed (what ``make airflow`` does), so the tests never
    write into the developer's dbt/target."""
    import shutil

    root = tmp_path_factory.mktemp("dbt") / "dbt"
    shutil.copytree(
        PROJECT_ROOT / "dbt", root, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb")
    )
    env = {**airflow_base_env(root.parent), "TRADEWIND_DBT_PROJECT_DIR": str(root)}
    code = "from tradewind.orchestration.dbt_support import parse_project; parse_project()"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "target" / "manifest.json").is_file()
    return root
