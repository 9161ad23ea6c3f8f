"""CSV import: Yahoo-style files (columns found by name, in any order), the WIKI layout and a
generic long format, with the defects real files have; and the shared real set when present."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from ingest_helpers import bars, rows, scalar

from tradewind.ingest import IngestError, SourceError, extract, run_ingest

# The shared set's column order; the loader must read by name.
YAHOO_HEADER = "Date,High,Low,Open,Close,Volume,Adj Close"


def write_yahoo(folder, ticker, lines):
    path = folder / f"{ticker}.csv"
    path.write_text(YAHOO_HEADER + "\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def yahoo_folder(tmp_path):
    # date, high, low, open, close, volume, adj close
    write_yahoo(tmp_path, "AAA", [
        "2020-10-22,11.0,9.5,10.0,10.5,1000,10.4",
        "2020-10-23,11.5,10.0,10.5,11.0,1100,10.9",
        "2020-10-26,11.2,10.1,11.0,10.2,0.0,10.1",  # zero volume: a stale print, a warning
        "2020-10-27,null,null,null,null,null,null",  # Yahoo's empty row
        "2020-10-28,10.9,10.0,10.2,10.6,400.0,10.6",  # the partial intraday bar of the last day
    ])  # fmt: skip
    write_yahoo(tmp_path, "BBB", [
        "2020-10-22,21.0,19.0,20.0,20.5,5000,20.5",
        "2020-10-23,22.0,20.0,20.5,21.5,5100,21.5",
        "2020-10-26,40.0,21.0,21.5,35.0,9000,35.0",  # +63%: recorded as a jump, still loaded
        "2020-10-27,36.0,34.0,35.0,34.5,7000,34.5",
        "2020-10-28,35.0,33.0,34.5,34.0,3000,34.0",
    ])  # fmt: skip
    return tmp_path


DATA_TIME = "2020-10-28T15:00:00-04:00"  # the files were written during the 10-28 session


def test_yahoo_files_load_with_their_defects(yahoo_folder, db_url):
    s = run_ingest("csv", None, as_of=DATA_TIME, url=db_url, paths=str(yahoo_folder))
    assert (s.rows_in, s.rows_new, s.rows_quarantined) == (10, 7, 3)
    assert s.quarantine_reasons == {
        "session not closed at as-of time": 2,
        "open is missing": 1, "high is missing": 1, "low is missing": 1, "close is missing": 1,
        "volume is missing": 1,
    }  # fmt: skip
    assert s.warning_kinds == {"zero_volume": 1, "jump": 1}
    got = bars(db_url)
    assert set(got["adjustment"]) == {"split"}
    first = got.iloc[0]
    # Parsed by name: this row's Open is the 4th column, High the 2nd.
    assert (first["symbol"], str(first["session"]), first["open"], first["high"], first["low"],
            first["close"], first["volume"]) == ("AAA", "2020-10-22", 10.0, 11.0, 9.5, 10.5, 1000)  # fmt: skip
    q = rows(db_url, "select symbol, bar_time, reasons, payload from ops.quarantine "
             "order by symbol, bar_time")  # fmt: skip
    assert [(r[0], r[1]) for r in q] == [("AAA", "2020-10-27"), ("AAA", "2020-10-28"),
                                         ("BBB", "2020-10-28")]  # fmt: skip
    assert q[1][3]["origin_file"] == "AAA.csv" and q[1][3]["origin_line"] == 6
    # After the close the same files load the last day too (the gate is keyed on as_of).
    later = run_ingest("csv", None, as_of="2020-10-28T20:00:00+00:00", url=db_url,
                       paths=str(yahoo_folder))  # fmt: skip
    assert (later.rows_new, later.rows_unchanged, later.rows_quarantined) == (2, 7, 1)


def test_adj_close_scaling(yahoo_folder):
    b = extract("csv", ["AAA"], paths=str(yahoo_folder), use_adj_close=True)
    assert b.meta.adjustment == "all"
    row = b.frame.iloc[0]
    factor = 10.4 / 10.5
    assert row["close"] == pytest.approx(10.4) and row["open"] == pytest.approx(10.0 * factor)
    assert row["volume"] == pytest.approx(1000 / factor)


def test_symbol_filter_and_window(yahoo_folder):
    b = extract("csv", ["BBB", "CCC"], "2020-10-23", "2020-10-27", paths=str(yahoo_folder))
    assert b.frame["symbol"].unique().tolist() == ["BBB"]
    assert len(b.frame) == 3
    assert b.meta.missing_symbols == ["CCC"]
    assert any("outside" in n for n in b.meta.notes) and any("skipped" in n for n in b.meta.notes)


def test_missing_column_rejects_the_file_set(tmp_path, db_url):
    (tmp_path / "AAA.csv").write_text("Date,High,Low,Open,Close\n2020-10-22,11,9,10,10.5\n")
    from tradewind.ingest import BatchRejected

    with pytest.raises(BatchRejected, match="missing column.*volume"):
        run_ingest("csv", None, as_of=DATA_TIME, url=db_url, paths=str(tmp_path))
    assert scalar(db_url, "select status from ops.ingest_runs") == "rejected"


def test_long_format_daily_and_minute(tmp_path, db_url):
    daily = tmp_path / "daily.csv"
    daily.write_text(
        "ticker,date,open,high,low,close,volume,vwap,trades\n"
        "msft,2020-10-22,10,11,9,10.5,100,10.2,7\n"
        "MSFT,2020-10-23,10.5,11,10,10.8,120,,\n"
    )
    s = run_ingest("csv", None, as_of=DATA_TIME, url=db_url, paths=str(daily))
    assert s.rows_new == 2
    got = bars(db_url)
    assert got["symbol"].tolist() == ["MSFT", "MSFT"]
    assert got["vwap"].tolist()[0] == 10.2 and pd.isna(got["vwap"].tolist()[1])
    assert got["trade_count"].tolist()[0] == 7

    minute = tmp_path / "minute.csv"
    minute.write_text(
        "symbol,timestamp,open,high,low,close,volume\n"
        "MSFT,2020-10-23T13:30:00Z,10,11,9,10.5,100\n"
        "MSFT,2020-10-23T09:31:00-04:00,10.5,11,10,10.8,120\n"
        "MSFT,2020-10-23T13:32:00,10.5,11,10,10.8,120\n"  # naive: UTC
    )
    m = run_ingest("csv", None, timeframe="1Min", as_of=DATA_TIME, url=db_url, paths=str(minute))
    assert m.rows_new == 3
    ts = [str(pd.Timestamp(t).tz_convert("UTC")) for t in bars(db_url, "raw.bars_minute")["ts"]]
    assert ts == ["2020-10-23 13:30:00+00:00", "2020-10-23 13:31:00+00:00",
                  "2020-10-23 13:32:00+00:00"]  # fmt: skip


def test_wiki_layout_through_csv(tmp_path, db_url):
    path = tmp_path / "wiki.csv"
    path.write_text(
        "ticker,date,open,high,low,close,volume,ex-dividend,split_ratio,adj_open,adj_high,"
        "adj_low,adj_close,adj_volume\n"
        "AAPL,2014-06-06,649.9,651.26,644.47,645.57,12497800,0,1,92.8,93.0,92.0,92.2,87484600\n"
        "AAPL,2014-06-09,92.7,93.88,91.75,93.7,75415000,0,7,92.7,93.88,91.75,93.7,75415000\n"
        "AAPL,2014-08-07,94.93,95.95,94.1,94.48,46711000,0.47,1,94.4,95.4,93.6,94.0,46711000\n"
    )
    s = run_ingest("csv", None, as_of=DATA_TIME, url=db_url, paths=str(path), adjustment="raw")
    assert s.rows_new == 3 and s.actions_loaded == 2
    assert bars(db_url)["close"].tolist() == [645.57, 93.7, 94.48]
    assert rows(db_url, "select ex_date::text, action, value from raw.corporate_actions "
                "order by 1") == [("2014-06-09", "split", 7.0),
                                  ("2014-08-07", "cash_dividend", 0.47)]  # fmt: skip


def test_unreadable_inputs_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        extract("csv", paths=str(tmp_path / "nope.csv"))
    (tmp_path / "odd.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match="cannot tell the layout"):
        extract("csv", paths=str(tmp_path / "odd.csv"))
    with pytest.raises(IngestError, match="paths"):
        extract("csv")


@pytest.mark.slow
def test_the_shared_real_set_loads(db_url, shared_data):
    """491,669 real rows: everything loads except the partial bars of 2020-10-28."""
    shared = shared_data / "sp100_daily_yahoo_2000_2020"
    s = run_ingest("csv", None, as_of=DATA_TIME, url=db_url, paths=str(shared))
    assert s.rows_in == 491_669
    assert s.rows_quarantined == 101  # one partial bar per file
    assert s.quarantine_reasons["session not closed at as-of time"] == 101
    assert s.rows_new == 491_669 - 101
    assert s.warning_kinds["zero_volume"] > 0 and s.warning_kinds["jump"] > 0
    assert scalar(db_url, "select count(distinct symbol) from raw.bars_daily") == 101
    assert scalar(db_url, "select max(session)::text from raw.bars_daily") == "2020-10-27"
    # 2001-09-11..14: the market was closed, so there is no bar and nothing to refuse.
    assert scalar(db_url, "select count(*) from raw.bars_daily where session between "
                  "'2001-09-11' and '2001-09-14'") == 0  # fmt: skip
    jumps = rows(db_url, "select symbol, bar_time from ops.data_warnings where kind = 'jump'")
    assert ("MS", "2008-10-13") in jumps and ("MO", "2008-03-31") in jumps
    gate = scalar(db_url, "select params->'gate' from ops.ingest_runs")
    assert json.dumps(gate) and len(gate) >= 20
