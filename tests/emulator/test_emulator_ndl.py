"""WIKI/PRICES served by the emulator, read with the official nasdaq-data-link client."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
import requests
from emu_helpers import NDL_KEY
from nasdaqdatalink.errors.data_link_error import (
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)

from tradewind.emulator import MarketEmulator
from tradewind.emulator.dataset import WIKI_COLUMNS


def _as_sdk(rows: pd.DataFrame) -> pd.DataFrame:
    """Dataset.wiki_rows -> what get_table returns (dates parsed)."""
    out = rows.copy()
    out["date"] = pd.to_datetime(out["date"])
    return out


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reset_index(drop=True)
    out.index.name = None
    out["date"] = out["date"].astype("datetime64[ns]")
    out["ticker"] = out["ticker"].astype(object)
    return out


def test_paginated_get_table_equals_the_dataset(emu, dataset, ndl_api):
    df = ndl_api.get_table(
        "WIKI/PRICES",
        ticker=["AAPL", "MSFT"],
        date={"gte": "2015-02-01", "lte": "2015-03-31"},
        paginate=True,
    )
    want = _as_sdk(dataset.wiki_rows(["AAPL", "MSFT"], "2015-02-01", "2015-03-31"))
    assert list(df.columns) == WIKI_COLUMNS
    pd.testing.assert_frame_equal(_norm(df), _norm(want))
    calls = emu.requests_for("ndl", "/datatables/WIKI/PRICES")
    assert len(calls) == -(-len(want) // 25)  # ndl_page_size=25
    first = calls[0]
    assert first.route == "/datatables/WIKI/PRICES"  # the SDK uses no .json suffix
    assert first.query["ticker[]"] == ["AAPL", "MSFT"] and first.param("date.gte") == "2015-02-01"
    assert first.headers["x-api-token"] == "***"
    assert all(c.param("qopts.cursor_id") for c in calls[1:])
    assert (df["split_ratio"] == 2.0).sum() == 1


def test_columns_and_per_page(emu, dataset, ndl_api):
    df = ndl_api.get_table(
        "WIKI/PRICES",
        ticker="SPY",
        qopts={"columns": ["ticker", "date", "ex-dividend", "adj_close"], "per_page": 7},
        paginate=True,
    )
    assert list(df.columns) == ["ticker", "date", "ex-dividend", "adj_close"]
    assert len(df) == 61
    assert emu.requests_for("ndl")[0].query["qopts.columns[]"][2] == "ex-dividend"
    assert len(emu.requests_for("ndl")) == 9  # ceil(61 / 7)


def test_rest_forms_json_suffix_csv_and_api_key_param(emu, dataset):
    base = emu.ndl_api_base + "/datatables/WIKI/PRICES"
    r = requests.get(
        base + ".json",
        params={
            "ticker": "AAPL,SPY",
            "date": "2015-03-02",
            "qopts.columns": "ticker,date,close",
            "api_key": NDL_KEY,
        },
        timeout=10,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["meta"] == {"next_cursor_id": None}
    assert body["datatable"]["columns"] == [
        {"name": "ticker", "type": "String"},
        {"name": "date", "type": "Date"},
        {"name": "close", "type": "BigDecimal(34,12)"},
    ]
    want = dataset.wiki_rows(
        ["AAPL", "SPY"], "2015-03-02", "2015-03-02", ["ticker", "date", "close"]
    )
    assert body["datatable"]["data"] == want.values.tolist()
    assert emu.requests[-1].query["api_key"] == ["***"]
    csv = requests.get(
        base + ".csv",
        params={"ticker": "AAPL", "date.gt": "2015-03-27", "api_key": NDL_KEY},
        timeout=10,
    )
    lines = csv.text.strip().splitlines()
    assert lines[0].split(",") == WIKI_COLUMNS and len(lines) == 3  # 03-30, 03-31
    between = requests.get(
        base,
        params={
            "ticker[]": ["MSFT"],
            "date.gt": "2015-03-02",
            "date.lt": "2015-03-05",
            "api_key": NDL_KEY,
        },
        timeout=10,
    ).json()["datatable"]["data"]
    assert [row[1] for row in between] == ["2015-03-03", "2015-03-04"]


def test_long_query_goes_by_post_and_still_matches(emu, dataset, ndl_api):
    # Over 6300 URL characters the SDK switches to POST with a JSON body.
    tickers = ["AAPL", "SPY"] + [f"NOSUCH{i:04d}" for i in range(400)]
    df = ndl_api.get_table("WIKI/PRICES", ticker=tickers, date={"gte": "2015-03-20"}, paginate=True)
    want = _as_sdk(dataset.wiki_rows(["AAPL", "SPY"], "2015-03-20"))
    pd.testing.assert_frame_equal(_norm(df), _norm(want))
    calls = emu.requests_for("ndl")
    assert calls and all(c.method == "POST" for c in calls)
    assert calls[0].body["ticker"][:2] == ["AAPL", "SPY"]


def test_errors_have_real_codes_and_sdk_classes(emu, ndl_api):
    with pytest.raises(NotFoundError) as err:
        ndl_api.get_table("WIKI/NOPE", ticker="AAPL")
    assert err.value.data_link_error_code == "QECx02" and err.value.http_status == 404
    with pytest.raises(InvalidRequestError) as err:
        ndl_api.get_table("WIKI/PRICES", ticker="AAPL", volume={"gt": 5})
    assert err.value.data_link_error_code == "QESx08"
    with pytest.raises(InvalidRequestError) as err:
        ndl_api.get_table("WIKI/PRICES", ticker="AAPL", qopts={"cursor_id": "garbage"})
    assert err.value.data_link_error_code == "QESx06"
    ndl_api.ApiConfig.api_key = None
    with pytest.raises(ForbiddenError) as err:  # QEP* -> ForbiddenError in the SDK
        ndl_api.get_table("WIKI/PRICES", ticker="AAPL")
    assert err.value.data_link_error_code == "QEPx01" and err.value.http_status == 401


def test_configured_ndl_key(dataset):
    with MarketEmulator(dataset, ndl_api_key="only-this") as emu:
        url = emu.ndl_api_base + "/datatables/WIKI/PRICES"
        ok = requests.get(url, headers={"x-api-token": "only-this"}, timeout=10)
        bad = requests.get(url, headers={"x-api-token": "other"}, timeout=10)
        assert ok.status_code == 200
        assert bad.status_code == 400 and bad.json()["quandl_error"]["code"] == "QEAx01"
        import nasdaqdatalink

        cfg = nasdaqdatalink.ApiConfig
        saved = (cfg.api_key, cfg.api_base, cfg.api_protocol)
        cfg.api_key, cfg.api_base, cfg.api_protocol = "other", emu.ndl_api_base, "http://"
        try:
            with pytest.raises(AuthenticationError):
                nasdaqdatalink.get_table("WIKI/PRICES", ticker="AAPL")
        finally:
            cfg.api_key, cfg.api_base, cfg.api_protocol = saved


def test_export_table_downloads_a_zip(emu, dataset, ndl_api, tmp_path):
    target = tmp_path / "wiki.zip"
    ndl_api.export_table("WIKI/PRICES", filename=str(target), ticker=["MSFT"])
    with zipfile.ZipFile(target) as zf:
        (name,) = zf.namelist()
        got = pd.read_csv(io.BytesIO(zf.read(name)))
    want = dataset.wiki_rows(["MSFT"])
    assert list(got.columns) == WIKI_COLUMNS and len(got) == len(want)
    assert got["close"].tolist() == want["close"].tolist()
