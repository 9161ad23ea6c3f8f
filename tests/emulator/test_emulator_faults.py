"""Every fault mode, observed through the official clients and the request log."""

from __future__ import annotations

import math
import time
from datetime import datetime

import pandas as pd
import pydantic
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from emu_helpers import AUTH, KEY_ID, SECRET, SYMBOLS, expected_frame, sdk_bars_frame

from tradewind.emulator import BadBar, MarketEmulator

START, END = datetime(2015, 1, 1), datetime(2015, 4, 1)


def _pull(emu: MarketEmulator, symbols=SYMBOLS):
    client = StockHistoricalDataClient(KEY_ID, SECRET, url_override=emu.alpaca_data_url)
    return client.get_stock_bars(
        StockBarsRequest(symbol_or_symbols=symbols, timeframe=TimeFrame.Day, start=START, end=END)
    )


def _statuses(emu: MarketEmulator, api: str) -> list[int | None]:
    return [r.status for r in emu.requests_for(api)]


def test_alpaca_429_is_retried_by_the_sdk(emu, dataset):
    emu.faults.set(rate_limit=1, target="alpaca_data")
    got = sdk_bars_frame(_pull(emu, ["SPY"]))  # alpaca-py sleeps 3 s, then retries
    pd.testing.assert_frame_equal(got, expected_frame(dataset.bars(["SPY"], "1Day", START, END)))
    log = emu.requests_for("alpaca_data")
    assert [r.status for r in log][:2] == [429, 200] and log[0].fault == "rate_limit"
    assert log[0].query == log[1].query  # the retry repeats the same page request
    emu.faults.set(rate_limit=1)
    r = requests.get(
        emu.alpaca_data_url + "/v2/stocks/bars",
        headers=AUTH,
        timeout=10,
        params={"symbols": "SPY", "timeframe": "1Day"},
    )
    assert r.status_code == 429 and r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["X-RateLimit-Reset"]) > time.time() - 60
    assert r.json()["message"] == "too many requests"


def test_alpaca_5xx_bursts_surface_as_api_errors(emu):
    emu.faults.set(server_errors=[500, 502], target="alpaca_data")
    with pytest.raises(APIError) as err:
        _pull(emu)
    assert err.value.status_code == 500 and err.value.code == 50010000
    with pytest.raises(APIError) as err:
        _pull(emu)
    assert err.value.status_code == 502 and "<html>" in str(err.value)  # nginx page, not JSON
    assert not _pull(emu).df.empty  # the burst is over
    assert _statuses(emu, "alpaca_data")[:2] == [500, 502]


def test_faults_are_scoped_by_target(emu):
    emu.faults.set(rate_limit=5, target="ndl")
    tc = TradingClient(KEY_ID, SECRET, url_override=emu.alpaca_trading_url)
    assert tc.get_account().status.value == "ACTIVE"
    assert not _pull(emu, ["AAPL"]).df.empty
    assert emu.faults.snapshot()["rules"][0]["remaining"] == 5


def test_dropped_connection(emu, ndl_api):
    emu.faults.set(drop=1, target="alpaca_data")
    with pytest.raises(requests.exceptions.ConnectionError):
        _pull(emu)
    log = emu.requests_for("alpaca_data")
    assert log[0].status is None and log[0].fault == "drop"
    assert not _pull(emu).df.empty
    # The NDL client mounts urllib3 retries (read errors included): the drop is retried.
    emu.faults.set(drop=1, target="ndl")
    df = ndl_api.get_table("WIKI/PRICES", ticker="SPY", date={"gte": "2015-03-25"})
    assert len(df) == 5
    assert [r.fault for r in emu.requests_for("ndl")] == ["drop", None]


def test_latency(emu):
    emu.faults.set(latency=0.3, target="alpaca_data")
    t0 = time.perf_counter()
    _pull(emu, ["AAPL"])
    assert time.perf_counter() - t0 >= 0.3
    assert all(r.extra["latency"] == 0.3 for r in emu.requests_for("alpaca_data"))
    emu.faults.set(latency=0, target="alpaca_data")
    _pull(emu, ["AAPL"])
    assert "latency" not in emu.requests_for("alpaca_data")[-1].extra


def test_ndl_429_and_5xx_are_retried_by_the_sdk(emu, dataset, ndl_api):
    emu.faults.set(rate_limit=1, target="ndl")
    df = ndl_api.get_table("WIKI/PRICES", ticker="MSFT", date={"gte": "2015-03-20"})
    assert len(df) == len(dataset.wiki_rows(["MSFT"], "2015-03-20"))
    assert _statuses(emu, "ndl") == [429, 200]
    emu.clear_requests()
    # Set through the control route, as another process would.
    r = requests.post(
        emu.url + "/_emulator/faults",
        json={"server_errors": [500, 503], "target": "ndl"},
        timeout=10,
    )
    assert r.status_code == 200 and len(r.json()["rules"]) == 1
    df = ndl_api.get_table("WIKI/PRICES", ticker="MSFT", date={"gte": "2015-03-20"})
    assert len(df) == len(dataset.wiki_rows(["MSFT"], "2015-03-20"))
    assert _statuses(emu, "ndl") == [500, 503, 200]
    logged = requests.get(emu.url + "/_emulator/requests", timeout=10).json()
    assert [x["status"] for x in logged] == [500, 503, 200]
    emu.faults.set(rate_limit=1, target="ndl")
    raw = requests.get(
        emu.ndl_api_base + "/datatables/WIKI/PRICES", params={"api_key": "k"}, timeout=10
    )
    assert raw.status_code == 429 and raw.json()["quandl_error"]["code"].startswith("QELx")


def test_repeated_bar_across_pages(emu, dataset):
    emu.faults.set(repeat_bar=1, target="alpaca_data")
    got = sdk_bars_frame(_pull(emu))
    want = expected_frame(dataset.bars(SYMBOLS, "1Day", START, END))
    assert len(got) == len(want) + 1
    dup = got[got.duplicated(["symbol", "timestamp"], keep=False)]
    assert len(dup) == 2
    # The repeated bar is the last bar of page 1 (page_cap=40), at the start of page 2.
    assert dup.iloc[0]["timestamp"] == want.iloc[39]["timestamp"]
    assert dup.iloc[0]["symbol"] == want.iloc[39]["symbol"]
    pd.testing.assert_frame_equal(
        got.drop_duplicates(["symbol", "timestamp"]).reset_index(drop=True), want
    )


def test_repeated_row_across_ndl_pages(emu, dataset, ndl_api):
    emu.faults.set(repeat_bar=1, target="ndl")
    df = ndl_api.get_table("WIKI/PRICES", ticker=["AAPL"], paginate=True)
    assert len(df) == len(dataset.wiki_rows(["AAPL"])) + 1
    assert df.duplicated(["ticker", "date"]).sum() == 1
    assert df.iloc[24]["date"] == df.iloc[25]["date"]  # ndl_page_size=25


def test_bad_bars(emu, dataset):
    emu.faults.set(
        bad_bar={"symbol": "AAPL", "date": "2015-03-02", "kind": "high_lt_low"},
        target="alpaca_data",
    )
    got = sdk_bars_frame(_pull(emu, ["AAPL"])).set_index("timestamp")
    bad = got.loc[pd.Timestamp("2015-03-02T05:00:00Z")]
    assert bad["high"] < bad["low"]
    assert (got.drop(index=pd.Timestamp("2015-03-02T05:00:00Z")).eval("high >= low")).all()
    emu.faults.clear()
    emu.faults.set(bad_bar=BadBar("MSFT", "2015-03-03", "nan"))
    msft = sdk_bars_frame(_pull(emu, ["MSFT"])).set_index("timestamp")
    assert math.isnan(msft.loc[pd.Timestamp("2015-03-03T05:00:00Z"), "close"])
    emu.faults.clear()
    emu.faults.set(
        bad_bar={"symbol": "SPY", "date": "2015-03-04", "kind": "negative", "field": "open"}
    )
    spy = sdk_bars_frame(_pull(emu, ["SPY"])).set_index("timestamp")
    assert spy.loc[pd.Timestamp("2015-03-04T05:00:00Z"), "open"] < 0
    emu.faults.clear()
    emu.faults.set(bad_bar={"symbol": "SPY", "date": "2015-03-04", "kind": "null"})
    with pytest.raises(pydantic.ValidationError):  # alpaca-py's Bar model refuses a null close
        _pull(emu, ["SPY"])


def test_bad_rows_in_wiki(emu, ndl_api):
    emu.faults.set(
        bad_bars=[
            {"symbol": "AAPL", "date": "2015-03-02", "kind": "null"},
            {"symbol": "AAPL", "date": "2015-03-03", "kind": "high_lt_low"},
        ]
    )
    df = ndl_api.get_table(
        "WIKI/PRICES", ticker="AAPL", date={"gte": "2015-03-02", "lte": "2015-03-04"}
    )
    assert df["close"].isna().tolist() == [True, False, False]
    assert (df["high"] < df["low"]).tolist() == [False, True, False]


def test_reset_and_control_routes(emu):
    emu.faults.set(rate_limit=3, latency=0.01)
    _ = requests.get(emu.alpaca_trading_url + "/v2/clock", headers=AUTH, timeout=10)
    assert requests.post(emu.url + "/_emulator/reset", timeout=10).json() == {"ok": True}
    assert emu.requests == [] and emu.faults.snapshot() == {"rules": [], "bad_bars": []}
    health = requests.get(emu.url + "/_emulator/health", timeout=10).json()
    assert health["alpaca_data_url"] == emu.alpaca_data_url and health["symbols"] == SYMBOLS
    t = requests.post(emu.url + "/_emulator/time", json={"now": "2015-03-27 16:05"}, timeout=10)
    assert t.json()["now"] == "2015-03-27T20:05:00+00:00"
    bad = requests.post(emu.url + "/_emulator/faults", json={"target": "nowhere"}, timeout=10)
    assert bad.status_code == 400
    assert emu.requests == []  # control routes are not logged
