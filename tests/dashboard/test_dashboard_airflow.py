"""The dashboard inside Airflow 3: the plugin mounts the app under /tradewind on Airflow's own
API server, behind Airflow's login, with a navigation link (external view)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradewind.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration
DRIVER = Path(__file__).with_name("airflow_plugin_driver.py")


def test_plugin_mounts_the_dashboard_behind_airflow_login(sample_db, tmp_path):
    url, _ = sample_db
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "TRADEWIND_", "APCA_", "NASDAQ_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
            "DATABASE_URL": url,
            "TRADEWIND_HOME": str(tmp_path / "tw-home"),
            "PYTHONWARNINGS": "ignore",
            "DO_NOT_TRACK": "1",
            # A throw-away signing key for the JWTs of this test only.
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-signing-key-0123456789abcdef",
        }
    )
    proc = subprocess.run(
        [sys.executable, str(DRIVER)], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    # Airflow's login guards every route of the plugin app.
    assert out["anonymous"] == 401
    assert out["anonymous_page"] == 401
    assert out["logged_in"] == 200, out["overview_keys"]
    assert {"chain", "production_models", "quarantine"} <= set(out["overview_keys"])
    # Links and assets are under the mount point, so the app works behind Airflow's prefix.
    assert out["page"] == 200
    assert 'href="/tradewind/models/dow30_ppo"' in out["page_html"]
    assert 'src="/tradewind/static/plotly.min.js"' in out["page_html"]
    assert out["plotly"] == 200
    plugin = next(p for p in out["plugins"]["plugins"] if p["name"] == "tradewind_dashboard")
    views = plugin["external_views"]
    assert views and views[0]["href"] == "tradewind/" and views[0]["destination"] == "nav"
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/tradewind"


def test_building_the_app_imports_nothing_heavy():
    """Airflow builds the plugin's app in every process that loads plugins: no numpy or pandas
    until a page is requested."""
    code = (
        "import sys\n"
        "from tradewind.dashboard.app import create_app\n"
        "create_app(url='postgresql://nobody@127.0.0.1:1/none')\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'exchange_calendars')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
