"""The dbt runner and the `tradewind features` commands: profile environment, errors, CLI."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from features_testlib import read_frame
from typer.testing import CliRunner

from tradewind.db import WarehouseError
from tradewind.features import dbt_env
from tradewind.features.sessions import nyse_sessions
from tradewind.settings import PROJECT_ROOT


def test_dbt_env_parses_every_part_of_the_url():
    env = dbt_env(
        "postgresql+psycopg://an%40alyst:p%3Aw%2Fd@db.example.com:6543/ware_house?sslmode=require",
        probe=False,
    )
    assert env["TRADEWIND_DBT_HOST"] == "db.example.com"
    assert env["TRADEWIND_DBT_PORT"] == "6543"
    assert env["TRADEWIND_DBT_USER"] == "an@alyst"
    assert env["TRADEWIND_DBT_PASSWORD"] == "p:w/d"
    assert env["TRADEWIND_DBT_DBNAME"] == "ware_house"
    assert env["TRADEWIND_DBT_SSLMODE"] == "require"
    assert Path(env["DBT_PROJECT_DIR"]) == PROJECT_ROOT / "dbt"


def test_dbt_env_defaults_and_refusals():
    env = dbt_env("postgresql://tradewind@127.0.0.1/tradewind", probe=False)
    assert env["TRADEWIND_DBT_PORT"] == "5432"
    assert env["TRADEWIND_DBT_PASSWORD"] == ""
    with pytest.raises(WarehouseError, match="names no user"):
        dbt_env("postgresql://127.0.0.1:5432/tradewind", probe=False)
    with pytest.raises(WarehouseError, match="malformed"):
        dbt_env("mysql://u@h/db", probe=False)


def test_profile_reads_the_variables_dbt_env_sets():
    profile = (PROJECT_ROOT / "dbt" / "profiles.yml").read_text()
    env = dbt_env("postgresql://u@h/d", probe=False)
    for key in env:
        if key.startswith("TRADEWIND_DBT_"):
            assert f"env_var('{key}'" in profile, key


def test_seed_is_the_exchange_calendar():
    seed = PROJECT_ROOT / "dbt" / "seeds" / "nyse_sessions.csv"
    committed = seed.read_text().splitlines()
    generated = nyse_sessions().to_csv(index=False, lineterminator="\n").splitlines()
    assert committed == generated, "regenerate with tradewind.features.sessions.write_seed"


@pytest.mark.integration
def test_features_env_prints_exports_for_plain_dbt(tw_env):
    from tradewind.cli import app

    result = CliRunner().invoke(app, ["features", "env"])
    assert result.exit_code == 0, result.output
    exports = dict(
        shlex.split(line)[1].split("=", 1) for line in result.stdout.splitlines() if line
    )
    assert exports["TRADEWIND_DBT_DBNAME"] == tw_env.rsplit("/", 1)[1]
    # The output is what the README tells analysts to eval, and plain dbt then reaches the DB.
    bin_dir = Path(sys.executable).parent
    script = f'eval "$({bin_dir / "tradewind"} features env)" && {bin_dir / "dbt"} debug'
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "All checks passed" in proc.stdout


@pytest.mark.integration
def test_cli_build_failure_is_one_line(monkeypatch, empty_db_url, tmp_path):
    from tradewind.cli import app
    from tradewind.settings import reset_settings_cache

    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    reset_settings_cache()
    try:
        result = CliRunner().invoke(app, ["features", "build", "--select", "stg_bars_daily"])
    finally:
        reset_settings_cache()
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    # dbt's own message, on one line: which node failed and why.
    assert lines[-1].startswith("error: dbt build failed at stg_bars_daily")
    assert 'relation "raw.bars_daily" does not exist' in lines[-1]
    assert "Traceback" not in result.stderr
    assert read_frame(
        empty_db_url,
        "select 1 from information_schema.tables where table_schema like 'features%%'",
    ).empty
