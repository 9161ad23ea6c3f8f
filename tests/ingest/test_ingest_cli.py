"""`tradewind ingest ...` end to end on the test database: summaries, one-line errors."""

from __future__ import annotations

import pytest
from ingest_helpers import rows, scalar
from typer.testing import CliRunner

from tradewind.cli import app


def invoke(*args: str):
    return CliRunner().invoke(app, ["ingest", *args])


def test_synthetic_and_universes(tw_env):
    r = invoke("universes")
    assert r.exit_code == 0, r.output
    assert "universes DOW30, NASDAQ100, SP100" in r.output
    r = invoke("synthetic", "--universe", "DOW30", "--start", "2020-03-02", "--end", "2020-03-06",
               "--as-of", "2020-03-09T00:00:00Z")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "synthetic 1Day run 1: succeeded; 150 rows in -> 150 new" in r.output
    assert scalar(tw_env, "select count(distinct symbol) from raw.bars_daily") == 30
    again = invoke("synthetic", "--universe", "DOW30", "--start", "2020-03-02", "--end",
                   "2020-03-06")  # fmt: skip
    assert "0 new, 0 updated, 150 unchanged" in again.output


def test_strict_csv_fails_with_one_line(tw_env, tmp_path):
    (tmp_path / "AAA.csv").write_text(
        "Date,High,Low,Open,Close,Volume,Adj Close\n"
        "2020-10-23,11.5,10.0,10.5,11.0,1100,10.9\n"
        "2020-10-24,11.5,10.0,10.5,11.0,1100,10.9\n"
    )
    r = invoke("csv", str(tmp_path), "--strict", "--as-of", "2020-10-26T00:00:00Z")
    assert r.exit_code == 1
    assert r.output.strip().startswith("error: csv 1Day run 1: rejected;")
    assert "not a NYSE session: AAA 2020-10-24" in r.output
    assert r.output.count("\n") == 1
    assert scalar(tw_env, "select count(*) from raw.bars_daily") == 0
    ok = invoke("csv", str(tmp_path), "--as-of", "2020-10-26T00:00:00Z", "--source-name", "mine")
    assert ok.exit_code == 0 and "mine 1Day run 2: succeeded; 2 rows in -> 1 new" in ok.output
    assert rows(tw_env, "select distinct source from raw.bars_daily") == [("mine",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synthetic", "--timeframe", "7Days"], "out of range"),
        (["synthetic", "--timeframe", "1Week"], "unknown timeframe"),
        (["synthetic", "--timeframe", "1Min"], "daily only"),
        (["synthetic", "--as-of", "2020-01-01T00:00:00"], "timezone-aware"),
        (["synthetic", "--universe", "NOPE"], "unknown universe"),
        (["csv", "/nonexistent/folder"], "no such file"),
        (["alpaca", "--symbols", "AAPL", "--start", "2020-01-02", "--end", "2020-01-03"],
         "no API keys"),
    ],
)  # fmt: skip
def test_errors_are_one_line(tw_env, monkeypatch, args, message):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    r = invoke(*args)
    assert r.exit_code == 1, r.output
    assert r.output.startswith("error:") and message in r.output
    assert r.output.count("\n") == 1, r.output
