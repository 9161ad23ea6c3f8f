"""One typed settings object; secrets never printed; packaging complete; no generic imports."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tradewind.settings import PROJECT_ROOT, Settings


def test_secrets_are_masked(monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", "AKID-visible-id")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "very-secret-value")
    monkeypatch.setenv("NASDAQ_DATA_LINK_API_KEY", "ndl-secret-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw-secret@h/db")
    s = Settings()
    text = repr(s) + str(s) + str(s.model_dump())
    for secret in ("very-secret-value", "ndl-secret-value", "pw-secret"):
        assert secret not in text
    assert s.alpaca_api_secret_key.get_secret_value() == "very-secret-value"
    assert not s.embedded


def test_prefix_and_vendor_names(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TRADEWIND_PG_PORT", "6000")
    monkeypatch.setenv("TRADEWIND_ALPACA_DATA_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("TRADEWIND_NDL_API_BASE", "http://127.0.0.1:9/api/v3")
    s = Settings()
    assert s.pg_port == 6000 and s.embedded
    assert s.alpaca_data_url == "http://127.0.0.1:9/"
    assert s.ndl_api_base == "http://127.0.0.1:9/api/v3"
    assert s.live_trading is False


def _package_dirs() -> set[str]:
    found = set()
    for init in (PROJECT_ROOT / "src").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(PROJECT_ROOT / "src").parts))
    for init in (PROJECT_ROOT / "rl").rglob("__init__.py"):
        rel = init.parent.relative_to(PROJECT_ROOT / "rl").parts
        found.add(".".join(("tradewind", "rl", *rel)))
    return found


def test_every_package_is_listed_in_pyproject():
    cfg = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    assert _package_dirs() <= listed, _package_dirs() - listed


# Modules that touch os.environ for a reason other than reading configuration.
ENV_ALLOWED = {
    "src/tradewind/settings.py": "the one place configuration is read",
    "src/tradewind/features/runner.py": "sets dbt's env vars for one run and restores them",
    "src/tradewind/db/embedded.py": "passes the environment to pg_ctl as another user",
    "src/tradewind/orchestration/standalone.py": "builds the environment of the Airflow process",
}


def test_no_os_getenv_outside_settings():
    offenders = []
    for py in list((PROJECT_ROOT / "src").rglob("*.py")) + list(
        (PROJECT_ROOT / "rl").rglob("*.py")
    ):
        if re.search(r"os\.getenv\(|os\.environ", py.read_text()):
            offenders.append(str(py.relative_to(PROJECT_ROOT)))
    assert set(offenders) <= set(ENV_ALLOWED), set(offenders) - set(ENV_ALLOWED)


def test_top_level_folders_from_the_brief():
    for name in (
        "dags",
        "plugins",
        "dbt",
        "rl",
        "sql",
        "tests",
        "docker-compose.yml",
        "requirements.txt",
    ):
        assert (PROJECT_ROOT / name).exists(), name


def test_requirements_pin_the_toolchain():
    req = (PROJECT_ROOT / "requirements.txt").read_text()
    pins = dict(
        line.split("==", 1)
        for line in req.splitlines()
        if "==" in line and not line.startswith("#")
    )
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    assert pins["torch"] == "2.13.0"
    assert pins["apache-airflow"].startswith("3.3")
    assert pins["dbt-core"].startswith("1.11")
    assert pins["ray"].startswith("2.60")
    assert Path(PROJECT_ROOT / ".ci" / "run").exists()
