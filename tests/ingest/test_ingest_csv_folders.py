"""CSV folders as users have them (issue 9, item 4): files that hold no bars are skipped and
named in the run's notes (``--strict`` refuses them), and an index file such as ``^DJI.csv``
loads as a benchmark series that no universe can include."""

from __future__ import annotations

import psycopg
import pytest
from ingest_helpers import rows, scalar
from typer.testing import CliRunner

from tradewind.cli import app
from tradewind.ingest import SourceError, run_ingest

AS_OF = "2020-10-28T00:00:00Z"
HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
BARS = {  # what the bar files hold: session -> (open, high, low, close, volume)
    "AAPL": {"2020-10-26": (114.0, 116.5, 112.9, 115.0, 1e8), "2020-10-27": (115.5, 117.3, 114.5, 116.6, 9e7)},
    "MSFT": {"2020-10-26": (213.8, 216.3, 209.3, 210.1, 4e7), "2020-10-27": (211.6, 214.8, 210.0, 213.3, 3.6e7)},
    "^DJI": {"2020-10-26": (28_465.6, 28_465.6, 27_675.9, 27_685.4, 4.6e8), "2020-10-27": (27_681.0, 27_707.9, 27_433.9, 27_463.2, 3.7e8)},
}  # fmt: skip


@pytest.fixture
def user_folder(tmp_path):
    """A folder as it came from a user: bar files, a benchmark, and things that are not bars."""
    for sym, days in BARS.items():
        lines = [f"{d},{o},{h},{lo},{c},{c},{v}" for d, (o, h, lo, c, v) in days.items()]
        (tmp_path / f"{sym}.csv").write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    (tmp_path / "tickers.csv").write_text("symbol,name\nAAPL,Apple Inc.\nMSFT,Microsoft\n")
    (tmp_path / "industries.csv").write_text("Symbol,Sector,Industry\nAAPL,Tech,Hardware\n")
    (tmp_path / "notes.txt").write_text("downloaded from Yahoo on 2020-10-28\n")
    return tmp_path


NOT_BARS = ["industries.csv", "notes.txt", "tickers.csv"]


def test_non_bar_files_are_skipped_and_listed(user_folder, db_url):
    s = run_ingest("csv", None, as_of=AS_OF, url=db_url, paths=str(user_folder))
    assert (s.status, s.rows_in, s.rows_new, s.rows_quarantined) == ("succeeded", 6, 6, 0)
    got = rows(db_url, "select symbol, session::text, open, high, low, close, volume "
                       "from raw.bars_daily order by 1, 2")  # fmt: skip
    want = [(sym, d, *vals) for sym, days in sorted(BARS.items()) for d, vals in days.items()]
    assert got == want
    skipped = [n for n in s.notes if "without a bar layout" in n]
    assert len(skipped) == 1 and all(name in skipped[0] for name in NOT_BARS)
    # The run's record names them too.
    notes = scalar(db_url, "select params->'notes' from ops.ingest_runs where run_id = %s",
                   s.run_id)  # fmt: skip
    assert any(all(name in n for name in NOT_BARS) for n in notes)


def test_strict_refuses_a_folder_with_non_bar_files(user_folder, db_url):
    with pytest.raises(SourceError, match=r"strict mode: .*3 file\(s\).*not bars"):
        run_ingest("csv", None, as_of=AS_OF, url=db_url, paths=str(user_folder), strict=True)
    assert scalar(db_url, "select count(*) from raw.bars_daily") == 0
    assert rows(db_url, "select status from ops.ingest_runs") == [("failed",)]


def test_cli_prints_the_skipped_files_and_strict_is_one_line(user_folder, tw_env):
    r = CliRunner().invoke(app, ["ingest", "csv", str(user_folder), "--as-of", AS_OF])
    assert r.exit_code == 0, r.output
    assert "succeeded; 6 rows in -> 6 new" in r.output
    assert "note: 3 file(s) without a bar layout were skipped: industries.csv" in r.output
    r = CliRunner().invoke(app, ["ingest", "csv", str(user_folder), "--strict", "--as-of", AS_OF])
    assert r.exit_code == 1 and r.output.startswith("error:") and "strict mode" in r.output
    assert r.output.count("\n") == 1


def test_an_index_file_is_a_benchmark_never_a_universe_member(user_folder, db_url):
    run_ingest("csv", None, as_of=AS_OF, url=db_url, paths=str(user_folder))
    assert rows(db_url, "select symbol, source from ref.benchmarks") == [("^DJI", "csv")]
    # Its bars are stored like any series (so dbt builds its features) ...
    assert scalar(db_url, "select count(*) from raw.bars_daily where symbol = '^DJI'") == 2
    # ... but no universe may hold it.
    with (
        psycopg.connect(db_url) as c,
        pytest.raises(psycopg.errors.CheckViolation, match="benchmark"),
    ):
        c.execute("insert into ref.universe_members (universe, symbol, valid_from) "
                  "values ('MINE', '^DJI', '2020-01-01')")  # fmt: skip
    with psycopg.connect(db_url) as c:  # stocks still can
        c.execute("insert into ref.universe_members (universe, symbol, valid_from) "
                  "values ('MINE', 'AAPL', '2020-01-01')")  # fmt: skip
    # Re-loading changes nothing (idempotent), the benchmark row stays one.
    again = run_ingest("csv", None, as_of=AS_OF, url=db_url, paths=str(user_folder))
    assert (again.rows_new, again.rows_unchanged) == (0, 6)
    assert scalar(db_url, "select count(*) from ref.benchmarks") == 1


def test_a_set_of_only_non_bar_files_is_an_error(user_folder):
    from tradewind.ingest import extract

    with pytest.raises(SourceError, match="cannot tell the layout of 1 file"):
        extract("csv", paths=str(user_folder / "tickers.csv"))
