"""Market data for the environment: loaded once into arrays, never queried inside ``step()``.

Grain: one row per trading session T (``sessions``, NYSE session dates) and one column per symbol.

- ``features[T, f, n]``: the feature marts' log changes at T (``lr_x = ln(x_T / x_prev)``,
  where ``prev`` is the symbol's previous bar, both bars of one price series: source,
  adjustment basis and vendor history version). Known at the end of session T. NaN where the
  symbol has no bar, on its first bar, and where no series holds both bars.
- ``labels[T, n] = fwd_open_lr = log(open_{T+2} / open_{T+1})``: the return earned by weights
  decided at the end of T (traded at the open of T+1), both opens from one price series. A
  label, never part of an observation; NaN (so the asset is unavailable at T) where no series
  has both bars, e.g. where the sources switch between T+1 and T+2.
- ``listed[T, n]``: the symbol has a bar at T (known at T).
- ``available[T, n]``: the symbol may be held from open(T+1) to open(T+2): listed at T, T+1 and
  T+2 and its label is finite. This reads the *listing status* two sessions ahead (never a
  price), which is what lets the environment value a position; delistings are announced ahead
  of time, so this is the usual convention. The weight of an unavailable asset is forced to 0.
- ``volatility[T, n]``: rolling standard deviation of ``lr_close`` over the last ``vol_window``
  sessions up to and including T (daily, in log-return units), for the slippage cost term.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_FEATURES: tuple[str, ...] = ("lr_open", "lr_high", "lr_low", "lr_close", "lr_volume")
OHLCV = ("open", "high", "low", "close", "volume")
# Default windows of the design: in-sample training, out-of-sample evaluation (inclusive).
IN_SAMPLE: tuple[dt.date, dt.date] = (dt.date(2008, 1, 1), dt.date(2018, 12, 31))
OUT_OF_SAMPLE: tuple[dt.date, dt.date] = (dt.date(2019, 1, 1), dt.date(2020, 9, 30))
VOL_SOURCE = "lr_close"
DEFAULT_VOL_WINDOW = 20
LABEL = "fwd_open_lr"

DateLike = str | dt.date | np.datetime64 | pd.Timestamp


def to_day(value: DateLike) -> np.datetime64:
    """Any date-like value as numpy ``datetime64[D]``."""
    return np.datetime64(pd.Timestamp(value).date(), "D")


def rolling_std(x: np.ndarray, window: int, min_periods: int = 2) -> np.ndarray:
    """Std (ddof=1) over the last ``window`` rows up to and including each row, NaNs skipped.

    ``x`` is [T, N]; rows with fewer than ``min_periods`` finite values give NaN. Only rows at or
    before t enter row t (no lookahead).
    """
    x = np.asarray(x, dtype=np.float64)
    t_len = x.shape[0]
    padded = np.concatenate([np.full((window - 1, *x.shape[1:]), np.nan), x], axis=0)
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)[:t_len]
    finite = np.isfinite(win)
    count = finite.sum(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanstd(win, axis=-1, ddof=1)
    out[count < max(min_periods, 2)] = np.nan
    return out


def _fill_volatility(vol: np.ndarray, listed: np.ndarray) -> np.ndarray:
    # A freshly listed symbol has no history yet: charge it the cross-sectional mean of the day
    # (not zero, which would make new listings look free to trade); no information at all -> 0.
    vol = vol.copy()
    known = np.isfinite(vol) & listed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        row_mean = np.nanmean(np.where(known, vol, np.nan), axis=1)
    row_mean = np.where(np.isfinite(row_mean), row_mean, 0.0)
    vol = np.where(np.isfinite(vol), vol, row_mean[:, None])
    return np.where(listed, vol, 0.0)


def availability(listed: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``available[T] = listed[T] & listed[T+1] & listed[T+2] & isfinite(labels[T])``.

    Listing beyond the last loaded session is unknown and taken as true (the label decides).
    """
    ahead1 = np.ones_like(listed)
    ahead2 = np.ones_like(listed)
    ahead1[:-1] = listed[1:]
    ahead2[:-2] = listed[2:]
    return listed & ahead1 & ahead2 & np.isfinite(labels)


@dataclass(frozen=True, eq=False)
class MarketData:
    """Preloaded market arrays; see the module docstring for the meaning of each field."""

    sessions: np.ndarray  # datetime64[D], [T], strictly increasing
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]
    features: np.ndarray  # float64 [T, F, N]
    labels: np.ndarray  # float64 [T, N]
    listed: np.ndarray  # bool [T, N]
    available: np.ndarray  # bool [T, N]
    volatility: np.ndarray  # float64 [T, N], finite, 0 where not listed
    vol_window: int = DEFAULT_VOL_WINDOW

    def __post_init__(self) -> None:
        t_len, n = len(self.sessions), len(self.symbols)
        f = len(self.feature_names)
        expect = {
            "features": (t_len, f, n),
            "labels": (t_len, n),
            "listed": (t_len, n),
            "available": (t_len, n),
            "volatility": (t_len, n),
        }
        for name, shape in expect.items():
            arr = getattr(self, name)
            if arr.shape != shape:
                raise ValueError(f"MarketData.{name} has shape {arr.shape}, expected {shape}")
        if t_len > 1 and not np.all(np.diff(self.sessions) > np.timedelta64(0, "D")):
            raise ValueError("MarketData.sessions must be strictly increasing")
        if len(set(self.symbols)) != n:
            raise ValueError("MarketData.symbols has duplicates")
        if np.any(self.available & ~self.listed):
            raise ValueError("an asset is available where it is not listed")
        if not np.all(np.isfinite(self.volatility)):
            raise ValueError("MarketData.volatility must be finite")
        for name in expect:
            getattr(self, name).setflags(write=False)
        self.sessions.setflags(write=False)

    # ------------------------------------------------------------------------------ shape
    @property
    def n_sessions(self) -> int:
        return len(self.sessions)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    # ------------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        sessions: Sequence[DateLike] | np.ndarray,
        symbols: Sequence[str],
        feature_names: Sequence[str],
        features: np.ndarray,
        labels: np.ndarray,
        listed: np.ndarray,
        *,
        vol_source: np.ndarray | None = None,
        vol_window: int = DEFAULT_VOL_WINDOW,
    ) -> MarketData:
        """Build from pivoted arrays; derives ``available`` and ``volatility``.

        ``vol_source`` is the [T, N] ``lr_close`` array; when omitted it is taken from the
        features if ``lr_close`` is among them, else volatility is zero (no slippage).
        """
        sessions = np.asarray([to_day(s) for s in sessions], dtype="datetime64[D]")
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.float64)
        listed = np.asarray(listed, dtype=bool)
        # Infinite log changes (a zero volume or price) carry no usable number: unknown.
        features = np.where(np.isfinite(features), features, np.nan)
        labels = np.where(np.isfinite(labels), labels, np.nan)
        feature_names = tuple(feature_names)
        if vol_source is None and VOL_SOURCE in feature_names:
            vol_source = features[:, feature_names.index(VOL_SOURCE), :]
        if vol_source is None:
            vol = np.zeros(labels.shape)
        else:
            vol = rolling_std(np.where(listed, vol_source, np.nan), vol_window)
        return cls(
            sessions=sessions,
            symbols=tuple(str(s) for s in symbols),
            feature_names=feature_names,
            features=features,
            labels=labels,
            listed=listed,
            available=availability(listed, labels),
            volatility=_fill_volatility(vol, listed),
            vol_window=vol_window,
        )

    @classmethod
    def from_frames(
        cls,
        features_df: pd.DataFrame,
        labels_df: pd.DataFrame,
        feature_names: Sequence[str] | None = None,
        *,
        symbols: Sequence[str] | None = None,
        vol_window: int = DEFAULT_VOL_WINDOW,
    ) -> MarketData:
        """Pivot tidy frames shaped like the warehouse marts into arrays.

        ``features_df``: ``symbol, session, <feature columns>`` (``features.daily_features``);
        ``labels_df``: ``symbol, session, fwd_open_lr`` (``features.forward_returns``). The
        session calendar is the set of sessions in ``features_df``; a row there means the
        symbol is listed that session. ``lr_close`` feeds the volatility even when it is not a
        selected feature.
        """
        if feature_names is None:
            feature_names = [c for c in features_df.columns if c not in ("symbol", "session")]
        feature_names = tuple(feature_names)
        missing = [c for c in feature_names if c not in features_df.columns]
        if missing:
            raise KeyError(f"feature columns not in the frame: {missing}")
        f_sessions = _as_days(features_df["session"])
        sessions = np.unique(f_sessions)
        if symbols is None:
            symbols = sorted(features_df["symbol"].astype(str).unique())
        symbols = tuple(str(s) for s in symbols)
        sym_index = pd.Index(symbols)
        t_len, n, f = len(sessions), len(symbols), len(feature_names)

        ni = sym_index.get_indexer(features_df["symbol"].astype(str))
        keep = ni >= 0
        ti = np.searchsorted(sessions, f_sessions[keep])
        ni = ni[keep]
        if len(np.unique(ti * n + ni)) != len(ti):
            raise ValueError("features frame has duplicate (symbol, session) rows")
        features = np.full((t_len, f, n), np.nan)
        values = _float_block(features_df.loc[keep], feature_names)
        features[ti, :, ni] = values
        listed = np.zeros((t_len, n), dtype=bool)
        listed[ti, ni] = True
        vol_source = None
        if VOL_SOURCE in features_df.columns:
            vol_source = np.full((t_len, n), np.nan)
            vol_source[ti, ni] = _float_block(features_df.loc[keep], [VOL_SOURCE])[:, 0]

        labels = np.full((t_len, n), np.nan)
        l_sessions = _as_days(labels_df["session"])
        lti = pd.Index(sessions).get_indexer(l_sessions)
        lni = sym_index.get_indexer(labels_df["symbol"].astype(str))
        lkeep = (lti >= 0) & (lni >= 0)
        labels[lti[lkeep], lni[lkeep]] = _float_block(labels_df.loc[lkeep], [LABEL])[:, 0]
        return cls.from_arrays(
            sessions,
            symbols,
            feature_names,
            features,
            labels,
            listed,
            vol_source=vol_source,
            vol_window=vol_window,
        )

    @classmethod
    def from_bars(
        cls,
        bars_df: pd.DataFrame,
        feature_names: Sequence[str] | None = None,
        *,
        symbols: Sequence[str] | None = None,
        vol_window: int = DEFAULT_VOL_WINDOW,
    ) -> MarketData:
        """Compute the features and ``fwd_open_lr`` labels from a tidy bars frame in memory.

        ``bars_df``: ``symbol, session, open, high, low, close, volume`` and optionally
        ``source, adjustment, history_version`` (several series per symbol, as raw.bars_daily).
        The features are those of ``features.daily_features`` and the labels those of
        ``features.forward_returns``, computed by their one pandas reference
        (``tradewind.features.reference``), on the session calendar of the frame (the union of
        its sessions): returns within one price series only, NaN where no same-series pair
        exists, so that asset is unavailable for the decision. ``feature_names`` defaults to
        the five ``lr_*``.
        """
        from tradewind.features import reference

        bars = bars_df.copy()
        bars["session"] = pd.to_datetime(bars["session"]).dt.date
        calendar = sorted(set(bars["session"]))
        feats = reference.daily_features(bars, calendar)
        labels = reference.forward_returns(bars, calendar)
        labels = labels[np.isfinite(labels[LABEL])]
        return cls.from_frames(
            feats,
            labels[["symbol", "session", LABEL]],
            feature_names or DEFAULT_FEATURES,
            symbols=symbols,
            vol_window=vol_window,
        )

    @classmethod
    def from_ohlcv(
        cls,
        ohlcv: np.ndarray,
        *,
        sessions: Sequence[DateLike] | np.ndarray | None = None,
        symbols: Sequence[str] | None = None,
        vol_window: int = DEFAULT_VOL_WINDOW,
    ) -> MarketData:
        """Numpy twin of :meth:`from_bars` for a complete [T, N, 5] OHLCV array (synthetic paths:
        one series per symbol). Every symbol with a finite open is listed; features are the
        five ``lr_*``, with the reference's log change and label functions.
        """
        from tradewind.features import reference

        ohlcv = np.asarray(ohlcv, dtype=np.float64)
        t_len, n, _ = ohlcv.shape
        if sessions is None:
            sessions = np.datetime64("2000-01-03", "D") + np.arange(t_len)
        if symbols is None:
            symbols = [f"SYN{i:02d}" for i in range(n)]
        features = reference.log_change(ohlcv, axis=0).transpose(0, 2, 1)  # [T, 5, N]
        labels = reference.forward_open_lr(ohlcv[:, :, 0], axis=0)
        listed = np.isfinite(ohlcv[:, :, 0]) & (ohlcv[:, :, 0] > 0)
        return cls.from_arrays(
            sessions,
            symbols,
            DEFAULT_FEATURES,
            features,
            labels,
            listed,
            vol_window=vol_window,
        )

    # ----------------------------------------------------------------------------- views
    def index_range(self, start: DateLike | None, end: DateLike | None) -> tuple[int, int]:
        """Indices [i0, i1] (inclusive) of the sessions within [start, end]."""
        i0 = 0 if start is None else int(np.searchsorted(self.sessions, to_day(start), "left"))
        i1 = (
            self.n_sessions - 1
            if end is None
            else int(np.searchsorted(self.sessions, to_day(end), "right")) - 1
        )
        if i0 > i1:
            raise ValueError(f"no sessions between {start} and {end}")
        return i0, i1

    def between(
        self, start: DateLike | None, end: DateLike | None, *, warmup: int = 0
    ) -> MarketData:
        """The sessions in [start, end] plus ``warmup`` earlier sessions (for the window).

        Availability and volatility were computed on the full data, so the slice keeps what the
        sessions after ``end`` said about listing.
        """
        i0, i1 = self.index_range(start, end)
        return self._slice(max(0, i0 - warmup), i1 + 1)

    def split(
        self,
        in_sample: tuple[DateLike, DateLike] = IN_SAMPLE,
        out_of_sample: tuple[DateLike, DateLike] = OUT_OF_SAMPLE,
        *,
        warmup: int = 0,
    ) -> tuple[MarketData, MarketData]:
        """(train, test) slices of the default windows, each with ``warmup`` earlier sessions.

        The test slice's warm-up sessions come from the in-sample period: they are the past
        of its first decision, which is what an observation window needs. The last in-sample
        decisions earn rewards over the first out-of-sample opens (their labels), as they
        would live.
        """
        return (
            self.between(*in_sample, warmup=warmup),
            self.between(*out_of_sample, warmup=warmup),
        )

    def select_features(self, names: Sequence[str]) -> MarketData:
        """The same data with only the named features, in that order."""
        idx = [self.feature_names.index(name) for name in names]
        return dataclasses.replace(
            self, feature_names=tuple(names), features=self.features[:, idx, :].copy()
        )

    def select_symbols(self, symbols: Sequence[str]) -> MarketData:
        idx = [self.symbols.index(s) for s in symbols]
        return dataclasses.replace(
            self,
            symbols=tuple(symbols),
            features=self.features[:, :, idx].copy(),
            labels=self.labels[:, idx].copy(),
            listed=self.listed[:, idx].copy(),
            available=self.available[:, idx].copy(),
            volatility=self.volatility[:, idx].copy(),
        )

    def _slice(self, a: int, b: int) -> MarketData:
        return dataclasses.replace(
            self,
            sessions=self.sessions[a:b].copy(),
            features=self.features[a:b].copy(),
            labels=self.labels[a:b].copy(),
            listed=self.listed[a:b].copy(),
            available=self.available[a:b].copy(),
            volatility=self.volatility[a:b].copy(),
        )

    # ---------------------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` file (what remote RLlib env runners load by path)."""
        path = Path(path)
        np.savez_compressed(
            path,
            sessions=self.sessions.astype("datetime64[D]").astype(np.int64),
            symbols=np.asarray(self.symbols),
            feature_names=np.asarray(self.feature_names),
            features=self.features,
            labels=self.labels,
            listed=self.listed,
            available=self.available,
            volatility=self.volatility,
            vol_window=np.asarray(self.vol_window),
        )
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> MarketData:
        with np.load(Path(path), allow_pickle=False) as z:
            return cls(
                sessions=z["sessions"].astype("datetime64[D]"),
                symbols=tuple(str(s) for s in z["symbols"]),
                feature_names=tuple(str(s) for s in z["feature_names"]),
                features=z["features"],
                labels=z["labels"],
                listed=z["listed"],
                available=z["available"],
                volatility=z["volatility"],
                vol_window=int(z["vol_window"]),
            )


def _as_days(col: pd.Series) -> np.ndarray:
    return pd.to_datetime(col).to_numpy().astype("datetime64[D]")


def _float_block(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    # NULLs from the database arrive as None in object columns: coerce them to NaN.
    return np.column_stack(
        [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64) for c in columns]
    ).reshape(len(df), len(columns))


# ------------------------------------------------------------------------------- warehouse
_FEATURES_SQL = """
SELECT symbol, session, {columns}
FROM {table}
WHERE symbol = ANY(%(symbols)s)
  AND session <= %(end)s
  AND session >= COALESCE(
        (SELECT min(w.session) FROM (
            SELECT DISTINCT session FROM {table}
            WHERE session < %(start)s AND symbol = ANY(%(symbols)s)
            ORDER BY session DESC LIMIT %(warmup)s) AS w),
        %(start)s)
ORDER BY session, symbol
"""

_LABELS_SQL = """
SELECT symbol, session, fwd_open_lr
FROM {table}
WHERE symbol = ANY(%(symbols)s) AND session <= %(end)s
  AND session >= %(first)s
ORDER BY session, symbol
"""


def load_market_data(
    conn_or_url: Any,
    symbols: Sequence[str],
    start: DateLike,
    end: DateLike,
    feature_names: Sequence[str] = DEFAULT_FEATURES,
    *,
    warmup_sessions: int = 0,
    schema: str = "features",
    vol_window: int = DEFAULT_VOL_WINDOW,
) -> MarketData:
    """Read ``features.daily_features`` and ``features.forward_returns`` into a MarketData.

    Loads the sessions in [start, end] plus ``warmup_sessions`` earlier ones (observation
    window and volatility warm-up). ``conn_or_url``: an open psycopg connection (left open), a
    URL, or None for the project's warehouse. Two plain SELECTs, one per mart (labels stay in
    their own table); the pivot into [T, F, N] arrays is :meth:`MarketData.from_frames`.
    """
    import psycopg
    from psycopg import sql

    feature_names = tuple(feature_names)
    columns = list(feature_names) + ([VOL_SOURCE] if VOL_SOURCE not in feature_names else [])
    params = {
        "symbols": list(symbols),
        "start": pd.Timestamp(start).date(),
        "end": pd.Timestamp(end).date(),
        "warmup": int(warmup_sessions),
    }
    features_q = sql.SQL(_FEATURES_SQL).format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(schema, "daily_features"),
    )
    labels_q = sql.SQL(_LABELS_SQL).format(table=sql.Identifier(schema, "forward_returns"))

    own = not isinstance(conn_or_url, psycopg.Connection)
    if own:
        from tradewind.db import connect

        conn = connect(conn_or_url)
    else:
        conn = conn_or_url
    try:
        with conn.cursor() as cur:
            cur.execute(features_q, params)
            features_df = pd.DataFrame(cur.fetchall(), columns=["symbol", "session", *columns])
            if features_df.empty:
                raise ValueError(f"no feature rows for {list(symbols)} in {start}..{end}")
            params["first"] = min(features_df["session"])
            cur.execute(labels_q, params)
            labels_df = pd.DataFrame(cur.fetchall(), columns=["symbol", "session", LABEL])
    finally:
        if own:
            conn.close()
    # Every requested symbol keeps its column (a symbol without rows is never listed), so the
    # asset axis matches what an agent was built for.
    return MarketData.from_frames(
        features_df, labels_df, feature_names, symbols=list(symbols), vol_window=vol_window
    )
