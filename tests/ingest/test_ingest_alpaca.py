"""Alpaca bars through the official alpaca-py client against the market emulator: multi-page
daily and minute pulls equal to the emulator's data, incremental runs, every fault mode."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from ingest_helpers import AFTER_END, END, MINUTE_DAYS, START, SYMBOLS, bars, rows, scalar

from tradewind.ingest import SourceError, extract, run_ingest

NY = "America/New_York"


def expected_daily(dataset, symbols=SYMBOLS, start=START, end=END, drop=()):
    want = dataset.bars(symbols, "1Day", start, end, adjustment="raw")
    want = want.assign(session=want["timestamp"].dt.tz_convert(NY).dt.date)
    keep = ~want.apply(lambda r: (r["symbol"], str(r["session"])) in set(drop), axis=1)
    return want[keep].reset_index(drop=True)


def assert_daily_equal(url, want, source="alpaca"):
    got = bars(url, source=source)
    assert len(got) == len(want)
    assert got["symbol"].tolist() == want["symbol"].tolist()
    assert got["session"].tolist() == want["session"].tolist()
    for col in ("open", "high", "low", "close", "volume", "vwap", "trade_count"):
        assert got[col].astype(float).tolist() == want[col].astype(float).tolist(), col
    assert set(got["adjustment"]) == {"raw"}


def test_daily_multi_page_pull_equals_the_emulator(vendor_settings, emulator, dataset, db_url):
    s = run_ingest("alpaca", SYMBOLS, START, END, "1Day", as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    want = expected_daily(dataset)
    assert (s.rows_new, s.rows_quarantined, s.status) == (len(want), 0, "succeeded")
    assert_daily_equal(db_url, want)
    reqs = emulator.requests_for("alpaca_data", "/v2/stocks/bars")
    assert len(reqs) == -(-len(want) // 40) > 1  # every page of 40 followed
    first = reqs[0]
    assert first.param("symbols") == ",".join(sorted(SYMBOLS))  # many symbols per request
    assert (first.param("timeframe"), first.param("adjustment"), first.param("feed")) == (
        "1Day",
        "raw",
        "iex",
    )
    assert all(r.param("page_token") for r in reqs[1:])


@pytest.mark.parametrize("timeframe", ["1Min", "5Min"])
def test_minute_pulls_equal_the_emulator(vendor_settings, emulator, dataset, db_url, timeframe):
    s = run_ingest("alpaca", SYMBOLS[:2], MINUTE_DAYS[0], MINUTE_DAYS[-1], timeframe,
                   as_of=AFTER_END, url=db_url, settings=vendor_settings)  # fmt: skip
    want = dataset.bars(SYMBOLS[:2], timeframe, MINUTE_DAYS[0], MINUTE_DAYS[-1], adjustment="raw")
    source = "alpaca" if timeframe == "1Min" else "alpaca:5Min"
    got = bars(db_url, "raw.bars_minute", source=source)
    assert s.rows_new == len(want) == len(got) > 80
    assert s.source == source
    assert [pd.Timestamp(t) for t in got["ts"]] == want["timestamp"].tolist()  # UTC bar opens
    assert got["close"].tolist() == want["close"].astype(float).tolist()
    assert got["volume"].tolist() == want["volume"].astype(float).tolist()
    assert len(emulator.requests_for("alpaca_data", "/v2/stocks/bars")) > 2
    mark = rows(db_url, "select timeframe, last_time from ops.ingest_watermarks limit 1")[0]
    assert mark[0] == timeframe and pd.Timestamp(mark[1]) == want["timestamp"].max()


def test_incremental_second_run_fetches_only_new_bars(vendor_settings, emulator, dataset, db_url):
    first = run_ingest("alpaca", SYMBOLS, START, "2015-02-27", as_of=AFTER_END, url=db_url,
                       settings=vendor_settings)  # fmt: skip
    emulator.clear_requests()
    second = run_ingest("alpaca", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                        settings=vendor_settings)  # fmt: skip
    new = expected_daily(dataset, start="2015-03-01")
    assert (second.rows_new, second.rows_updated, second.rows_unchanged) == (len(new), 0, 0)
    starts = {r.param("start") for r in emulator.requests_for("alpaca_data", "/v2/stocks/bars")}
    assert len(starts) == 1
    # New bars start 03-02 (after Fri 02-27); the request starts 5 loaded sessions earlier, the
    # overlap re-read that detects a restatement (compared only, not loaded again).
    assert pd.Timestamp(starts.pop()) == pd.Timestamp("2015-02-23", tz=NY)
    assert "re-read 15 loaded bar(s) of 3 symbol(s) to detect restatements: 0 restated" in (
        second.notes
    )
    assert_daily_equal(db_url, expected_daily(dataset))
    assert first.rows_new + second.rows_new == len(expected_daily(dataset))

    # Nothing left to fetch: no request at all, the run is still logged.
    emulator.clear_requests()
    third = run_ingest("alpaca", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                       settings=vendor_settings)  # fmt: skip
    assert emulator.requests_for("alpaca_data") == []
    assert (third.rows_in, third.status) == (0, "succeeded")
    # --full refetches and finds every bar unchanged.
    full = run_ingest("alpaca", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                      settings=vendor_settings, incremental=False)  # fmt: skip
    assert (full.rows_new, full.rows_updated, full.rows_unchanged) == (
        0,
        0,
        len(expected_daily(dataset)),
    )


def test_a_later_symbol_gets_its_own_request(vendor_settings, emulator, db_url):
    run_ingest("alpaca", ["AAPL"], START, END, as_of=AFTER_END, url=db_url,
               settings=vendor_settings)  # fmt: skip
    emulator.clear_requests()
    s = run_ingest("alpaca", ["AAPL", "MSFT"], START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    assert {r.param("symbols") for r in emulator.requests_for("alpaca_data")} == {"MSFT"}
    assert s.rows_new == 61


FAULTS = {
    "server_errors": ({"server_errors": 3}, 0),
    "dropped_connections": ({"drop": 2}, 0),
    "latency": ({"latency": 0.02}, 0),
    "repeated_bar_on_pages": ({"repeat_bar": 2}, 2),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_transient_faults_are_survived(vendor_settings, emulator, dataset, db_url, fault):
    arm, quarantined = FAULTS[fault]
    emulator.faults.set(target="alpaca_data", **arm)
    s = run_ingest("alpaca", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    assert s.rows_quarantined == quarantined
    if quarantined:
        assert s.quarantine_reasons == {"duplicate row": quarantined}
    assert_daily_equal(db_url, expected_daily(dataset))


def test_rate_limit_is_survived(vendor_settings, emulator, dataset, db_url):
    # alpaca-py itself waits 3 s and retries a 429 once; then ours would take over.
    emulator.faults.set(target="alpaca_data", rate_limit=1)
    s = run_ingest("alpaca", ["AAPL"], START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings, page_size=10_000)  # fmt: skip
    assert s.rows_new == 61
    assert [r.status for r in emulator.requests_for("alpaca_data")] == [429, 200, 200]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [({"kind": "high_lt_low"}, "high < low"), ({"kind": "null", "field": "close"}, "close is missing"),
     ({"kind": "nan", "field": "open"}, "open is missing"),
     ({"kind": "negative", "field": "volume"}, "volume < 0")],
)  # fmt: skip
def test_bad_bars_are_quarantined_and_the_rest_loads(vendor_settings, emulator, dataset, db_url,
                                                      bad, reason):  # fmt: skip
    emulator.faults.set(
        target="alpaca_data", bad_bar={"symbol": "MSFT", "date": "2015-02-02", **bad}
    )
    s = run_ingest("alpaca", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    assert s.rows_quarantined == 1 and reason in s.quarantine_reasons
    assert s.quarantine_where == "MSFT 2015-02-02"
    assert_daily_equal(db_url, expected_daily(dataset, drop={("MSFT", "2015-02-02")}))
    q = rows(db_url, "select symbol, bar_time, reasons from ops.quarantine")
    assert q[0][:2] == ("MSFT", "2015-02-02") and reason in q[0][2]


def test_persistent_server_errors_fail_clearly(vendor_settings, emulator, db_url):
    emulator.faults.set(target="alpaca_data", server_errors=[503] * 50)
    with pytest.raises(SourceError, match=r"giving up after 5 attempts.*HTTP 503") as err:
        run_ingest("alpaca", SYMBOLS, START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    assert "logged as failed" in str(err.value)
    assert len(emulator.requests_for("alpaca_data")) == 5  # http_max_retries=4 -> 5 attempts
    assert bars(db_url).empty
    status, message = rows(db_url, "select status, message from ops.ingest_runs")[0]
    assert status == "failed" and "HTTP 503" in message


def test_bad_keys_fail_at_once_without_leaking_them(vendor_settings, dataset, db_url, caplog):
    from tradewind.emulator.server import MarketEmulator

    caplog.set_level(logging.DEBUG)
    with MarketEmulator(dataset, alpaca_key_id="the-right-key") as emu:
        settings = vendor_settings.model_copy(update={"alpaca_data_url": emu.alpaca_data_url})
        with pytest.raises(SourceError, match="HTTP 401") as err:
            extract("alpaca", SYMBOLS, START, END, url=db_url, settings=settings,
                    incremental=False)  # fmt: skip
        assert len(emu.requests_for("alpaca_data")) == 1  # a 401 is not retried
    assert "test-secret" not in str(err.value) and "test-secret" not in caplog.text


def test_missing_keys_are_a_clear_error(vendor_settings, db_url):
    from tradewind.ingest import IngestError

    settings = vendor_settings.model_copy(update={"alpaca_api_key_id": None})
    with pytest.raises(IngestError, match="APCA_API_KEY_ID"):
        extract("alpaca", SYMBOLS, START, END, url=db_url, settings=settings, incremental=False)


def test_unknown_symbol_and_empty_result_are_reported(vendor_settings, emulator, db_url):
    s = run_ingest("alpaca", ["IBM", "NOPE"], START, END, as_of=AFTER_END, url=db_url,
                   settings=vendor_settings)  # fmt: skip
    assert s.rows_new == 61 and s.warning_kinds == {"no_data": 1}
    assert rows(db_url, "select symbol, kind from ops.data_warnings") == [("NOPE", "no_data")]
    empty = run_ingest("alpaca", ["NOPE"], "2015-01-02", "2015-01-05", as_of=AFTER_END,
                       url=db_url, settings=vendor_settings)  # fmt: skip
    assert (empty.rows_in, empty.status, empty.warning_kinds) == (0, "succeeded", {"no_data": 1})


def test_cli_alpaca_against_the_emulator(vendor_env, emulator, dataset):
    from typer.testing import CliRunner

    from tradewind.cli import app

    args = ["ingest", "alpaca", "--symbols", "AAPL,MSFT", "--start", "2015-01-02", "--end",
            "2015-03-31", "--timeframe", "1Day"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "alpaca 1Day run 1: succeeded; 122 rows in -> 122 new" in result.output
    assert_daily_equal(vendor_env, expected_daily(dataset, ["AAPL", "MSFT"]))
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "0 rows in" in again.output
    emulator.faults.set(target="alpaca_data", server_errors=[500] * 20)
    failed = CliRunner().invoke(app, [*args[:-4], "--end", "2015-04-30", "--full"])
    assert failed.exit_code == 1
    assert failed.output.count("\n") == 1 and "error: alpaca: giving up" in failed.output
    assert scalar(vendor_env, "select count(*) from ops.ingest_runs where status = 'failed'") == 1
