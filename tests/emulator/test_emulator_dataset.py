"""The emulator's dataset: seeded generator, loaders, adjustments, WIKI rows, time parsing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradewind.emulator import Dataset, Timeframe, make_dataset, nyse_sessions
from tradewind.emulator.dataset import WIKI_COLUMNS
from tradewind.emulator.timeparse import format_rfc3339, parse_bound


def test_generator_is_deterministic_and_seed_sensitive():
    a = make_dataset(["AAPL", "MSFT"], "2015-01-02", "2015-02-27", seed=1)
    b = make_dataset(["AAPL", "MSFT"], "2015-01-02", "2015-02-27", seed=1)
    c = make_dataset(["AAPL", "MSFT"], "2015-01-02", "2015-02-27", seed=2)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.minute, b.minute)
    pd.testing.assert_frame_equal(a.wiki, b.wiki)
    assert not np.allclose(a.daily["close"], c.daily["close"])


def test_daily_bars_cover_nyse_sessions_and_are_consistent(dataset: Dataset):
    sessions = nyse_sessions("2015-01-02", "2015-03-31")
    assert pd.Timestamp("2015-01-19") not in sessions  # MLK day
    for sym in dataset.symbols:
        d = dataset.daily[dataset.daily["symbol"] == sym]
        assert list(d["session"]) == list(sessions)
    d = dataset.daily
    assert (d["high"] >= d[["open", "close"]].max(axis=1)).all()
    assert (d["low"] <= d[["open", "close"]].min(axis=1)).all()
    assert ((d["vwap"] >= d["low"]) & (d["vwap"] <= d["high"])).all()
    assert (d["volume"] > 0).all() and (d["trade_count"] > 0).all()


def test_minute_bars_are_regular_hours_and_aggregate_to_the_daily_bar(dataset: Dataset):
    m = dataset.minute
    local = m["timestamp"].dt.tz_convert("America/New_York")
    minutes = local.dt.hour * 60 + local.dt.minute
    assert minutes.min() >= 9 * 60 + 30 and minutes.max() <= 15 * 60 + 59
    assert sorted(local.dt.date.unique()) == [
        pd.Timestamp("2015-03-30").date(),
        pd.Timestamp("2015-03-31").date(),
    ]
    for sym in dataset.symbols:
        mm = m[(m["symbol"] == sym) & (local.dt.date == pd.Timestamp("2015-03-31").date())]
        day = dataset.daily[
            (dataset.daily["symbol"] == sym) & (dataset.daily["session"] == "2015-03-31")
        ].iloc[0]
        assert day["open"] == mm["open"].iloc[0] and day["close"] == mm["close"].iloc[-1]
        assert day["high"] == mm["high"].max() and day["low"] == mm["low"].min()
        assert day["volume"] == mm["volume"].sum()


def test_early_close_session_has_fewer_minutes():
    ds = make_dataset(["AAPL"], "2015-11-25", "2015-11-27", minute_sessions=2, minute_gap_prob=0.0)
    local = ds.minute["timestamp"].dt.tz_convert("America/New_York")
    per_day = local.dt.date.value_counts()
    assert per_day[pd.Timestamp("2015-11-27").date()] == 210  # 09:30-13:00
    assert per_day[pd.Timestamp("2015-11-25").date()] == 390


def test_split_adjustment_removes_the_split_gap(dataset: Dataset):
    split = dataset.actions[dataset.actions["split_ratio"] != 1.0].iloc[0]
    sym, ex = split["symbol"], split["ex_date"]
    raw = dataset.bars([sym], "1Day", adjustment="raw").set_index("timestamp")["close"]
    adj = dataset.bars([sym], "1Day", adjustment="split").set_index("timestamp")["close"]
    i = list(raw.index.tz_convert("America/New_York").normalize().tz_localize(None)).index(ex)
    assert raw.iloc[i] / raw.iloc[i - 1] < 0.7  # raw prices halve at a 2:1 split
    assert 0.8 < adj.iloc[i] / adj.iloc[i - 1] < 1.25
    assert adj.iloc[i:].equals(raw.iloc[i:])  # backward adjustment: later prices unchanged
    vol_raw = dataset.bars([sym], "1Day").set_index("timestamp")["volume"]
    vol_adj = dataset.bars([sym], "1Day", adjustment="split").set_index("timestamp")["volume"]
    assert vol_adj.iloc[i - 1] == vol_raw.iloc[i - 1] * 2


def test_wiki_rows_have_the_real_columns_and_corporate_actions(dataset: Dataset):
    w = dataset.wiki
    assert list(w.columns) == WIKI_COLUMNS
    assert "ex-dividend" in w.columns and "split_ratio" in w.columns
    splits = w[w["split_ratio"] != 1.0]
    assert len(splits) == 1 and splits.iloc[0]["split_ratio"] == 2.0
    assert (w["ex-dividend"] > 0).sum() == len(dataset.actions[dataset.actions["dividend"] > 0])
    # Latest rows are unadjusted; raw WIKI prices equal the Alpaca raw daily bars.
    last = w.groupby("ticker").tail(1)
    assert np.allclose(last["adj_close"], last["close"])
    daily = dataset.daily.assign(date=dataset.daily["session"].dt.strftime("%Y-%m-%d"))
    merged = w.merge(daily, left_on=["ticker", "date"], right_on=["symbol", "date"])
    assert len(merged) == len(w)
    assert (merged["close_x"] == merged["close_y"]).all()


def test_from_daily_accepts_a_yahoo_style_frame_and_from_wiki_round_trips():
    yahoo = pd.DataFrame(
        {
            "Date": ["2015-01-02", "2015-01-05"],
            "High": [11.0, 12.0],
            "Low": [9.0, 10.0],
            "Open": [10.0, 11.0],
            "Close": [10.5, 11.5],
            "Volume": [1000, 2500],
            "Adj Close": [10.4, 11.4],
        }
    )
    ds = Dataset.from_daily(yahoo, symbol="XYZ")
    assert ds.symbols == ["XYZ"]
    assert list(ds.daily["trade_count"]) == [10, 25]
    assert ds.daily["vwap"].iloc[0] == pytest.approx((11 + 9 + 10.5) / 3, abs=1e-4)
    again = Dataset.from_wiki(ds.wiki)
    pd.testing.assert_frame_equal(again.wiki, ds.wiki)
    pd.testing.assert_frame_equal(
        again.daily[["symbol", "session", "close", "volume"]],
        ds.daily[["symbol", "session", "close", "volume"]],
    )


def test_timeframe_grammar():
    assert Timeframe.parse("1Day") == Timeframe.parse("1D") == Timeframe(1, "Day")
    assert Timeframe.parse("5T") == Timeframe(5, "Min")
    assert Timeframe.parse("2H") == Timeframe(2, "Hour")
    for bad in ("60Min", "24Hour", "2Day", "5Month", "Day", "1Sec"):
        with pytest.raises(ValueError):
            Timeframe.parse(bad)


def test_time_bounds_accept_the_formats_clients_send():
    z = parse_bound("2024-01-03T00:00:00Z", is_end=False)
    assert parse_bound("2024-01-03T00:00:00+00:00", is_end=False) == z
    assert parse_bound("2024-01-03T00:00:00 00:00", is_end=False) == z  # '+' decoded as space
    assert parse_bound("2024-01-02T19:00:00-05:00", is_end=False) == z
    assert parse_bound("2024-01-03T01:02:03.123456789Z", is_end=False) == z + 3723123456789
    # A date covers the whole New York day.
    assert format_rfc3339(parse_bound("2024-01-03", is_end=False)) == "2024-01-03T05:00:00Z"
    assert (
        parse_bound("2024-07-03", is_end=True)
        == parse_bound("2024-07-04T04:00:00Z", is_end=False) - 1
    )
    with pytest.raises(ValueError):
        parse_bound("2024-01-03T00:00:00", is_end=False)  # no zone
