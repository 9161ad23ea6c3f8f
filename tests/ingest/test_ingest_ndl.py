"""Quandl WIKI prices: the WIKI/PRICES datatable through the official nasdaq-data-link client
against the emulator, and the bulk WIKI CSV file; splits and dividends as corporate actions."""

from __future__ import annotations

import logging
import zipfile

import pandas as pd
import pytest
from ingest_helpers import AFTER_END, END, START, SYMBOLS, bars, rows

from tradewind.ingest import SourceError, extract, run_ingest

KEY = "ndl-SECRET-key-123"


def expected(dataset, adjusted: bool = True) -> pd.DataFrame:
    w = dataset.wiki
    p = "adj_" if adjusted else ""
    out = pd.DataFrame({
        "symbol": w["ticker"], "session": pd.to_datetime(w["date"]).dt.date,
        "open": w[p + "open"], "high": w[p + "high"], "low": w[p + "low"],
        "close": w[p + "close"], "volume": w[p + "volume"],
    })  # fmt: skip
    return out.sort_values(["symbol", "session"]).reset_index(drop=True)


def assert_loaded(url, want, source="quandl"):
    got = bars(url, source=source)
    assert len(got) == len(want)
    for col in ("symbol", "session", "open", "high", "low", "close", "volume"):
        assert got[col].tolist() == want[col].tolist(), col


def expected_actions(dataset) -> list[tuple]:
    w = dataset.wiki
    out = []
    for ticker, day, dividend, split in zip(w["ticker"], w["date"], w["ex-dividend"],
                                            w["split_ratio"], strict=True):  # fmt: skip
        if dividend != 0:
            out.append((ticker, str(day)[:10], "cash_dividend", float(dividend)))
        if split != 1:
            out.append((ticker, str(day)[:10], "split", float(split)))
    return sorted(out)


def test_datatable_pages_equal_the_emulator(vendor_settings, emulator, dataset, db_url):
    s = run_ingest("quandl", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings, page_size=40)  # fmt: skip
    want = expected(dataset)
    assert (s.rows_new, s.rows_quarantined) == (len(want), 0)
    assert_loaded(db_url, want)
    reqs = emulator.requests_for("ndl", "/datatables/WIKI/PRICES")
    assert len(reqs) == -(-len(want) // 40) > 1
    assert reqs[0].query["ticker[]"] == sorted(SYMBOLS)  # the SDK list form: ticker[]=...
    assert reqs[0].headers.get("x-api-token") == "***"  # sent, and redacted in the log
    assert all("qopts.cursor_id" in r.query for r in reqs[1:])
    got = rows(db_url, "select symbol, ex_date::text, action, value from raw.corporate_actions "
               "order by 1, 2, 3")  # fmt: skip
    assert got == expected_actions(dataset)
    assert any(a[2] == "split" for a in got) and any(a[2] == "cash_dividend" for a in got)
    assert set(bars(db_url)["adjustment"]) == {"all"}


def test_raw_prices_and_incremental(vendor_settings, emulator, dataset, db_url):
    first = run_ingest("quandl", SYMBOLS, START, "2015-02-13", as_of=AFTER_END, url=db_url,
                       settings=vendor_settings, adjustment="raw")  # fmt: skip
    emulator.clear_requests()
    second = run_ingest("quandl", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                        settings=vendor_settings, adjustment="raw")  # fmt: skip
    assert first.rows_new + second.rows_new == len(expected(dataset, adjusted=False))
    assert second.rows_unchanged == 0
    assert {r.param("date.gte") for r in emulator.requests_for("ndl")} == {"2015-02-17"}
    assert_loaded(db_url, expected(dataset, adjusted=False))


def test_rate_limits_are_survived_and_sdk_config_restored(vendor_settings, emulator, dataset,
                                                          db_url):  # fmt: skip
    from nasdaqdatalink import ApiConfig

    before = (ApiConfig.api_key, ApiConfig.api_base, ApiConfig.api_protocol)
    emulator.faults.set(target="ndl", rate_limit=3, server_errors=2)
    s = run_ingest("quandl", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings, sdk_backoff=0.001)  # fmt: skip
    assert s.rows_new == len(expected(dataset))
    statuses = [r.status for r in emulator.requests_for("ndl")]
    assert statuses.count(429) == 3 and statuses.count(200) >= 2
    assert (ApiConfig.api_key, ApiConfig.api_base, ApiConfig.api_protocol) == before


def test_persistent_limit_fails_clearly_without_the_key(vendor_settings, emulator, db_url, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.faults.set(target="ndl", rate_limit=100)
    with pytest.raises(SourceError, match=r"quandl: giving up after 5 attempts.*QELx04") as err:
        run_ingest("quandl", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings, sdk_retries=0)  # fmt: skip
    assert KEY not in str(err.value) and KEY not in caplog.text
    assert rows(db_url, "select status from ops.ingest_runs") == [("failed",)]
    assert KEY not in rows(db_url, "select message from ops.ingest_runs")[0][0]


def test_wrong_key_is_reported_without_it(vendor_settings, dataset, db_url, caplog):
    from tradewind.emulator.server import MarketEmulator

    caplog.set_level(logging.DEBUG)
    with MarketEmulator(dataset, ndl_api_key="another-key") as emu:
        settings = vendor_settings.model_copy(update={"ndl_api_base": emu.ndl_api_base})
        with pytest.raises(SourceError, match="AuthenticationError.*QEAx01") as err:
            extract("quandl", SYMBOLS, START, END, url=db_url, settings=settings,
                    incremental=False)  # fmt: skip
        assert len(emu.requests_for("ndl")) == 1
    assert KEY not in str(err.value) and KEY not in caplog.text


@pytest.mark.parametrize("form", ["header", "headerless", "zip"])
def test_bulk_wiki_file(tmp_path, dataset, db_url, form):
    path = tmp_path / "WIKI_PRICES.csv"
    dataset.wiki.to_csv(path, index=False, header=(form != "headerless"))
    if form == "zip":
        zpath = tmp_path / "WIKI_PRICES.zip"
        with zipfile.ZipFile(zpath, "w") as z:
            z.write(path, "WIKI_PRICES_212b326a.csv")
        path = zpath
    s = run_ingest("quandl", ["AAPL", "MSFT"], START, END, as_of=AFTER_END, url=db_url,
                   file=str(path))  # fmt: skip
    want = expected(dataset)
    want = want[want["symbol"].isin(["AAPL", "MSFT"])].reset_index(drop=True)
    assert s.rows_new == len(want) and s.rows_quarantined == 0
    assert_loaded(db_url, want)
    acts = [a for a in expected_actions(dataset) if a[0] in ("AAPL", "MSFT")]
    assert rows(db_url, "select symbol, ex_date::text, action, value from raw.corporate_actions "
                "order by 1, 2, 3") == acts  # fmt: skip
