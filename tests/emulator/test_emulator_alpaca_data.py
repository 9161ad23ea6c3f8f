"""Alpaca market-data v2 bars served by the emulator, read with the official alpaca-py client."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from emu_helpers import AUTH, KEY_ID, SECRET, SYMBOLS, expected_frame, sdk_bars_frame

from tradewind.emulator import MarketEmulator


def _client(emu: MarketEmulator) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(KEY_ID, SECRET, url_override=emu.alpaca_data_url)


def test_multi_page_daily_pull_equals_the_dataset(emu, dataset):
    start, end = datetime(2015, 1, 1), datetime(2015, 4, 1)
    bs = _client(emu).get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=SYMBOLS,
            timeframe=TimeFrame.Day,
            start=start,
            end=end,
            adjustment=Adjustment.ALL,
            feed=DataFeed.IEX,
        )
    )
    got = sdk_bars_frame(bs)
    want = expected_frame(dataset.bars(SYMBOLS, "1Day", start, end, adjustment="all"))
    assert len(want) == 3 * 61
    pd.testing.assert_frame_equal(got, want)
    calls = emu.requests_for("alpaca_data", "/v2/stocks/bars")
    assert len(calls) == -(-len(want) // 40)  # page_cap=40 -> ceil(183 / 40) pages
    # What the SDK sent, as recorded: limit=10000 every page, adjustment/feed, then page tokens.
    assert {c.param("limit") for c in calls} == {"10000"}
    assert calls[0].param("adjustment") == "all" and calls[0].param("feed") == "iex"
    assert calls[0].param("start") == "2015-01-01T00:00:00+00:00"
    assert calls[0].param("page_token") is None and all(c.param("page_token") for c in calls[1:])
    assert calls[0].headers["APCA-API-SECRET-KEY"] == "***"
    # Raw (default) prices differ from adjusted ones before the split.
    raw = sdk_bars_frame(
        _client(emu).get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=start, end=end
            )
        )
    )
    pd.testing.assert_frame_equal(raw, expected_frame(dataset.bars(["AAPL"], "1Day", start, end)))
    assert not raw["close"].equals(got[got["symbol"] == "AAPL"]["close"].reset_index(drop=True))


@pytest.mark.parametrize(
    "amount,unit,tf",
    [
        (1, TimeFrameUnit.Minute, "1Min"),
        (5, TimeFrameUnit.Minute, "5Min"),
        (1, TimeFrameUnit.Hour, "1Hour"),
    ],
)
def test_multi_page_intraday_pull_equals_the_dataset(emu, dataset, amount, unit, tf):
    start = datetime(2015, 3, 30, tzinfo=UTC)
    bs = _client(emu).get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["MSFT", "AAPL"], timeframe=TimeFrame(amount, unit), start=start
        )
    )
    got = sdk_bars_frame(bs)
    want = expected_frame(dataset.bars(["AAPL", "MSFT"], tf, start, None))
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)
    assert (got["timestamp"].dt.tz_convert("America/New_York").dt.hour >= 9).all()


def test_limit_counts_bars_across_symbols(emu):
    bs = _client(emu).get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=SYMBOLS, timeframe=TimeFrame.Day, start=datetime(2015, 1, 1), limit=30
        )
    )
    df = bs.df.reset_index()
    assert len(df) == 30 and set(df["symbol"]) == {"AAPL"}  # sorted by symbol, then time


def _get(emu: MarketEmulator, path: str, headers=AUTH, **params) -> requests.Response:
    return requests.get(emu.alpaca_data_url + path, params=params, headers=headers, timeout=10)


def test_wire_format_of_daily_bars(emu):
    r = _get(
        emu,
        "/v2/stocks/bars",
        symbols="AAPL,MSFT",
        timeframe="1D",
        start="2015-03-06",
        end="2015-03-09",
        limit=3,
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"bars", "next_page_token"}
    bars = body["bars"]["AAPL"]
    assert [b["t"] for b in bars] == ["2015-03-06T05:00:00Z", "2015-03-09T04:00:00Z"]  # EST, EDT
    assert all(set(b) == {"t", "o", "h", "l", "c", "v", "n", "vw"} for b in bars)
    assert list(body["bars"]) == ["AAPL", "MSFT"] and len(body["bars"]["MSFT"]) == 1
    assert base64.b64decode(body["next_page_token"]).decode().startswith("MSFT|D|2015-03-06")
    nxt = _get(
        emu,
        "/v2/stocks/bars",
        symbols="AAPL,MSFT",
        timeframe="1D",
        start="2015-03-06",
        end="2015-03-09",
        limit=3,
        page_token=body["next_page_token"],
    ).json()
    assert [b["t"] for b in nxt["bars"]["MSFT"]] == ["2015-03-09T04:00:00Z"]
    assert nxt["next_page_token"] is None
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert int(r.headers[header]) >= 0


def test_single_symbol_endpoint_sort_and_empty_results(emu):
    r = _get(
        emu,
        "/v2/stocks/AAPL/bars",
        timeframe="1Day",
        start="2015-03-02",
        end="2015-03-04",
        sort="desc",
    ).json()
    assert r["symbol"] == "AAPL" and r["next_page_token"] is None
    assert [b["t"][:10] for b in r["bars"]] == ["2015-03-04", "2015-03-03", "2015-03-02"]
    empty = _get(emu, "/v2/stocks/bars", symbols="NOPE", timeframe="1Day", start="2015-03-02")
    assert empty.json() == {"bars": {}, "next_page_token": None}
    before = _get(
        emu,
        "/v2/stocks/bars",
        symbols="AAPL",
        timeframe="1Day",
        start="2010-01-04",
        end="2010-02-01",
    )
    assert before.json()["bars"] == {}


@pytest.mark.parametrize(
    "start",
    [
        "2015-03-02",
        "2015-03-02T00:00:00Z",
        "2015-03-02T00:00:00+00:00",
        "2015-03-02T00:00:00.000001Z",
        "2015-03-01T19:00:00-05:00",
        "2015-03-02T00:00:00.123456789Z",
    ],
)
def test_start_formats(emu, start):
    r = _get(emu, "/v2/stocks/bars", symbols="SPY", timeframe="1Day", start=start, end="2015-03-03")
    assert r.status_code == 200, r.text
    assert [b["t"] for b in r.json()["bars"]["SPY"]] == [
        "2015-03-02T05:00:00Z",
        "2015-03-03T05:00:00Z",
    ]


@pytest.mark.parametrize(
    "params,message",
    [
        ({"limit": 10001}, "invalid limit: larger than the allowed maximum of 10000"),
        ({"limit": 0}, "invalid limit"),
        ({"timeframe": "60Min"}, "invalid timeframe"),
        ({"timeframe": "24Hour"}, "invalid timeframe"),
        ({"start": "yesterday"}, "invalid"),
        ({"adjustment": "weird"}, "invalid adjustment"),
        ({"feed": "nasdaq"}, "invalid feed"),
    ],
)
def test_bad_parameters_get_400(emu, params, message):
    query = {"symbols": "AAPL", "timeframe": "1Day", "start": "2015-03-02", **params}
    r = _get(emu, "/v2/stocks/bars", **query)
    assert r.status_code == 400
    assert r.json()["message"].startswith(message)


def test_timeframe_aliases_and_no_start_means_today(emu):
    for tf in ("1D", "1Day"):
        r = _get(emu, "/v2/stocks/bars", symbols="AAPL", timeframe=tf, start="2015-03-30")
        assert len(r.json()["bars"]["AAPL"]) == 2
    five = _get(emu, "/v2/stocks/bars", symbols="AAPL", timeframe="5T", start="2015-03-31").json()
    stamps = pd.to_datetime([b["t"] for b in five["bars"]["AAPL"]])
    assert stamps[0] == pd.Timestamp("2015-03-31T13:30:00Z")
    assert (stamps.diff()[1:] == pd.Timedelta(minutes=5)).all()
    assert len(stamps) == 40 and five["next_page_token"]  # page_cap=40 cuts the 78 buckets
    # Without start the API returns only the current day (the wall clock here: no data).
    assert _get(emu, "/v2/stocks/bars", symbols="AAPL", timeframe="1Day").json()["bars"] == {}


def test_auth_is_required(emu):
    r = _get(emu, "/v2/stocks/bars", headers={}, symbols="AAPL", timeframe="1Day")
    assert r.status_code == 401 and r.json() == {"message": "unauthorized."}
    half = {"APCA-API-KEY-ID": KEY_ID}
    assert (
        _get(emu, "/v2/stocks/bars", headers=half, symbols="AAPL", timeframe="1Day").status_code
        == 401
    )
    with pytest.raises(APIError) as err:
        StockHistoricalDataClient("x", "y", url_override=emu.alpaca_trading_url).get_stock_bars(
            StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day)
        )
    assert err.value.status_code == 404  # the data client pointed at the trading host


def test_configured_keys_and_html_401(dataset):
    with MarketEmulator(
        dataset, alpaca_key_id="right", alpaca_secret_key="sec", html_401_without_headers=True
    ) as emu:
        ok = {"APCA-API-KEY-ID": "right", "APCA-API-SECRET-KEY": "sec"}
        wrong = {"APCA-API-KEY-ID": "right", "APCA-API-SECRET-KEY": "nope"}
        q = {"symbols": "AAPL", "timeframe": "1Day", "start": "2015-03-02"}
        assert _get(emu, "/v2/stocks/bars", headers=ok, **q).status_code == 200
        assert _get(emu, "/v2/stocks/bars", headers=wrong, **q).status_code == 401
        bare = _get(emu, "/v2/stocks/bars", headers={}, **q)
        assert bare.status_code == 401 and bare.headers["Content-Type"] == "text/html"
        assert "<html>" in bare.text


def test_gzip_when_accepted(emu):
    raw = requests.get(
        emu.alpaca_data_url + "/v2/stocks/bars",
        headers={**AUTH, "Accept-Encoding": "gzip"},
        params={"symbols": "AAPL", "timeframe": "1Day", "start": "2015-03-02"},
        stream=True,
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    assert b'"bars"' in gzip.decompress(raw.raw.read(decode_content=False))


def test_latest_bars_use_the_emulator_clock(emu):
    emu.set_time("2015-03-31 10:00:30")
    r = _get(emu, "/v2/stocks/bars/latest", symbols="AAPL,MSFT").json()
    # At 10:00:30 ET the last complete minute bar opened at 09:59 ET (13:59Z): no lookahead.
    assert r["bars"]["AAPL"]["t"] <= "2015-03-31T13:59:00Z"
    assert set(r["bars"]) == {"AAPL", "MSFT"}
