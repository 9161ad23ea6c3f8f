"""Helpers of the Airflow tests: the child-process environment, a runner for
``airflow_driver.py``, warehouse checksums. Fixtures are in this folder's conftest.py.

Airflow reads its configuration once per process, so every Airflow call happens in a child
process with the environment built here; the pytest process itself never imports Airflow's
configuration (except the timetable unit tests, through the ``airflow_in_process`` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tradewind.settings import PROJECT_ROOT

DRIVER = Path(__file__).with_name("airflow_driver.py")
DAGS = PROJECT_ROOT / "dags"
PLUGINS = PROJECT_ROOT / "plugins"
# Each Airflow child process parses all DAG files; this bounds a hung run, not a slow one.
RUN_TIMEOUT = 600


def signals_fixtures():
    """The signal tests' conftest (bars -> dbt features -> tiny production model), loaded once
    under its own module name: a bare ``conftest`` import would collide with this folder's."""
    import importlib.util

    folder = PROJECT_ROOT / "tests" / "signals"
    sys.path.insert(0, str(folder))  # its own imports (signals_testlib)
    spec = importlib.util.spec_from_file_location("signals_fixtures", folder / "conftest.py")
    module = sys.modules.setdefault("signals_fixtures", importlib.util.module_from_spec(spec))
    if not hasattr(module, "signals_warehouse"):
        spec.loader.exec_module(module)
    return module


def airflow_base_env(home: Path) -> dict[str, str]:
    """Environment of an Airflow child process: inherited env minus any Airflow/tradewind
    settings of the developer's shell, plus the test configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "TRADEWIND_", "APCA_", "NASDAQ_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # The time bound of a DAG file import, enforced by Airflow itself (import error).
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "30",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": (
                "great_expectations=WARNING cosmos=WARNING sqlalchemy=WARNING alembic=WARNING"
            ),
            "PYTHONWARNINGS": "ignore",
            # No network in tests (and no phoning home from a laptop either).
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # cosmos keeps dbt's partial-parse file between tasks in a cache folder, by default
            # /tmp/cosmos, shared by every test run on the machine: one of the home's instead.
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos-cache"),
            "DO_NOT_TRACK": "1",
            "TRADEWIND_HOME": str(home / "tradewind-home"),
        }
    )
    return env


@dataclass
class AirflowRunner:
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    last_log: str = ""

    def call(self, *args: str, timeout: int = RUN_TIMEOUT) -> list:
        """Run the driver; return the parsed RESULT lines. Fails with the log on error."""
        proc = subprocess.run(
            [sys.executable, str(DRIVER), *args],
            env={**airflow_base_env(self.home), **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        log = proc.stdout + proc.stderr
        # One log per call, kept for post-mortems (named after the test's tw-home folder).
        tag = Path(self.env.get("TRADEWIND_HOME", "x")).parent.name
        self.last_log = log
        n = len(list(self.home.glob("driver-*.log")))
        (self.home / f"driver-{n:03d}-{tag}.log").write_text(log)
        if proc.returncode != 0:
            raise AssertionError(
                f"airflow driver {args} failed ({proc.returncode}):\n{log[-8000:]}"
            )
        return [
            json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")
        ]

    def runs(self, *specs: dict) -> list[dict]:
        """Several runs in one Airflow process (see airflow_driver.py for the spec format)."""
        return self.call("runs", json.dumps(list(specs)))

    def run(
        self,
        dag_id: str,
        logical_date: str | None = None,
        conf: dict | None = None,
        only: list[str] | None = None,
    ) -> dict:
        spec = {"dag_id": dag_id, "logical_date": logical_date, "conf": conf, "only": only}
        (result,) = self.runs(spec)
        return result

    def backfill(self, dag_id: str, start: str, end: str, conf: dict | None = None) -> list[dict]:
        return self.runs({"backfill": dag_id, "start": start, "end": end, "conf": conf})


def table_checksums(url: str, queries: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row's text, in a fixed order, per query."""
    import psycopg

    out = {}
    with psycopg.connect(url) as c:
        for name, query in queries.items():
            out[name] = c.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
                f" from ({query}) t"
            ).fetchone()
    return out
