"""MarketData: pivoting, the lr_* features, fwd_open_lr labels, availability and volatility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradewind.rl.data import DEFAULT_FEATURES, MarketData, rolling_std

LATE_SYMBOL = "V"  # lists on 2008-03-19, inside the fixture


def test_fixture_shape_and_listing_gap(market: MarketData) -> None:
    assert market.symbols == ("AAPL", "JPM", "V", "XOM")
    assert market.feature_names == DEFAULT_FEATURES
    assert market.features.shape == (62, 5, 4)
    v = market.symbols.index(LATE_SYMBOL)
    first = int(np.argmax(market.listed[:, v]))
    assert str(market.sessions[first]) == "2008-03-19"
    assert not market.listed[:first, v].any() and market.listed[first:, v].all()
    # Not listed -> not available, no features; first bar -> no log change yet.
    assert not market.available[:first, v].any()
    assert np.isnan(market.features[: first + 1, :, v]).all()
    assert np.isfinite(market.features[first + 1 :, :, v]).all()
    # The last two sessions have no forward return.
    assert not market.available[-2:].any()
    assert market.available[:-2, [0, 1, 3]].all()


def test_features_and_labels_by_hand(bars: pd.DataFrame, market: MarketData) -> None:
    aapl = bars[bars.symbol == "AAPL"].sort_values("session").reset_index(drop=True)
    a, t = market.symbols.index("AAPL"), 5
    for f, col in enumerate(("open", "high", "low", "close", "volume")):
        expect = math.log(aapl.loc[t, col]) - math.log(aapl.loc[t - 1, col])
        assert market.features[t, f, a] == pytest.approx(expect, abs=1e-15)
    expect = math.log(aapl.loc[t + 2, "open"] / aapl.loc[t + 1, "open"])
    assert market.labels[t, a] == pytest.approx(expect, abs=1e-15)


def test_volatility_matches_pandas_rolling(bars: pd.DataFrame, market: MarketData) -> None:
    close = bars.pivot(index="session", columns="symbol", values="close").sort_index()
    lr = np.log(close).diff()
    ref = lr.rolling(20, min_periods=2).std().to_numpy()
    known = np.isfinite(ref)
    assert np.allclose(market.volatility[known], ref[known], rtol=1e-10, atol=0)
    # Unknown but listed (V's first two bars): the day's cross-sectional mean.
    v = market.symbols.index(LATE_SYMBOL)
    first = int(np.argmax(market.listed[:, v]))
    others = [0, 1, 3]
    for t in (first, first + 1):
        assert market.volatility[t, v] == pytest.approx(ref[t, others].mean(), rel=1e-12)
    assert (market.volatility[:first, v] == 0).all()


def test_rolling_std_uses_only_the_past() -> None:
    x = np.random.default_rng(0).normal(size=(30, 3))
    base = rolling_std(x, 5)
    y = x.copy()
    y[20:] += 100.0
    assert np.array_equal(rolling_std(y, 5)[:20], base[:20], equal_nan=True)


def test_from_frames_equals_from_bars(market: MarketData) -> None:
    t_len, n = market.n_sessions, market.n_assets
    t_idx, n_idx = np.nonzero(market.listed)
    feats = pd.DataFrame(
        {"symbol": np.asarray(market.symbols)[n_idx], "session": market.sessions[t_idx]}
    )
    for f, name in enumerate(market.feature_names):
        feats[name] = market.features[t_idx, f, n_idx]
    finite = np.isfinite(market.labels)
    lt, ln = np.nonzero(finite)
    labels = pd.DataFrame(
        {
            "symbol": np.asarray(market.symbols)[ln],
            "session": market.sessions[lt],
            "fwd_open_lr": market.labels[lt, ln],
        }
    )
    # Shuffled rows and session dates as Python dates, as a database returns them.
    feats = feats.sample(frac=1.0, random_state=0)
    feats["session"] = [pd.Timestamp(s).date() for s in feats["session"]]
    other = MarketData.from_frames(feats, labels.sample(frac=1.0, random_state=1))
    assert other.symbols == market.symbols and other.n_sessions == t_len and n == 4
    for name in ("features", "labels", "volatility"):
        assert np.array_equal(getattr(other, name), getattr(market, name), equal_nan=True), name
    assert np.array_equal(other.available, market.available)
    assert np.array_equal(other.sessions, market.sessions)


def test_from_ohlcv_equals_from_bars() -> None:
    rng = np.random.default_rng(3)
    t_len, n = 40, 3
    opens = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (t_len, n)), axis=0))
    ohlcv = np.stack(
        [opens, opens * 1.02, opens * 0.97, opens * 1.01, rng.lognormal(10, 0.5, (t_len, n))], -1
    )
    sessions = np.datetime64("2010-01-04") + np.arange(t_len)
    data = MarketData.from_ohlcv(ohlcv, sessions=sessions, symbols=["A", "B", "C"])
    tidy = pd.DataFrame(
        {
            "symbol": np.repeat(["A", "B", "C"], t_len),
            "session": np.tile(sessions, n),
            **{
                c: ohlcv[:, :, k].T.ravel()
                for k, c in enumerate(("open", "high", "low", "close", "volume"))
            },
        }
    )
    ref = MarketData.from_bars(tidy)
    for name in ("features", "labels", "volatility", "available", "listed"):
        assert np.allclose(
            getattr(data, name), getattr(ref, name), rtol=0, atol=1e-13, equal_nan=True
        ), name


def test_zero_volume_is_unknown_not_infinite(bars: pd.DataFrame) -> None:
    stale = bars.copy()
    row = stale.index[(stale.symbol == "XOM")][10]
    stale.loc[row, "volume"] = 0.0
    data = MarketData.from_bars(stale)
    x = data.symbols.index("XOM")
    vol_f = data.feature_names.index("lr_volume")
    lr_volume = data.features[:, vol_f, x]
    assert not np.isinf(data.features).any()
    assert np.isnan(lr_volume[10]) and np.isnan(lr_volume[11])


def test_duplicate_rows_are_rejected(bars: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        MarketData.from_bars(pd.concat([bars, bars.iloc[:1]]))


def test_between_keeps_warmup_and_save_load(market: MarketData, tmp_path) -> None:
    part = market.between("2008-03-03", "2008-03-31", warmup=5)
    i0, i1 = market.index_range("2008-03-03", "2008-03-31")
    assert part.n_sessions == i1 - i0 + 1 + 5
    assert np.array_equal(part.features, market.features[i0 - 5 : i1 + 1], equal_nan=True)
    # Availability was decided on the full data (the slice's last sessions keep theirs).
    assert np.array_equal(part.available, market.available[i0 - 5 : i1 + 1])
    path = market.save(tmp_path / "m.npz")
    back = MarketData.load(path)
    for name in ("features", "labels", "volatility", "available", "listed", "sessions"):
        assert np.array_equal(getattr(back, name), getattr(market, name), equal_nan=True)
    assert back.symbols == market.symbols and back.feature_names == market.feature_names


def test_arrays_are_read_only(market: MarketData) -> None:
    with pytest.raises(ValueError):
        market.features[0, 0, 0] = 1.0


def test_split_uses_the_default_windows_with_warmup() -> None:
    sessions = np.arange(np.datetime64("2018-12-20"), np.datetime64("2019-01-10"))
    rng = np.random.default_rng(0)
    opens = np.exp(np.cumsum(rng.normal(0, 0.01, (len(sessions), 2)), axis=0))
    ohlcv = np.stack([opens, opens, opens, opens, np.ones_like(opens)], axis=-1)
    data = MarketData.from_ohlcv(ohlcv, sessions=sessions)
    train, test = data.split(warmup=3)
    assert str(train.sessions[0]) == "2018-12-20" and str(train.sessions[-1]) == "2018-12-31"
    assert [str(s) for s in test.sessions[:4]] == [
        "2018-12-29",
        "2018-12-30",
        "2018-12-31",
        "2019-01-01",
    ]
    assert str(test.sessions[-1]) == "2019-01-09"


def test_from_bars_keeps_returns_within_one_price_series() -> None:
    """Two feeds of different bases: A overlaps (alpaca from day 5), B switches with no overlap.
    A ratio across feeds would show ln 0.5 or ln 2; the reference never forms one."""
    days = pd.bdate_range("2020-01-06", periods=10)
    p = 10.0 * np.exp(np.linspace(0.0, 0.09, 10))

    def rows(symbol, source, idx, factor):
        px = p[idx] * factor
        return pd.DataFrame(
            {"symbol": symbol, "session": days[idx], "source": source, "adjustment": "x",
             "open": px, "high": px, "low": px, "close": px, "volume": 1e6}
        )  # fmt: skip

    bars = pd.concat(
        [
            rows("A", "csv", np.arange(10), 1.0),
            rows("A", "alpaca", np.arange(5, 10), 0.5),
            rows("B", "csv", np.arange(5), 1.0),
            rows("B", "alpaca", np.arange(5, 10), 2.0),
        ]
    )
    data = MarketData.from_bars(bars)
    a, b = data.symbols.index("A"), data.symbols.index("B")
    lr_close = data.features[:, data.feature_names.index("lr_close"), :]
    step = math.log(p[1] / p[0])
    assert np.allclose(lr_close[1:, a], step, atol=1e-12)  # incl. day 5, where alpaca starts
    assert np.isnan(lr_close[5, b])  # no series holds B's bars of days 4 and 5
    assert np.allclose(lr_close[[1, 2, 3, 4, 6, 7, 8, 9], b], step, atol=1e-12)
    # B's label of day 3 spans csv (day 4) -> alpaca (day 5): unknown, so B is not held then.
    assert np.isnan(data.labels[3, b]) and not data.available[3, b]
    assert data.available[4, b] and data.labels[4, b] == pytest.approx(step, abs=1e-12)
    assert np.allclose(data.labels[:8, a], step, atol=1e-12) and data.available[:8, a].all()
