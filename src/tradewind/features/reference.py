"""The daily features and forward labels in pandas/numpy, independent of the dbt SQL.

Same definitions as ``features.daily_features`` and ``features.forward_returns`` (see
dbt/README.md): tests check the warehouse against this to 1e-12, the benchmark times it, and code
without a warehouse (synthetic markets) can compute identical features from arrays.

Input bars: one row per (symbol, session) with ``open high low close volume`` (the preferred
source's bar, as int_daily_bars). ``calendar``: every session date in order; gap_sessions and
the T+1/T+2 of the labels are counted on it.
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


def _log_change(x: np.ndarray) -> np.ndarray:
    # ln(x_T / x_prev): the log of the ratio keeps small moves exact to the last bits.
    out = np.full(x.shape, np.nan)
    out[1:] = np.log(x[1:] / x[:-1])
    return out


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
    """Time-series features of one symbol's bars in session order (arrays of equal length)."""
    f: dict[str, np.ndarray] = {
        "lr_open": _log_change(o),
        "lr_high": _log_change(h),
        "lr_low": _log_change(lo),
        "lr_close": _log_change(c),
    }
    lv = np.full(v.shape, np.nan)
    ok = (v[1:] > 0) & (v[:-1] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lv[1:] = np.where(ok, np.log(v[1:] / v[:-1]), np.nan)
    f["lr_volume"] = lv
    f["overnight_lr"] = np.concatenate([[np.nan], np.log(o[1:] / c[:-1])])
    f["intraday_lr"] = np.log(c / o)
    f["range_lr"] = np.log(h / lo)
    r = f["lr_close"]
    for n in return_windows:
        # mean of the last n log changes = ln(c_T / c_{T-n}) / n (telescoped, exact)
        mean = np.full(c.shape, np.nan)
        mean[n:] = np.log(c[n:] / c[:-n]) / n
        f[f"ret_mean_{n}"] = mean
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


def daily_features(
    bars: pd.DataFrame,
    calendar: Sequence | None = None,
    *,
    return_windows: Sequence[int] = RETURN_WINDOWS,
    ma_windows: Sequence[int] = MA_WINDOWS,
    volume_window: int = VOLUME_WINDOW,
    rsi_window: int = RSI_WINDOW,
    xs_columns: Sequence[str] = XS_COLUMNS,
) -> pd.DataFrame:
    """One row per (symbol, session) of ``bars``, the columns of features.daily_features."""
    bars = bars.sort_values(["symbol", "session"], kind="stable").reset_index(drop=True)
    sessions = pd.to_datetime(bars["session"]).dt.date
    if calendar is None:
        calendar = sorted(set(sessions))
    index = {d: i for i, d in enumerate(sorted(pd.to_datetime(pd.Series(calendar)).dt.date))}
    pos = sessions.map(index).to_numpy(dtype=float)

    parts = []
    for _, g in bars.groupby("symbol", sort=True):
        arr = {k: g[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close", "volume")}
        f = symbol_features(
            arr["open"],
            arr["high"],
            arr["low"],
            arr["close"],
            arr["volume"],
            return_windows=return_windows,
            ma_windows=ma_windows,
            volume_window=volume_window,
            rsi_window=rsi_window,
        )
        p = pos[g.index.to_numpy()]
        f["gap_sessions"] = np.concatenate([[np.nan], p[1:] - p[:-1] - 1])
        parts.append(pd.DataFrame(f, index=g.index))
    out = pd.concat([bars[["symbol", "session"]], pd.concat(parts).sort_index()], axis=1)
    out["session"] = sessions
    for col in xs_columns:
        out[f"xs_z_{col}"], out[f"xs_rank_{col}"] = cross_section(out, col, ["session"])
    return out


def forward_returns(bars: pd.DataFrame, calendar: Sequence) -> pd.DataFrame:
    """fwd_open_lr = ln(open at T+2 / open at T+1), T+k the k-th calendar session after T."""
    cal = sorted(pd.to_datetime(pd.Series(calendar)).dt.date)
    nxt = {d: cal[i + 1] for i, d in enumerate(cal[:-1])}
    df = bars[["symbol", "session", "open"]].copy()
    df["session"] = pd.to_datetime(df["session"]).dt.date
    df["next_session"] = df["session"].map(nxt)
    df["next2_session"] = df["next_session"].map(nxt)
    opens = df.set_index(["symbol", "session"])["open"]
    k1 = pd.MultiIndex.from_arrays([df["symbol"], df["next_session"]])
    k2 = pd.MultiIndex.from_arrays([df["symbol"], df["next2_session"]])
    df["next_open"] = opens.reindex(k1).to_numpy()
    df["next2_open"] = opens.reindex(k2).to_numpy()
    df["fwd_open_lr"] = np.log(df["next2_open"] / df["next_open"])
    return df
