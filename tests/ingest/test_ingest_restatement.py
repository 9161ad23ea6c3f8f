"""A restated Alpaca history (issue 9, item 2), through the official alpaca-py client against the
emulator: after a split the vendor's adjusted history changes; the next incremental pull notices
it in the re-read overlap, re-pulls that symbol's whole history and replaces it in one
transaction with the next history_version, and records a data warning. Without the check the
seam is the phantom move the issue describes. Expectations are computed here from the bars the
emulator served before the event."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ingest_helpers import AFTER_END, END, START, SYMBOLS, bars, rows, scalar

from tradewind.ingest import extract, load, run_ingest, validate

NY = "America/New_York"
EX_DATE = "2015-03-16"
RATIO = 3.0
FIRST_END = "2015-02-27"  # what the first pull loads; the split comes after it


def _adjusted(dataset, symbol: str) -> pd.DataFrame:
    want = dataset.bars([symbol], "1Day", START, END, adjustment="all")
    want["session"] = want["timestamp"].dt.tz_convert(NY).dt.tz_localize(None)
    return want.set_index("session")


def _stored(url: str, symbol: str) -> pd.DataFrame:
    got = rows(url, "select session, close, volume, history_version from raw.bars_daily "
                    "where source = 'alpaca' and symbol = %s order by session", symbol)  # fmt: skip
    df = pd.DataFrame(got, columns=["session", "close", "volume", "history_version"])
    return df.set_index(pd.to_datetime(df["session"]))


def _pull(settings, url, end, **kw):
    return run_ingest("alpaca", SYMBOLS, START, end, as_of=AFTER_END, url=url,
                      settings=settings, adjustment="all", **kw)  # fmt: skip


def test_a_restated_history_is_replaced_with_the_next_version(
    vendor_settings, emulator, dataset, db_url
):
    before = _adjusted(dataset, "AAPL")
    first = _pull(vendor_settings, db_url, FIRST_END)
    assert first.status == "succeeded" and first.rows_new > 0
    emulator.restate("AAPL", EX_DATE, split_ratio=RATIO)

    second = _pull(vendor_settings, db_url, "2015-03-20")
    assert any("restated by the vendor" in n and "AAPL" in n for n in second.notes)
    aapl = _stored(db_url, "AAPL")
    # The whole AAPL history is the vendor's new one: every adjusted price a third of what it
    # was (before the ex-date the split rescales it; from it on the bars trade at a third).
    old = before.loc[: pd.Timestamp("2015-03-20")]
    assert aapl.index.equals(old.index)
    np.testing.assert_allclose(aapl["close"], old["close"] / RATIO, rtol=2e-4)
    assert set(aapl["history_version"]) == {2}
    # The other series were only compared: untouched, still version 1.
    for sym in SYMBOLS[1:]:
        assert set(_stored(db_url, sym)["history_version"]) == {1}
    # No phantom move anywhere in the stored AAPL series (its daily moves are a few percent).
    assert np.abs(np.diff(np.log(aapl["close"].to_numpy()))).max() < 0.2
    warning = rows(db_url, "select symbol, bar_time, detail from ops.data_warnings "
                           "where kind = 'restatement'")  # fmt: skip
    assert len(warning) == 1 and warning[0][0] == "AAPL" and "-66.67%" in warning[0][2]
    mark = rows(db_url, "select first_time, last_time, history_version, restated_at is not null "
                        "from ops.ingest_watermarks where symbol = 'AAPL'")[0]  # fmt: skip
    assert (pd.Timestamp(mark[0]).tz_convert(NY).date().isoformat(), mark[2], mark[3]) == (
        "2015-01-02", 2, True)  # fmt: skip

    # The next pull appends to the new history (version 2) and finds nothing restated.
    third = _pull(vendor_settings, db_url, END)
    assert third.rows_updated == 0 and not any("restated by" in n for n in third.notes)
    aapl = _stored(db_url, "AAPL")
    assert set(aapl["history_version"]) == {2} and aapl.index.max() == pd.Timestamp(END)
    np.testing.assert_allclose(aapl["close"], before["close"] / RATIO, rtol=2e-4)
    # Re-running changes nothing.
    again = _pull(vendor_settings, db_url, END)
    assert (again.rows_new, again.rows_updated) == (0, 0)
    assert scalar(db_url, "select count(*) from ops.data_warnings where kind = 'restatement'") == 1


def test_without_the_check_the_seam_is_a_phantom_move(vendor_settings, emulator, db_url):
    """Today's behaviour (no overlap re-read): bars on the new basis appended to history on the
    old one, a -66 % 'return' nobody notices."""
    settings = vendor_settings.model_copy(update={"restatement_overlap_sessions": 0})
    _pull(settings, db_url, FIRST_END)
    emulator.restate("AAPL", EX_DATE, split_ratio=RATIO)
    _pull(settings, db_url, END)
    close = _stored(db_url, "AAPL")["close"].to_numpy()
    assert np.log(close[1:] / close[:-1]).min() < np.log(1 / RATIO) + 0.1
    assert scalar(db_url, "select count(*) from ops.data_warnings where kind = 'restatement'") == 0


def test_a_failed_restatement_load_keeps_the_old_history(vendor_settings, emulator, db_url):
    _pull(vendor_settings, db_url, FIRST_END)
    kept = bars(db_url)
    emulator.restate("AAPL", EX_DATE, split_ratio=RATIO)
    batch = extract("alpaca", SYMBOLS, START, END, url=db_url, settings=vendor_settings,
                    adjustment="all")  # fmt: skip
    assert list(batch.meta.params["restated"]) == ["AAPL"]

    def crash() -> None:
        raise RuntimeError("killed mid-load")

    with pytest.raises(RuntimeError, match="killed"):
        load(validate(batch, AFTER_END), db_url, on_staged=crash)
    pd.testing.assert_frame_equal(bars(db_url), kept)
    assert scalar(db_url, "select max(history_version) from ops.ingest_watermarks") == 1
    assert scalar(db_url, "select count(*) from ops.data_warnings where kind = 'restatement'") == 0


def test_a_restated_wiki_history_is_replaced_too(vendor_settings, emulator, dataset, db_url):
    """Nasdaq Data Link WIKI/PRICES through the nasdaq-data-link client: adj_* history is
    backward-adjusted, so a later split restates it the same way."""
    wiki = dataset.wiki[dataset.wiki["ticker"] == "MSFT"].set_index("date")
    run_ingest("quandl", SYMBOLS, START, FIRST_END, as_of=AFTER_END, url=db_url,
               settings=vendor_settings)  # fmt: skip
    emulator.restate("MSFT", EX_DATE, split_ratio=2.0)
    s = run_ingest("quandl", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    assert any("restated by the vendor" in n and "MSFT" in n for n in s.notes)
    got = rows(db_url, "select session::text, close, history_version from raw.bars_daily "
                       "where source = 'quandl' and symbol = 'MSFT' order by session")  # fmt: skip
    assert [d for d, _, _ in got] == wiki.index.tolist()
    np.testing.assert_allclose([c for _, c, _ in got], wiki["adj_close"] / 2.0, rtol=2e-4)
    assert {v for *_, v in got} == {2}
    others = rows(db_url, "select distinct history_version from raw.bars_daily "
                          "where source = 'quandl' and symbol <> 'MSFT'")  # fmt: skip
    assert others == [(1,)]
    assert rows(db_url, "select symbol from ops.data_warnings where kind = 'restatement'") == [
        ("MSFT",)
    ]


def test_a_one_session_pull_as_airflow_runs_it_notices_too(vendor_settings, emulator, db_url):
    """Airflow's daily ingest asks for one session, never incrementally: it re-reads the loaded
    sessions before it all the same."""
    _pull(vendor_settings, db_url, FIRST_END)
    emulator.restate("AAPL", EX_DATE, split_ratio=RATIO)
    emulator.clear_requests()
    s = run_ingest("alpaca", SYMBOLS, "2015-03-02", "2015-03-02", as_of=AFTER_END, url=db_url,
                   settings=vendor_settings, adjustment="all", incremental=False)  # fmt: skip
    assert any("restated by the vendor" in n and "AAPL" in n for n in s.notes)
    got = _stored(db_url, "AAPL")
    assert got.index.min() == pd.Timestamp(START) and got.index.max() == pd.Timestamp("2015-03-02")
    assert set(got["history_version"]) == {2}
    # The unchanged series got exactly the requested session added, nothing re-loaded.
    assert (s.rows_new, s.rows_updated) == (len(got) + 2, 0)
    assert scalar(db_url, "select count(*) from raw.bars_daily where symbol = 'MSFT' "
                          "and session = '2015-03-02'") == 1  # fmt: skip
