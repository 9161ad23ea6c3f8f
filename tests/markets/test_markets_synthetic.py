"""Synthetic market generator: determinism, bar consistency and statistical properties.

Statistical checks use fixed seeds and tolerances several standard errors wide, so they are
deterministic and still fail when the model is wrong.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradewind import calendar
from tradewind.markets import synthetic as syn
from tradewind.markets.synthetic import (
    BAR_COLUMNS,
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    VOLUME,
    Regime,
    SyntheticMarket,
    SyntheticMarketConfig,
)


def _source_returns(n: int = 1500, m: int = 5, seed: int = 7) -> np.ndarray:
    # Distinct values everywhere, so every output row can be traced back to its source row.
    return np.random.default_rng(seed).normal(0.0003, 0.015, (n, m))


MODELS = {
    "gbm": SyntheticMarketConfig(model="gbm", n_assets=6, jump_intensity=3.0),
    "regime": SyntheticMarketConfig(model="regime", n_assets=6, jump_intensity=3.0),
    "bootstrap": SyntheticMarketConfig(model="bootstrap", bootstrap_returns=_source_returns()),
}


def _assert_consistent_bars(bars: np.ndarray) -> None:
    o, h, lo, c, v = (bars[..., i] for i in range(5))
    assert np.all(np.isfinite(bars))
    assert np.all(lo > 0)
    assert np.all(lo <= np.minimum(o, c))
    assert np.all(h >= np.maximum(o, c))
    assert np.all(v >= 1)
    assert np.all(v == np.rint(v))


# ---------------------------------------------------------------------------------------------
# determinism


@pytest.mark.parametrize("model", sorted(MODELS))
def test_same_seed_same_frame_different_seed_different_frame(model):
    cfg = MODELS[model]
    a = syn.generate_bars(cfg, "2019-01-01", "2019-06-30")
    b = syn.generate_bars(cfg, "2019-01-01", "2019-06-30")
    pd.testing.assert_frame_equal(a, b)
    c = syn.generate_bars(replace(cfg, seed=cfg.seed + 1), "2019-01-01", "2019-06-30")
    assert a.shape == c.shape
    assert not np.allclose(a["close"].to_numpy(), c["close"].to_numpy())


@pytest.mark.parametrize("model", sorted(MODELS))
def test_paths_depend_only_on_generator_state(model):
    market = SyntheticMarket(MODELS[model])
    p1 = market.paths(300, np.random.default_rng(42))
    p2 = syn.generate_paths(MODELS[model], 300, np.random.default_rng(42))
    np.testing.assert_array_equal(p1, p2)
    p3 = market.paths(300, np.random.default_rng(43))
    assert not np.array_equal(p1, p3)
    assert p1.shape == (300, market.n_assets, 5)


def test_frame_ohlcv_equals_array_api_for_same_seed():
    cfg = syn.dow30_like_config(seed=3)
    frame = syn.generate_bars(cfg, "2020-01-01", "2020-03-31")
    sessions, symbols, bars = syn.generate_arrays(cfg, "2020-01-01", "2020-03-31")
    assert symbols == syn.DOW30_2020
    assert len(sessions) == len(calendar.sessions("2020-01-01", "2020-03-31"))
    wide = frame.pivot(index="session", columns="symbol", values="close")[list(symbols)]
    np.testing.assert_array_equal(wide.to_numpy(), bars[..., CLOSE])
    vol = frame.pivot(index="session", columns="symbol", values="volume")[list(symbols)]
    np.testing.assert_array_equal(vol.to_numpy(), bars[..., VOLUME].astype(np.int64))


# ---------------------------------------------------------------------------------------------
# bar consistency


@pytest.mark.parametrize("model", sorted(MODELS))
def test_ohlc_consistent_over_many_seeds(model):
    base = MODELS[model]
    for seed in range(40):
        bars = SyntheticMarket(replace(base, seed=seed)).paths(250, np.random.default_rng(seed))
        _assert_consistent_bars(bars)


def test_ohlc_consistent_under_extreme_parameters():
    cfg = SyntheticMarketConfig(
        model="regime",
        n_assets=4,
        vol=1.5,
        drift=-0.5,
        jump_intensity=50.0,
        jump_mean=-0.2,
        jump_std=0.3,
        initial_regime="crash",
    )
    for seed in range(10):
        _assert_consistent_bars(SyntheticMarket(cfg).paths(2000, np.random.default_rng(seed)))


def test_zero_volatility_is_a_deterministic_growth_path():
    # No randomness left in prices: the drift compounds exactly and high/low collapse onto
    # open/close (the degenerate bridge with zero variance).
    cfg = SyntheticMarketConfig(n_assets=3, vol=0.0, drift=0.1, initial_price=100.0)
    sim = SyntheticMarket(cfg).simulate(2000, np.random.default_rng(0))
    _assert_consistent_bars(sim.bars)
    np.testing.assert_allclose(sim.log_returns, 0.1 / 252, rtol=1e-12)
    closes = sim.bars[..., CLOSE]
    np.testing.assert_allclose(closes[-1], 100.0 * np.exp(0.1 * 2000 / 252), rtol=1e-9)
    np.testing.assert_allclose(sim.bars[..., HIGH], np.maximum(sim.bars[..., OPEN], closes))
    np.testing.assert_allclose(sim.bars[..., LOW], np.minimum(sim.bars[..., OPEN], closes))


def test_frame_columns_types_vwap_and_trade_count():
    frame = syn.generate_bars(MODELS["regime"], "2018-01-01", "2018-12-31")
    assert tuple(frame.columns) == BAR_COLUMNS
    assert all(type(s) is date for s in frame["session"])
    assert frame["volume"].dtype == np.int64
    assert frame["trade_count"].dtype == np.int64
    assert (frame["vwap"] >= frame["low"]).all() and (frame["vwap"] <= frame["high"]).all()
    assert (frame["trade_count"] >= 1).all()
    assert (frame["trade_count"] <= frame["volume"]).all()
    assert not frame.duplicated(["symbol", "session"]).any()
    # Tidy and sorted by (symbol, session).
    assert frame.equals(frame.sort_values(["symbol", "session"]).reset_index(drop=True))


def test_sessions_are_exactly_nyse_sessions():
    frame = syn.generate_bars(None, "2008-01-01", "2020-12-31")
    expected = calendar.sessions("2008-01-01", "2020-12-31")
    assert sorted(set(frame["session"])) == expected
    assert frame.groupby("symbol")["session"].apply(list).map(lambda s: s == expected).all()
    assert sorted(set(frame["symbol"])) == sorted(syn.DOW30_2020)
    around_911 = syn.generate_bars(MODELS["gbm"], "2001-09-01", "2001-09-30")
    days = set(around_911["session"])
    assert days == set(calendar.sessions("2001-09-01", "2001-09-30"))
    assert not days & {date(2001, 9, d) for d in (11, 12, 13, 14)}


def test_overnight_gap_and_intraday_range_match_the_model():
    cfg = SyntheticMarketConfig(n_assets=20, vol=0.3, correlation=0.3, overnight_share=0.25)
    sim = SyntheticMarket(cfg).simulate(4000, np.random.default_rng(5))
    b = sim.bars
    gap = np.log(b[1:, :, OPEN] / b[:-1, :, CLOSE])
    total = np.log(b[1:, :, CLOSE] / b[:-1, :, CLOSE])
    np.testing.assert_allclose(total, sim.log_returns[1:], atol=1e-9)
    share = gap.var() / total.var()
    assert 0.22 < share < 0.28
    # E[log(high/low)] of Brownian motion with intraday sd s is 2 sqrt(2/pi) s.
    s_in = 0.3 / np.sqrt(252) * np.sqrt(0.75)
    mean_range = np.log(b[..., HIGH] / b[..., LOW]).mean()
    assert mean_range == pytest.approx(2 * np.sqrt(2 / np.pi) * s_in, rel=0.03)


def test_volume_rises_with_absolute_return():
    sim = SyntheticMarket(MODELS["regime"]).simulate(3000, np.random.default_rng(11))
    logv = np.log(sim.bars[..., VOLUME])
    for i in range(logv.shape[1]):
        assert np.corrcoef(logv[:, i], np.abs(sim.log_returns[:, i]))[0, 1] > 0.3


# ---------------------------------------------------------------------------------------------
# return statistics


def test_equicorrelation_and_vol_recovered():
    cfg = SyntheticMarketConfig(n_assets=30, vol=0.25, drift=0.07, correlation=0.4)
    sim = SyntheticMarket(cfg).simulate(5000, np.random.default_rng(2))
    c = np.corrcoef(sim.log_returns.T)
    off = c[np.triu_indices(30, 1)]
    assert abs(off.mean() - 0.4) < 0.02
    assert np.abs(off - 0.4).max() < 0.1
    ann_vol = sim.log_returns.std(axis=0) * np.sqrt(252)
    np.testing.assert_allclose(ann_vol, 0.25, rtol=0.05)


def test_full_correlation_matrix_recovered():
    target = syn.dow30_like_correlation()
    cfg = syn.dow30_like_config(model="gbm", jump_intensity=0.0)
    sim = SyntheticMarket(cfg).simulate(6000, np.random.default_rng(3))
    c = np.corrcoef(sim.log_returns.T)
    assert np.abs(c - target).max() < 0.1
    assert np.abs(c - target)[np.triu_indices(30, 1)].mean() < 0.02


def test_random_factor_correlation_is_valid_and_seeded():
    cfg = SyntheticMarketConfig(n_assets=12, correlation=None, seed=9)
    a, b = SyntheticMarket(cfg).correlation, SyntheticMarket(cfg).correlation
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, SyntheticMarket(replace(cfg, seed=10)).correlation)
    np.testing.assert_allclose(np.diag(a), 1.0)
    assert np.all(np.linalg.eigvalsh(a) > 0)
    off = a[np.triu_indices(12, 1)]
    assert off.min() > 0.15 and off.max() < 0.75


def test_dow30_like_demo_parameters_are_realistic():
    m = SyntheticMarket(syn.dow30_like_config())
    assert m.symbols == syn.DOW30_2020
    assert np.all((m.drift >= 0.05) & (m.drift <= 0.10))
    assert np.all((m.vol >= 0.15) & (m.vol <= 0.40))
    off = m.correlation[np.triu_indices(30, 1)]
    assert 0.3 <= off.mean() <= 0.5
    assert [r.name for r in m.regimes] == ["calm", "volatile", "crash"]


def test_a_crash_regime_happens_in_some_demo_paths():
    market = SyntheticMarket(syn.dow30_like_config())
    n = len(calendar.sessions(syn.DEMO_START, syn.DEMO_END))
    crash = [r.name for r in market.regimes].index("crash")
    hits = [
        bool((market.simulate(n, np.random.default_rng(s)).regimes == crash).any())
        for s in range(10)
    ]
    assert 1 <= sum(hits) <= 10


def test_regime_switching_changes_volatility():
    cfg = SyntheticMarketConfig(model="regime", n_assets=10, vol=0.2, correlation=0.3)
    sim = SyntheticMarket(cfg).simulate(20000, np.random.default_rng(4))
    counts = np.bincount(sim.regimes, minlength=3)
    assert np.all(counts > 200), counts
    stds = [sim.log_returns[sim.regimes == k].std() for k in range(3)]
    assert stds[0] < stds[1] < stds[2]
    scales = [r.vol_scale for r in syn.DEFAULT_REGIMES]
    assert stds[1] / stds[0] == pytest.approx(scales[1] / scales[0], rel=0.1)
    assert stds[2] / stds[0] == pytest.approx(scales[2] / scales[0], rel=0.15)
    gbm = SyntheticMarket(replace(cfg, model="gbm")).simulate(500, np.random.default_rng(4))
    assert not gbm.regimes.any()


def test_custom_regimes_from_dict():
    cfg = SyntheticMarketConfig.from_dict(
        {
            "model": "regime",
            "n_assets": 3,
            "regimes": [{"name": "quiet", "vol_scale": 0.5}, {"name": "wild", "vol_scale": 4.0}],
            "transitions": [[0.99, 0.01], [0.05, 0.95]],
            "initial_regime": "wild",
        }
    )
    sim = SyntheticMarket(cfg).simulate(1000, np.random.default_rng(0))
    assert sim.regimes[0] == 1
    assert set(np.unique(sim.regimes)) == {0, 1}
    with pytest.raises(ValueError, match="unknown synthetic market option"):
        SyntheticMarketConfig.from_dict({"modle": "gbm"})


def test_planted_drift_shows_in_the_mean():
    cfg = SyntheticMarketConfig(
        n_assets=30, drift=0.0, vol=0.2, correlation=0.4, planted_asset="JPM", planted_drift=0.5
    )
    market = SyntheticMarket(cfg)
    sim = market.simulate(2500, np.random.default_rng(8))
    means = sim.log_returns.mean(axis=0) * 252
    k = market.symbols.index("JPM")
    assert int(np.argmax(means)) == k
    others = np.delete(means, k)
    # Planted 50%/yr against a 0%/yr field; standard error of each annual mean ~ 6%/yr.
    assert means[k] - others.mean() == pytest.approx(0.5, abs=0.15)
    unplanted = SyntheticMarket(replace(cfg, planted_asset=None))
    base = unplanted.simulate(2500, np.random.default_rng(8)).log_returns
    np.testing.assert_allclose(sim.log_returns[:, k] - base[:, k], 0.5 / 252, rtol=1e-9, atol=1e-12)


def test_planted_drift_in_bootstrap_is_an_exact_shift():
    src = _source_returns()
    cfg = SyntheticMarketConfig(
        model="bootstrap", bootstrap_returns=src, planted_asset=2, planted_drift=0.252
    )
    sim = SyntheticMarket(cfg).simulate(800, np.random.default_rng(1))
    expected = src[sim.source_index].copy()
    expected[:, 2] += 0.252 / 252
    np.testing.assert_allclose(sim.log_returns, expected, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# bootstrap


def _runs(idx: np.ndarray) -> list[np.ndarray]:
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    return np.split(idx, breaks)


def _trace_rows(returns: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Source row of every output row, found by value (first column is unique in src)."""
    lookup = {v: i for i, v in enumerate(src[:, 0])}
    rows = np.array([lookup[v] for v in returns[:, 0]])
    # Whole rows match: all assets come from the same source day (cross-section preserved).
    np.testing.assert_array_equal(returns, src[rows])
    return rows


@pytest.mark.parametrize("method", ["stationary", "moving"])
def test_bootstrap_blocks_are_contiguous_source_slices(method):
    src = _source_returns(n=2000, m=5)
    cfg = SyntheticMarketConfig(
        model="bootstrap", bootstrap_returns=src, block_length=20, bootstrap_method=method
    )
    n = 5000
    sim = SyntheticMarket(cfg).simulate(n, np.random.default_rng(12))
    # Close-to-close log returns from the bars themselves equal source rows.
    bars = sim.bars
    closes = np.vstack([SyntheticMarket(cfg).initial_price, bars[..., CLOSE]])
    from_bars = np.diff(np.log(closes), axis=0)
    np.testing.assert_allclose(from_bars, src[sim.source_index], atol=1e-9)
    rows = _trace_rows(sim.log_returns, src)
    np.testing.assert_array_equal(rows, sim.source_index)
    runs = _runs(rows)
    assert all(0 <= r[0] and r[-1] < len(src) for r in runs)
    if method == "moving":
        # Adjacent blocks can chain into one run, so every run but the last is k * 20 long.
        assert all(len(r) % 20 == 0 for r in runs[:-1])
    else:
        # ~n / 20 = 250 blocks expected (a few chain together); geometric lengths vary.
        assert 180 < len(runs) < 330
        lengths = np.array([len(r) for r in runs])
        assert lengths.min() < 5 and lengths.max() > 50


def test_bootstrap_indices_moving_blocks_exact():
    idx = syn.bootstrap_indices(100, 50, 7, "moving", np.random.default_rng(0))
    assert len(idx) == 100
    for k in range(0, 100, 7):
        block = idx[k : k + 7]
        np.testing.assert_array_equal(block, np.arange(block[0], block[0] + len(block)))
    assert idx.min() >= 0 and idx.max() < 50


def test_bootstrap_with_short_source_and_long_blocks():
    # Mean block length 100 > 30 source rows: blocks are cut to the source, never wrapped.
    idx = syn.bootstrap_indices(1000, 30, 100, "stationary", np.random.default_rng(0))
    assert len(idx) == 1000 and idx.min() >= 0 and idx.max() < 30
    runs = _runs(idx)
    whole = [r for r in runs if len(r) == 30]
    assert all(np.array_equal(r, np.arange(30)) for r in whole)
    assert len(whole) > 0.5 * len(runs)


# ---------------------------------------------------------------------------------------------
# configuration errors


def test_config_validation():
    with pytest.raises(ValueError, match="model"):
        SyntheticMarketConfig(model="garch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bootstrap_returns"):
        SyntheticMarketConfig(model="bootstrap")
    with pytest.raises(ValueError, match="inconsistent numbers of assets"):
        SyntheticMarket(SyntheticMarketConfig(symbols=("A", "B"), drift=(0.1, 0.1, 0.1)))
    with pytest.raises(ValueError, match="positive definite"):
        SyntheticMarket(SyntheticMarketConfig(n_assets=2, correlation=[[1.0, 1.2], [1.2, 1.0]]))
    with pytest.raises(ValueError, match="planted asset"):
        SyntheticMarket(SyntheticMarketConfig(n_assets=3, planted_asset="ZZZ"))
    with pytest.raises(ValueError, match="row-stochastic"):
        SyntheticMarket(
            SyntheticMarketConfig(model="regime", n_assets=2, transitions=((1.0, 0.0),))
        )
    with pytest.raises(ValueError, match="correlation_boost"):
        SyntheticMarket(
            SyntheticMarketConfig(
                model="regime",
                n_assets=2,
                regimes=(Regime("a", correlation_boost=1.0),),
                transitions=((1.0,),),
            )
        )
    with pytest.raises(ValueError, match="finite"):
        bad = _source_returns()
        bad[3, 1] = np.nan
        SyntheticMarket(SyntheticMarketConfig(model="bootstrap", bootstrap_returns=bad))


def test_symbols_defaults():
    assert SyntheticMarket(SyntheticMarketConfig(n_assets=5)).symbols == syn.DOW30_2020[:5]
    many = SyntheticMarket(SyntheticMarketConfig(n_assets=40)).symbols
    assert many[0] == "SYN000" and len(set(many)) == 40
    assert SyntheticMarket(SyntheticMarketConfig(symbols=["X", "Y"])).n_assets == 2


def test_zero_sessions():
    assert syn.generate_paths(SyntheticMarketConfig(n_assets=3), 0).shape == (0, 3, 5)
    frame = syn.generate_bars(SyntheticMarketConfig(n_assets=3), "2020-11-26", "2020-11-26")
    assert list(frame.columns) == list(BAR_COLUMNS) and frame.empty
