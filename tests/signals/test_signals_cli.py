"""``tradewind signals generate`` / ``show`` through the real command line (typer's runner)."""

from __future__ import annotations

import pytest
from signals_testlib import MODEL
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


def run(*args: str):
    from tradewind.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_generate_show_and_refuse_on_the_command_line(signals_env, tmp_path):
    res = run("signals", "generate", "--start", "2019-03-01", "--end", "2019-03-08")
    assert res.exit_code == 0, res.output
    assert "tiny" in res.stdout and "written" in res.stdout and "(6)" in res.stdout
    # Progress while it runs, the summary table at the end, the new DOW30 members reported.
    assert "tiny: 6 session(s) 2019-03-01..2019-03-08" in res.stderr
    assert "new members: " in res.stderr and "JPM" in res.stderr
    assert len(list((tmp_path / "weights" / MODEL).glob("weights_2019-03-0*.csv"))) == 6

    again = run("signals", "generate", "--date", "2019-03-08", "--model", "tiny@1")
    assert again.exit_code == 0 and "unchanged" in again.stdout

    shown = run("signals", "show", "--date", "2019-03-08")
    assert shown.exit_code == 0, shown.output
    assert "tiny@1" in shown.stdout and "AAPL" in shown.stdout and "cash" in shown.stdout
    assert "unchanged at" in shown.stdout and "weights_2019-03-08.csv" in shown.stdout

    refused = run("signals", "generate", "--date", "2019-03-09", "--model", MODEL)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "error: 2019-03-09 is not a NYSE trading session"
    nothing = run("signals", "show", "--date", "2019-03-11")
    assert nothing.exit_code == 1
    assert nothing.stderr.strip() == "error: no target weights stored for 2019-03-11"
    both = run("signals", "generate", "--date", "2019-03-08", "--start", "2019-03-01")
    assert both.exit_code == 1 and "either --date or --start/--end" in both.stderr
    bad_date = run("signals", "generate", "--date", "2019-13-45", "--model", MODEL)
    assert bad_date.exit_code == 1
    assert bad_date.stderr.strip() == "error: not an ISO date (YYYY-MM-DD): '2019-13-45'"
    bad_ref = run("signals", "show", "--date", "2019-03-08", "--model", "a b")
    assert bad_ref.stderr.strip() == "error: 'a b' is not NAME or NAME@VERSION"


def test_without_a_production_model_one_line(signals_env):
    import psycopg

    with psycopg.connect(signals_env) as c:
        c.execute("update ml.model_versions set stage = 'archived'")
    res = run("signals", "generate", "--date", "2019-03-08")
    assert res.exit_code == 1
    assert res.stderr.strip().startswith("error: no production model and no ensemble")
