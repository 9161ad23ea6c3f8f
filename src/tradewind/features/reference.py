"""The daily features and forward labels in pandas/numpy: the one reference of the dbt SQL.

Same definitions as ``features.daily_features`` and ``features.forward_returns`` (the SQL is the
definition; see dbt/README.md). The tests check the warehouse against this to 1e-12, the
benchmark times it, and the in-memory paths (``MarketData.from_bars``, ``MarketData.from_ohlcv``,
synthetic markets) compute their features with it, so there is one pandas copy of each feature.

Input bars: one row per (source, symbol, session) with ``open high low close volume`` and
optionally ``source``, ``adjustment``, ``history_version`` (as raw.bars_daily; absent columns
mean one series per symbol). ``calendar``: every session date in order; gap_sessions and the
T+1/T+2 of the labels are counted on it.

One basis per return (design: "Price series"): a price series is (source, adjustment,
history_version). Every log change and window is computed from one series' own bars placed on
the symbol's bar sequence (the sessions on which any source has a bar): a change needs the
series' bar at the symbol's previous bar and at this one, a window of n needs the series' bar on
each of the symbol's last n bars, else it is NaN. Each (symbol, session) then takes all its
features from one series (``series_choice``), and its price columns from the price bar (the
highest-priority source's bar, ``source_priority``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

RETURN_WINDOWS = (5, 20, 60)
MA_WINDOWS = (5, 20, 60)
VOLUME_WINDOW = 20
RSI_WINDOW = 14
XS_COLUMNS = ("lr_close", "lr_volume", "ret_mean_20", "vol_20")
# dbt var source_priority: first listed wins; unlisted sources rank after, by name.
SOURCE_PRIORITY = ("alpaca", "quandl", "csv", "synthetic")
SERIES_CHOICES = ("longest_run", "priority")
SERIES = ("source", "adjustment", "history_version")
DEFAULT_SERIES = {"source": "bars", "adjustment": "raw", "history_version": 1}
OHLCV = ("open", "high", "low", "close", "volume")


def log_change(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """ln(x_t / x_{t-1}) along ``axis``; NaN first, and where either value is missing or <= 0.

    The log of the ratio, not a difference of logs: small moves keep full precision (as the SQL).
    """
    x = np.asarray(x, dtype=np.float64)
    x = np.moveaxis(x, axis, 0)
    out = np.full(x.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (x[1:] > 0) & (x[:-1] > 0)
        out[1:] = np.where(ok, np.log(x[1:] / x[:-1]), np.nan)
    return np.moveaxis(out, 0, axis)


def forward_open_lr(opens: np.ndarray, axis: int = 0) -> np.ndarray:
    """Label at t: ln(open_{t+2} / open_{t+1}) along ``axis`` (NaN for the last two rows)."""
    lr = np.moveaxis(log_change(opens, axis), axis, 0)
    out = np.full(lr.shape, np.nan)
    out[:-2] = lr[2:]
    return np.moveaxis(out, 0, axis)


def _trailing(x: np.ndarray, n: int, fn) -> np.ndarray:
    """fn over each window of the current and n-1 previous values; NaN unless all n are finite."""
    out = np.full(x.shape, np.nan)
    if len(x) < n:
        return out
    win = sliding_window_view(x, n)
    full = np.isfinite(win).all(axis=1)
    vals = np.full(len(win), np.nan)
    if full.any():
        vals[full] = fn(win[full])
    out[n - 1 :] = vals
    return out


def _rsi(win: np.ndarray) -> np.ndarray:
    moves = np.abs(win).sum(axis=1)
    gains = np.maximum(win, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(moves == 0, 50.0, 100.0 * (gains / moves))


def lookback(
    return_windows: Sequence[int] = RETURN_WINDOWS,
    ma_windows: Sequence[int] = MA_WINDOWS,
    volume_window: int = VOLUME_WINDOW,
    rsi_window: int = RSI_WINDOW,
) -> int:
    """Earlier bars a row can depend on (dbt macro feature_lookback)."""
    return int(max([*return_windows, *ma_windows, volume_window, rsi_window, 1]))


def symbol_features(
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    *,
    return_windows: Sequence[int] = RETURN_WINDOWS,
    ma_windows: Sequence[int] = MA_WINDOWS,
    volume_window: int = VOLUME_WINDOW,
    rsi_window: int = RSI_WINDOW,
) -> dict[str, np.ndarray]:
    """Time-series features of one price series on its symbol's bar sequence (equal-length
    arrays; NaN where the series has no bar)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f: dict[str, np.ndarray] = {
            "lr_open": log_change(o),
            "lr_high": log_change(h),
            "lr_low": log_change(lo),
            "lr_close": log_change(c),
            # Zero volume (stale prints) has no logarithm: NaN, not an infinite change.
            "lr_volume": log_change(v),
            "overnight_lr": np.concatenate([[np.nan], np.log(o[1:] / c[:-1])]),
            "intraday_lr": np.log(c / o),
            "range_lr": np.log(h / lo),
        }
    r = f["lr_close"]
    for n in return_windows:
        # mean of the last n log changes = ln(c_T / c_{T-n}) / n (telescoped, exact); the series
        # must hold all n + 1 bars, as for the other windows.
        mean = np.full(c.shape, np.nan)
        with np.errstate(invalid="ignore"):
            mean[n:] = np.log(c[n:] / c[:-n]) / n
        complete = np.isfinite(_trailing(c, n + 1, lambda w: w[:, 0]))
        f[f"ret_mean_{n}"] = np.where(complete, mean, np.nan)
        f[f"vol_{n}"] = _trailing(r, n, lambda w: w.std(axis=1, ddof=1))
    for n in ma_windows:
        f[f"ma_ratio_{n}"] = c / _trailing(c, n, lambda w: w.mean(axis=1))
    vm = _trailing(v, volume_window, lambda w: w.mean(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        f[f"volume_ratio_{volume_window}"] = np.where(vm > 0, v / vm, np.nan)
    f[f"rsi_{rsi_window}"] = _trailing(r, rsi_window, _rsi)
    return f


def cross_section(df: pd.DataFrame, col: str, by: list[str]) -> tuple[pd.Series, pd.Series]:
    """z-score (sample sd; null when sd is 0 or undefined) and percent rank (ties share the
    lowest; 0 for a lone value) of ``col`` within groups ``by``; null where ``col`` is null."""
    g = df.groupby(by, sort=False)[col]
    mean = g.transform("mean")
    std = g.transform("std")
    z = (df[col] - mean) / std.where(std != 0)
    n = g.transform("count")
    rank = g.rank(method="min")
    pct = ((rank - 1) / (n - 1)).where(n > 1, 0.0).where(df[col].notna())
    return z, pct


def _dates(values) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values)).dt.date.to_numpy())


def source_rank(sources: pd.Series, priority: Sequence[str] = SOURCE_PRIORITY) -> np.ndarray:
    """1 for the first listed source, ..., len + 1 for any other (macro source_rank)."""
    order = {name: i + 1 for i, name in enumerate(priority)}
    return sources.map(order).fillna(len(priority) + 1).to_numpy(dtype=np.int64)


def series_bars(
    bars: pd.DataFrame,
    calendar: Sequence | None = None,
    source_priority: Sequence[str] = SOURCE_PRIORITY,
) -> pd.DataFrame:
    """int_series_bars: every bar with its series key, series_rank, the symbol's bar_index
    (0-based here), gap_sessions, and whether it is the session's price bar."""
    df = bars.copy()
    for col, default in DEFAULT_SERIES.items():
        if col not in df.columns:
            df[col] = default
    df["symbol"] = df["symbol"].astype(str)
    df["session"] = _dates(df["session"]).to_numpy()
    cal = sorted(set(_dates(calendar))) if calendar is not None else sorted(set(df["session"]))
    df["session_index"] = pd.Index(cal).get_indexer(df["session"])
    df = df[df["session_index"] >= 0].copy()  # bars off the calendar are not sessions
    df["series_rank"] = source_rank(df["source"], source_priority)
    df = df.sort_values(["symbol", "session_index", "series_rank", "source"], kind="stable")
    df = df.reset_index(drop=True)
    first_of_day = ~df.duplicated(["symbol", "session_index"], keep="first")
    if df.duplicated(["symbol", "session_index", "source"]).any():
        raise ValueError("bars hold duplicate (source, symbol, session) rows")
    df["is_price_bar"] = first_of_day.to_numpy()
    # Rows are sorted by (symbol, session) with the price bar first: every row of a session
    # shares the price bar's bar_index and gap_sessions.
    df["bar_index"] = df.groupby("symbol", sort=False)["is_price_bar"].cumsum().to_numpy() - 1
    price = df["is_price_bar"].to_numpy()
    pos = df["session_index"].to_numpy(dtype=float)[price]
    gap = np.full(len(pos), np.nan)
    gap[1:] = pos[1:] - pos[:-1] - 1
    gap[df["bar_index"].to_numpy()[price] == 0] = np.nan  # a symbol's first bar
    # Each row takes the gap of its session's price bar (the last price row at or before it).
    price_row = np.maximum.accumulate(np.where(price, np.arange(len(df)), 0))
    full = np.full(len(df), np.nan)
    full[price] = gap
    df["gap_sessions"] = full[price_row]
    return df


def _run_lengths(present: np.ndarray) -> np.ndarray:
    """Consecutive present values ending at each position (0 where absent)."""
    idx = np.arange(len(present))
    last_absent = np.maximum.accumulate(np.where(present, -1, idx))
    return np.where(present, idx - last_absent, 0)


def daily_features(
    bars: pd.DataFrame,
    calendar: Sequence | None = None,
    *,
    return_windows: Sequence[int] = RETURN_WINDOWS,
    ma_windows: Sequence[int] = MA_WINDOWS,
    volume_window: int = VOLUME_WINDOW,
    rsi_window: int = RSI_WINDOW,
    xs_columns: Sequence[str] = XS_COLUMNS,
    source_priority: Sequence[str] = SOURCE_PRIORITY,
    series_choice: str = "longest_run",
) -> pd.DataFrame:
    """One row per (symbol, session) with a bar: the columns of features.daily_features (the
    features, gap_sessions, series_source / _adjustment / _history_version, the xs_ columns)."""
    if series_choice not in SERIES_CHOICES:
        raise ValueError(f"series_choice must be one of {SERIES_CHOICES}, not {series_choice!r}")
    sb = series_bars(bars, calendar, source_priority)
    cap = lookback(return_windows, ma_windows, volume_window, rsi_window) + 1
    windows = dict(
        return_windows=return_windows,
        ma_windows=ma_windows,
        volume_window=volume_window,
        rsi_window=rsi_window,
    )
    price = sb[sb["is_price_bar"]].reset_index(drop=True)
    n_bars = price.groupby("symbol", sort=False).size()
    starts = np.concatenate([[0], np.cumsum(n_bars.to_numpy())[:-1]])
    offset = dict(zip(n_bars.index, starts, strict=True))  # price rows are sorted by symbol
    total = len(price)

    best: np.ndarray | None = None  # per price row: best key so far
    chosen: dict[str, np.ndarray] = {}
    series_cols = {k: np.empty(total, dtype=object) for k in SERIES}
    ordinal = 0
    for key, g in sb.groupby(["symbol", *SERIES], sort=True):
        symbol = key[0]
        n = int(n_bars[symbol])
        pos = g["bar_index"].to_numpy()
        arrays = {}
        for col in OHLCV:
            a = np.full(n, np.nan)
            a[pos] = g[col].to_numpy(dtype=float)
            arrays[col] = a
        f = symbol_features(*(arrays[c] for c in OHLCV), **windows)
        present = np.zeros(n, dtype=bool)
        present[pos] = True
        run = _run_lengths(present)[pos]
        linked = np.zeros(n, dtype=bool)
        linked[1:] = present[1:] & present[:-1]
        rank = int(g["series_rank"].iloc[0])
        # Sort key, smaller is better: (-capped run | -linked, rank, series key order).
        lead = -np.minimum(run, cap) if series_choice == "longest_run" else -linked[pos]
        rows = offset[symbol] + pos
        if best is None:
            best = np.full((total, 3), np.inf)
            chosen = {name: np.full(total, np.nan) for name in f}
        cand = np.column_stack([lead, np.full(len(pos), rank), np.full(len(pos), ordinal)])
        ordinal += 1  # groupby order = (symbol, source, adjustment, history_version) ascending
        cur = best[rows]
        better = (cand[:, 0] < cur[:, 0]) | (
            (cand[:, 0] == cur[:, 0])
            & ((cand[:, 1] < cur[:, 1]) | ((cand[:, 1] == cur[:, 1]) & (cand[:, 2] < cur[:, 2])))
        )
        take = rows[better]
        best[take] = cand[better]
        for name, values in f.items():
            chosen[name][take] = values[pos[better]]
        for i, col in enumerate(SERIES):
            series_cols[col][take] = key[1 + i]

    out = price[["symbol", "session", "gap_sessions", "session_index"]].copy()
    for name, values in chosen.items():
        out[name] = values
    out["series_source"] = series_cols["source"]
    out["series_adjustment"] = series_cols["adjustment"]
    out["series_history_version"] = series_cols["history_version"]
    for col in xs_columns:  # grouped on the integer session index: faster than on dates
        out[f"xs_z_{col}"], out[f"xs_rank_{col}"] = cross_section(out, col, ["session_index"])
    return out.drop(columns="session_index")


def forward_returns(
    bars: pd.DataFrame,
    calendar: Sequence,
    *,
    source_priority: Sequence[str] = SOURCE_PRIORITY,
) -> pd.DataFrame:
    """fwd_open_lr = ln(open at T+2 / open at T+1), T+k the k-th calendar session after T, both
    opens from the highest-priority series with a bar on both sessions (else NaN). One row per
    (symbol, session) with a bar; ``open`` is the price bar's."""
    sb = series_bars(bars, calendar, source_priority)
    cal = sorted(set(_dates(calendar)))
    nxt = {d: cal[i + 1] for i, d in enumerate(cal[:-1])}
    df = sb.loc[sb["is_price_bar"], ["symbol", "session", "open"]].reset_index(drop=True)
    df["next_session"] = df["session"].map(nxt)
    df["next2_session"] = df["next_session"].map(nxt)

    # Every series' opens by (symbol, session); the pair must share a series.
    sb = sb.assign(series=sb.groupby(list(SERIES), sort=False).ngroup())
    by_day = sb.set_index(["symbol", "session", "series"])["open"]
    k1 = sb[["symbol", "session", "series", "series_rank", "source", "open"]].rename(
        columns={"session": "next_session", "open": "next_open"}
    )
    pairs = df[["symbol", "session", "next_session", "next2_session"]].merge(
        k1, on=["symbol", "next_session"]
    )
    idx2 = pd.MultiIndex.from_arrays([pairs["symbol"], pairs["next2_session"], pairs["series"]])
    pairs["next2_open"] = by_day.reindex(idx2).to_numpy()
    pairs = pairs[pairs["next2_open"].notna()]
    pairs = pairs.sort_values(["symbol", "session", "series_rank", "source"], kind="stable")
    pairs = pairs.drop_duplicates(["symbol", "session"], keep="first")
    got = pairs.set_index(["symbol", "session"])
    key = pd.MultiIndex.from_frame(df[["symbol", "session"]])
    df["next_open"] = got["next_open"].reindex(key).to_numpy(dtype=float)
    df["next2_open"] = got["next2_open"].reindex(key).to_numpy(dtype=float)
    df["label_source"] = got["source"].reindex(key).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        df["fwd_open_lr"] = np.log(df["next2_open"] / df["next_open"])
    return df
