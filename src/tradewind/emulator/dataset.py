"""The in-memory market data an emulator serves, and a seeded generator of test datasets.

One ``Dataset`` feeds every emulated API, so the sources agree with each other:
- Alpaca daily bars: one row per (symbol, NYSE session), raw (unadjusted) prices;
- Alpaca minute bars: regular-session minutes (09:30-16:00 ET, UTC timestamps = bar open time);
- corporate actions (ex-date, cash dividend per share, split ratio new/old), used for Alpaca's
  ``adjustment`` parameter and for the WIKI ``ex-dividend``/``split_ratio``/``adj_*`` columns;
- WIKI/PRICES rows: given explicitly, or derived from the daily bars and the actions.

The query functions here are pure (no I/O); the HTTP layer pages through their results, and tests
call the same functions to know exactly what the emulator serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tradewind.emulator.timeparse import parse_bound

NY = "America/New_York"
NS_PER_MIN = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000

DAILY_COLUMNS = [
    "symbol",
    "session",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trade_count",
    "vwap",
]
MINUTE_COLUMNS = [
    "symbol",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trade_count",
    "vwap",
]
ACTION_COLUMNS = ["symbol", "ex_date", "dividend", "split_ratio"]
# Order and types exactly as a recorded real WIKI/PRICES response (note the hyphen in ex-dividend).
WIKI_COLUMN_TYPES: dict[str, str] = {
    "ticker": "String",
    "date": "Date",
    "open": "BigDecimal(34,12)",
    "high": "BigDecimal(34,12)",
    "low": "BigDecimal(34,12)",
    "close": "BigDecimal(34,12)",
    "volume": "BigDecimal(37,15)",
    "ex-dividend": "BigDecimal(42,20)",
    "split_ratio": "double",
    "adj_open": "BigDecimal(50,28)",
    "adj_high": "BigDecimal(50,28)",
    "adj_low": "BigDecimal(50,28)",
    "adj_close": "BigDecimal(50,28)",
    "adj_volume": "double",
}
WIKI_COLUMNS = list(WIKI_COLUMN_TYPES)
BAR_FRAME_COLUMNS = [
    "symbol",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trade_count",
    "vwap",
]

ADJUSTMENTS = frozenset({"raw", "split", "dividend", "spin-off", "all"})


@lru_cache(maxsize=1)
def nyse_calendar() -> Any:
    """XNYS sessions 1990-2030 (the library default starts only 20 years back)."""
    import exchange_calendars as xc

    return xc.get_calendar("XNYS", start="1990-01-01", end="2030-12-31")


def nyse_sessions(start: Any, end: Any) -> pd.DatetimeIndex:
    """NYSE session dates in [start, end], naive midnight timestamps."""
    cal = nyse_calendar()
    return cal.sessions_in_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize())


def ny_midnight_ns(days: np.ndarray) -> np.ndarray:
    """Epoch days -> UTC nanoseconds of midnight America/New_York on that date.

    Alpaca stamps daily bars this way (04:00Z in EDT, 05:00Z in EST)."""
    if len(days) == 0:
        return np.empty(0, dtype=np.int64)
    idx = pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
    return idx.tz_localize(NY).tz_convert("UTC").asi8.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Timeframes and adjustments (the parameter grammar of Alpaca market data v2)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeframe:
    amount: int
    unit: str  # "Min", "Hour", "Day", "Week", "Month"

    _RE = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
    _UNITS = {"T": "Min", "H": "Hour", "D": "Day", "W": "Week", "M": "Month"}
    # Upper bounds from the API docs: 59Min, 23Hour, 1Day, 1Week, 12Month.
    _ALLOWED = {
        "Min": range(1, 60),
        "Hour": range(1, 24),
        "Day": (1,),
        "Week": (1,),
        "Month": (1, 2, 3, 4, 6, 12),
    }

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        m = cls._RE.match(text or "")
        if not m:
            raise ValueError(f"invalid timeframe: {text!r}")
        unit = cls._UNITS.get(m.group(2), m.group(2))
        amount = int(m.group(1))
        if amount not in cls._ALLOWED[unit]:
            raise ValueError(f"invalid timeframe: {text!r}")
        return cls(amount, unit)

    @property
    def intraday(self) -> bool:
        return self.unit in ("Min", "Hour")

    @property
    def code(self) -> str:
        return {"Min": "M", "Hour": "H", "Day": "D", "Week": "W", "Month": "MO"}[self.unit]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_adjustment(text: str | None) -> frozenset[str]:
    """``raw``/``split``/``dividend``/``spin-off``/``all``, comma-combinable -> set of effects."""
    parts = [p.strip() for p in (text or "raw").split(",") if p.strip()]
    if not parts or any(p not in ADJUSTMENTS for p in parts):
        raise ValueError(f"invalid adjustment: {text!r}")
    effects: set[str] = set()
    for p in parts:
        if p == "all":
            effects |= {"split", "dividend", "spin-off"}
        elif p != "raw":
            effects.add(p)
    return frozenset(effects)


# --------------------------------------------------------------------------------------------
# Query results
# --------------------------------------------------------------------------------------------


@dataclass
class BarArrays:
    """Bars sorted by symbol, then time; ``day`` is the NY session date (epoch days) of each bar."""

    symbol: np.ndarray  # object
    t: np.ndarray  # int64 UTC ns, bar open time
    day: np.ndarray  # int64 epoch days
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray
    v: np.ndarray  # int64
    n: np.ndarray  # int64
    vw: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def empty(cls) -> BarArrays:
        f = np.empty(0, dtype=np.float64)
        i = np.empty(0, dtype=np.int64)
        return cls(np.empty(0, dtype=object), i, i, f, f, f, f, i, i, f)

    @classmethod
    def concat(cls, parts: Sequence[BarArrays]) -> BarArrays:
        if not parts:
            return cls.empty()
        fields = ("symbol", "t", "day", "o", "h", "lo", "c", "v", "n", "vw")
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))

    def take(self, idx: Any) -> BarArrays:
        fields = ("symbol", "t", "day", "o", "h", "lo", "c", "v", "n", "vw")
        return BarArrays(*(getattr(self, f)[idx] for f in fields))

    def to_frame(self) -> pd.DataFrame:
        """The shape of ``BarSet.df.reset_index()`` in alpaca-py (UTC timestamps)."""
        return pd.DataFrame(
            {
                "symbol": self.symbol.astype(object),
                "timestamp": pd.to_datetime(self.t, utc=True),
                "open": self.o,
                "high": self.h,
                "low": self.lo,
                "close": self.c,
                "volume": self.v.astype(np.int64),
                "trade_count": self.n.astype(np.int64),
                "vwap": self.vw,
            },
            columns=BAR_FRAME_COLUMNS,
        )


@dataclass
class _SymbolData:
    days: np.ndarray  # sessions, epoch days, ascending
    t: np.ndarray  # midnight NY in UTC ns
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray
    v: np.ndarray
    n: np.ndarray
    vw: np.ndarray
    m_t: np.ndarray  # minute bars
    m_day: np.ndarray
    m_o: np.ndarray
    m_h: np.ndarray
    m_lo: np.ndarray
    m_c: np.ndarray
    m_v: np.ndarray
    m_n: np.ndarray
    m_vw: np.ndarray
    a_day: np.ndarray  # actions, ascending ex-date
    a_split: np.ndarray  # new shares per old share; 1.0 = no split
    a_div: np.ndarray  # cash per share (raw basis), 0.0 = none
    a_prev_close: np.ndarray  # raw close of the session before the ex-date; NaN if unknown


def _suffix_factor(a_day: np.ndarray, per_action: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Product of ``per_action`` over the actions whose ex-date is after each day.

    Backward adjustment: the latest prices stay as traded, earlier ones are scaled."""
    if len(a_day) == 0:
        return np.ones(len(days))
    suffix = np.append(np.cumprod(per_action[::-1])[::-1], 1.0)
    return suffix[np.searchsorted(a_day, days, side="right")]


def _factors(sd: _SymbolData, days: np.ndarray, effects: frozenset[str]):
    """Price and volume multipliers per bar day for the requested adjustment effects."""
    price_per = np.ones(len(sd.a_day))
    vol_per = np.ones(len(sd.a_day))
    if "split" in effects:
        price_per = price_per / sd.a_split
        vol_per = vol_per * sd.a_split
    if "dividend" in effects:
        with np.errstate(divide="ignore", invalid="ignore"):
            div_f = 1.0 - sd.a_div / sd.a_prev_close
        price_per = price_per * np.where(np.isfinite(div_f) & (sd.a_div != 0), div_f, 1.0)
    return _suffix_factor(sd.a_day, price_per, days), _suffix_factor(sd.a_day, vol_per, days)


def _adjust(arrs: tuple, pf: np.ndarray, vf: np.ndarray) -> tuple:
    """Apply factors; adjusted prices are rounded to 4 dp like the real feed, raw ones untouched."""
    o, h, lo, c, v, n, vw = arrs
    if np.all(pf == 1.0) and np.all(vf == 1.0):
        return arrs
    changed = pf != 1.0

    def px(x: np.ndarray) -> np.ndarray:
        return np.where(changed, np.round(x * pf, 4), x)

    v2 = np.where(vf != 1.0, np.rint(v * vf), v).astype(np.int64)
    return px(o), px(h), px(lo), px(c), v2, n, px(vw)


def _aggregate(keys: np.ndarray, t: np.ndarray, day: np.ndarray, arrs: tuple):
    """OHLCV aggregation of consecutive rows sharing a key (rows sorted by time)."""
    o, h, lo, c, v, n, vw = arrs
    if len(keys) == 0:
        return t, day, arrs
    starts = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1])
    ends = np.append(starts[1:], len(keys))
    vs = np.add.reduceat(v, starts)
    pv = np.add.reduceat(vw * v, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = np.where(vs > 0, np.round(pv / np.where(vs > 0, vs, 1), 6), vw[starts])
    return (
        t[starts],
        day[starts],
        (
            o[starts],
            np.maximum.reduceat(h, starts),
            np.minimum.reduceat(lo, starts),
            c[ends - 1],
            vs.astype(np.int64),
            np.add.reduceat(n, starts).astype(np.int64),
            vwap,
        ),
    )


def _to_days(values: Any) -> np.ndarray:
    return pd.DatetimeIndex(values).values.astype("datetime64[D]").astype(np.int64)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


class Dataset:
    """Market data held in memory (pandas frames), with per-symbol numpy indexes for queries.

    Frames (all sorted; treat the object as immutable and build a new one to change data):
    - ``daily``: ``symbol, session`` (naive datetime64 date), ``open, high, low, close`` (float),
      ``volume, trade_count`` (int64), ``vwap`` (float). Raw prices.
    - ``minute``: ``symbol, timestamp`` (tz-aware UTC, bar open time) + the same value columns.
    - ``actions``: ``symbol, ex_date, dividend, split_ratio`` (split_ratio = new/old shares).
    - ``wiki``: WIKI/PRICES rows with the 14 columns of ``WIKI_COLUMNS``.
    - ``assets``: ``symbol -> {"name", "exchange", "fractionable", ...}`` for the trading API.
    """

    def __init__(
        self,
        daily: pd.DataFrame,
        minute: pd.DataFrame | None = None,
        actions: pd.DataFrame | None = None,
        wiki: pd.DataFrame | None = None,
        assets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.daily = _normalize_daily(daily)
        self.minute = _normalize_minute(minute)
        self.actions = _normalize_actions(actions)
        self._wiki_given = _normalize_wiki(wiki) if wiki is not None else None
        self._wiki_cache: pd.DataFrame | None = None
        syms = set(self.daily["symbol"]) | set(self.minute["symbol"])
        if self._wiki_given is not None:
            syms |= set(self._wiki_given["ticker"])
        self.symbols: list[str] = sorted(syms)
        self.assets: dict[str, dict[str, Any]] = {
            s: {
                "name": f"{s} Emulated Inc. Common Stock",
                "exchange": "NASDAQ",
                "fractionable": True,
                **dict((assets or {}).get(s, {})),
            }
            for s in self.symbols
        }
        self._index = {s: self._build(s) for s in self.symbols}

    # ---- constructors -------------------------------------------------------------------------

    @classmethod
    def from_daily(
        cls,
        df: pd.DataFrame,
        *,
        symbol: str | None = None,
        minute: pd.DataFrame | None = None,
        actions: pd.DataFrame | None = None,
        assets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Dataset:
        """Load user-given daily bars with forgiving column names (``Date``/``date``/``session``,
        ``Open``..., ``Volume``; a Yahoo-style CSV frame works). ``symbol`` names a one-symbol
        frame. Missing ``trade_count``/``vwap`` are derived: vwap = (h+l+c)/3 (4 dp),
        trade_count = max(1, volume // 100)."""
        return cls(
            _coerce_daily(df, symbol), minute=minute, actions=actions, assets=assets, wiki=None
        )

    @classmethod
    def from_wiki(cls, wiki: pd.DataFrame, **kwargs: Any) -> Dataset:
        """Serve given WIKI/PRICES rows as they are, and derive Alpaca daily bars (raw prices)
        and the corporate actions from them."""
        w = _normalize_wiki(wiki)
        daily = pd.DataFrame(
            {
                "symbol": w["ticker"],
                "session": pd.to_datetime(w["date"]),
                "open": w["open"],
                "high": w["high"],
                "low": w["low"],
                "close": w["close"],
                "volume": w["volume"],
            }
        )
        acts = w[(w["ex-dividend"].fillna(0) != 0) | (w["split_ratio"].fillna(1) != 1)]
        actions = pd.DataFrame(
            {
                "symbol": acts["ticker"],
                "ex_date": pd.to_datetime(acts["date"]),
                "dividend": acts["ex-dividend"].fillna(0.0),
                "split_ratio": acts["split_ratio"].fillna(1.0),
            }
        )
        return cls(_coerce_daily(daily, None), actions=actions, wiki=w, **kwargs)

    # ---- indexes ----------------------------------------------------------------------------

    def _build(self, sym: str) -> _SymbolData:
        d = self.daily[self.daily["symbol"] == sym]
        m = self.minute[self.minute["symbol"] == sym]
        a = self.actions[self.actions["symbol"] == sym]
        days = _to_days(d["session"])
        m_ts = m["timestamp"]
        m_days = (
            _to_days(m_ts.dt.tz_convert(NY).dt.tz_localize(None).dt.normalize())
            if len(m)
            else np.empty(0, dtype=np.int64)
        )
        a_day = _to_days(a["ex_date"])
        closes = d["close"].to_numpy(np.float64)
        pos = np.searchsorted(days, a_day, side="left") - 1
        prev_close = np.where(pos >= 0, closes[np.clip(pos, 0, None)] if len(closes) else 0, np.nan)

        def f(frame: pd.DataFrame, col: str) -> np.ndarray:
            return frame[col].to_numpy(np.float64)

        def i(frame: pd.DataFrame, col: str) -> np.ndarray:
            return frame[col].to_numpy(np.int64)

        return _SymbolData(
            days=days,
            t=ny_midnight_ns(days),
            o=f(d, "open"),
            h=f(d, "high"),
            lo=f(d, "low"),
            c=closes,
            v=i(d, "volume"),
            n=i(d, "trade_count"),
            vw=f(d, "vwap"),
            m_t=pd.DatetimeIndex(m_ts).asi8.astype(np.int64) if len(m) else np.empty(0, np.int64),
            m_day=m_days,
            m_o=f(m, "open"),
            m_h=f(m, "high"),
            m_lo=f(m, "low"),
            m_c=f(m, "close"),
            m_v=i(m, "volume"),
            m_n=i(m, "trade_count"),
            m_vw=f(m, "vwap"),
            a_day=a_day,
            a_split=f(a, "split_ratio"),
            a_div=f(a, "dividend"),
            a_prev_close=np.asarray(prev_close, dtype=np.float64),
        )

    # ---- queries ----------------------------------------------------------------------------

    def select_bars(
        self,
        symbols: Iterable[str],
        timeframe: Timeframe | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        adjustment: frozenset[str] | str = frozenset(),
        descending: bool = False,
    ) -> BarArrays:
        """All bars the API would return for the query, in response order (symbol, then time).

        start/end bound the underlying bars' open times (inclusive, UTC ns) before aggregation."""
        tf = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
        effects = parse_adjustment(adjustment) if isinstance(adjustment, str) else adjustment
        lo_ns = -(2**62) if start_ns is None else int(start_ns)
        hi_ns = 2**62 if end_ns is None else int(end_ns)
        parts = []
        for sym in sorted(set(symbols)):
            sd = self._index.get(sym)
            if sd is None:
                continue
            if tf.intraday:
                t_all, day_all = sd.m_t, sd.m_day
                arrs_all = (sd.m_o, sd.m_h, sd.m_lo, sd.m_c, sd.m_v, sd.m_n, sd.m_vw)
            else:
                t_all, day_all = sd.t, sd.days
                arrs_all = (sd.o, sd.h, sd.lo, sd.c, sd.v, sd.n, sd.vw)
            a, b = np.searchsorted(t_all, lo_ns, "left"), np.searchsorted(t_all, hi_ns, "right")
            if b <= a:
                continue
            t, day = t_all[a:b], day_all[a:b]
            arrs = tuple(x[a:b] for x in arrs_all)
            if effects:
                pf, vf = _factors(sd, day, effects)
                arrs = _adjust(arrs, pf, vf)
            if (tf.unit == "Min" and tf.amount > 1) or tf.unit == "Hour":
                width = tf.amount * NS_PER_MIN * (60 if tf.unit == "Hour" else 1)
                keys = t // width  # buckets aligned on UTC multiples of the width
                t, day, arrs = _aggregate(keys, keys * width, day, arrs)
            elif tf.unit == "Week":
                iso = pd.DatetimeIndex(day.astype("datetime64[D]")).isocalendar()
                keys = iso["year"].to_numpy(np.int64) * 100 + iso["week"].to_numpy(np.int64)
                _, day, arrs = _aggregate(keys, t, day, arrs)
                t = ny_midnight_ns(day)
            elif tf.unit == "Month":
                dt = pd.DatetimeIndex(day.astype("datetime64[D]"))
                keys = ((dt.year * 12 + dt.month - 1) // tf.amount).to_numpy(np.int64)
                _, day, arrs = _aggregate(keys, t, day, arrs)
                t = ny_midnight_ns(day)
            part = BarArrays(np.full(len(t), sym, dtype=object), t, day, *arrs)
            if descending:
                part = part.take(slice(None, None, -1))
            parts.append(part)
        return BarArrays.concat(parts)

    def bars(
        self,
        symbols: Iterable[str] | None = None,
        timeframe: str = "1Day",
        start: Any = None,
        end: Any = None,
        adjustment: str = "raw",
    ) -> pd.DataFrame:
        """Exactly the bars the emulator serves, as alpaca-py's ``BarSet.df.reset_index()``.

        ``start``/``end`` are timestamps (naive = UTC) or dates; a date ``end`` includes that
        whole New York day, as the emulator interprets ``YYYY-MM-DD`` query values."""
        s = None if start is None else parse_bound(_bound_text(start), is_end=False)
        e = None if end is None else parse_bound(_bound_text(end), is_end=True)
        return self.select_bars(symbols or self.symbols, timeframe, s, e, adjustment).to_frame()

    def restated(
        self, symbol: str, ex_date: Any, *, split_ratio: float = 1.0, dividend: float = 0.0
    ) -> Dataset:
        """A new dataset in which ``symbol`` has one more corporate action on ``ex_date``: the
        vendor's history as it reads after the event (issue 9: restatements).

        A split of ``split_ratio`` new shares per old one divides the raw prices (4 dp) of
        the bars on and after the ex-date and multiplies their volume, as the trading itself
        would show; a ``dividend`` (cash per share) leaves raw bars alone. Either way every
        adjusted (``split``/``dividend``/``all``) price before the ex-date changes, which is
        what an incremental pull must notice. WIKI rows given explicitly are not rewritten."""
        if symbol not in self._index:
            raise ValueError(f"unknown symbol {symbol!r}")
        if not split_ratio > 0 or dividend < 0 or (split_ratio == 1.0 and dividend == 0.0):
            raise ValueError("restate needs split_ratio > 0 (not 1) and/or dividend > 0")
        if self._wiki_given is not None:
            raise ValueError("a dataset built from WIKI rows cannot be restated")
        day = pd.Timestamp(_iso_date(ex_date))

        def rescale(frame: pd.DataFrame, after: pd.Series) -> pd.DataFrame:
            out = frame.copy()
            hit = (out["symbol"] == symbol) & after
            if split_ratio != 1.0:
                for c in ("open", "high", "low", "close", "vwap"):
                    out.loc[hit, c] = np.round(out.loc[hit, c] / split_ratio, 4)
                out.loc[hit, "volume"] = np.rint(out.loc[hit, "volume"] * split_ratio)
            return out

        daily = rescale(self.daily, self.daily["session"] >= day)
        m_day = self.minute["timestamp"].dt.tz_convert(NY).dt.tz_localize(None).dt.normalize()
        minute = rescale(self.minute, m_day >= day)
        action = pd.DataFrame(
            {"symbol": [symbol], "ex_date": [day], "dividend": [float(dividend)],
             "split_ratio": [float(split_ratio)]}
        )  # fmt: skip
        actions = pd.concat([self.actions, action], ignore_index=True)
        return Dataset(daily, minute=minute, actions=actions, assets=self.assets)

    @property
    def wiki(self) -> pd.DataFrame:
        if self._wiki_given is not None:
            return self._wiki_given
        if self._wiki_cache is None:
            self._wiki_cache = self._derive_wiki()
        return self._wiki_cache

    def _derive_wiki(self) -> pd.DataFrame:
        frames = []
        for sym in self.symbols:
            sd = self._index[sym]
            if len(sd.days) == 0:
                continue
            pf, vf = _factors(sd, sd.days, frozenset({"split", "dividend"}))
            exdiv = np.zeros(len(sd.days))
            split = np.ones(len(sd.days))
            if len(sd.a_day):
                pos = np.clip(np.searchsorted(sd.a_day, sd.days), 0, len(sd.a_day) - 1)
                hit = sd.a_day[pos] == sd.days
                exdiv = np.where(hit, sd.a_div[pos], 0.0)
                split = np.where(hit, sd.a_split[pos], 1.0)
            vol = sd.v.astype(np.float64)
            frames.append(
                pd.DataFrame(
                    {
                        "ticker": sym,
                        "date": pd.DatetimeIndex(sd.days.astype("datetime64[D]")).strftime(
                            "%Y-%m-%d"
                        ),
                        "open": sd.o,
                        "high": sd.h,
                        "low": sd.lo,
                        "close": sd.c,
                        "volume": vol,
                        "ex-dividend": exdiv.astype(np.float64),
                        "split_ratio": split.astype(np.float64),
                        "adj_open": sd.o * pf,
                        "adj_high": sd.h * pf,
                        "adj_low": sd.lo * pf,
                        "adj_close": sd.c * pf,
                        "adj_volume": vol * vf,
                    }
                )
            )
        if not frames:
            return pd.DataFrame({c: [] for c in WIKI_COLUMNS})
        return pd.concat(frames, ignore_index=True)[WIKI_COLUMNS]

    def wiki_rows(
        self,
        tickers: Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """WIKI rows as served (ticker, then date), dates inclusive, ``date`` as ISO strings."""
        w = self.wiki
        mask = np.ones(len(w), dtype=bool)
        if tickers is not None:
            mask &= w["ticker"].isin(list(tickers)).to_numpy()
        if start is not None:
            mask &= (w["date"] >= _iso_date(start)).to_numpy()
        if end is not None:
            mask &= (w["date"] <= _iso_date(end)).to_numpy()
        out = w[mask]
        return out[list(columns) if columns else WIKI_COLUMNS].reset_index(drop=True)

    # ---- prices for the simulated broker ----------------------------------------------------

    def price_at(self, symbol: str, ts_ns: int) -> tuple[float, float | None] | None:
        """(latest price known at ts, previous session close) from daily bars, no lookahead:
        a session's open becomes known at 09:30 ET, its close at 16:00 ET."""
        sd = self._index.get(symbol)
        if sd is None or len(sd.days) == 0:
            return None
        cal = nyse_calendar()
        sched = _schedule_ns(cal, sd.days)
        opens, closes = sched
        i_close = np.searchsorted(closes, ts_ns, side="right") - 1
        i_open = np.searchsorted(opens, ts_ns, side="right") - 1
        if i_open < 0:
            return None
        if i_close >= i_open:
            return float(sd.c[i_close]), float(sd.c[i_close - 1]) if i_close > 0 else None
        return float(sd.o[i_open]), float(sd.c[i_open - 1]) if i_open > 0 else None

    def open_on_or_after(self, symbol: str, ts_ns: int) -> tuple[int, float] | None:
        """(open time ns, open price) of the first session of ``symbol`` opening at/after ts."""
        sd = self._index.get(symbol)
        if sd is None or len(sd.days) == 0:
            return None
        opens, _ = _schedule_ns(nyse_calendar(), sd.days)
        i = np.searchsorted(opens, ts_ns, side="left")
        if i >= len(opens):
            return None
        return int(opens[i]), float(sd.o[i])

    def session_open(self, symbol: str, session: Any) -> tuple[int, float] | None:
        sd = self._index.get(symbol)
        if sd is None:
            return None
        day = int(_to_days([pd.Timestamp(session)])[0])
        i = np.searchsorted(sd.days, day)
        if i >= len(sd.days) or sd.days[i] != day:
            return None
        opens, _ = _schedule_ns(nyse_calendar(), sd.days[i : i + 1])
        return int(opens[0]), float(sd.o[i])


def _schedule_ns(cal: Any, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Open/close UTC ns of the given sessions; days not in the XNYS calendar get 09:30/16:00 ET."""
    idx = pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
    sched = cal.schedule.reindex(idx)
    default_open = (idx + pd.Timedelta(hours=9, minutes=30)).tz_localize(NY).tz_convert("UTC")
    default_close = (idx + pd.Timedelta(hours=16)).tz_localize(NY).tz_convert("UTC")
    opens = sched["open"].fillna(pd.Series(default_open, index=idx))
    closes = sched["close"].fillna(pd.Series(default_close, index=idx))
    return (
        pd.DatetimeIndex(opens).asi8.astype(np.int64),
        pd.DatetimeIndex(closes).asi8.astype(np.int64),
    )


def _iso_date(x: Any) -> str:
    return pd.Timestamp(x).strftime("%Y-%m-%d")


def _bound_text(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, datetime | pd.Timestamp):
        ts = pd.Timestamp(x)
        if ts.tzinfo is None:
            ts = ts.tz_localize("UTC")
        return ts.isoformat()
    if isinstance(x, date):
        return x.isoformat()
    raise TypeError(f"unsupported bound {x!r}")


# --------------------------------------------------------------------------------------------
# Normalisation of frames
# --------------------------------------------------------------------------------------------


def _cast_bar_values(out: pd.DataFrame) -> None:
    """Prices and vwap as float64; volume and trade count as whole numbers (int64), in place."""
    for c in ("open", "high", "low", "close", "vwap"):
        out[c] = out[c].astype(np.float64)
    for c in ("volume", "trade_count"):
        out[c] = np.rint(out[c].astype(np.float64)).astype(np.int64)


def _normalize_daily(df: pd.DataFrame) -> pd.DataFrame:
    missing = set(DAILY_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"daily frame lacks columns {sorted(missing)}")
    out = df[DAILY_COLUMNS].copy()
    out["symbol"] = out["symbol"].astype(str)
    out["session"] = pd.to_datetime(out["session"]).dt.tz_localize(None).dt.normalize()
    _cast_bar_values(out)
    if out.duplicated(["symbol", "session"]).any():
        raise ValueError("daily frame has duplicate (symbol, session) rows")
    return out.sort_values(["symbol", "session"], kind="stable").reset_index(drop=True)


def _normalize_minute(df: pd.DataFrame | None) -> pd.DataFrame:
    if df is None:
        df = pd.DataFrame({c: [] for c in MINUTE_COLUMNS})
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    missing = set(MINUTE_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"minute frame lacks columns {sorted(missing)}")
    out = df[MINUTE_COLUMNS].copy()
    out["symbol"] = out["symbol"].astype(str)
    ts = pd.to_datetime(out["timestamp"])
    out["timestamp"] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    _cast_bar_values(out)
    if out.duplicated(["symbol", "timestamp"]).any():
        raise ValueError("minute frame has duplicate (symbol, timestamp) rows")
    return out.sort_values(["symbol", "timestamp"], kind="stable").reset_index(drop=True)


def _normalize_actions(df: pd.DataFrame | None) -> pd.DataFrame:
    if df is None or len(df) == 0:
        return pd.DataFrame(
            {
                "symbol": pd.Series([], dtype=object),
                "ex_date": pd.Series([], dtype="datetime64[ns]"),
                "dividend": pd.Series([], dtype=np.float64),
                "split_ratio": pd.Series([], dtype=np.float64),
            }
        )
    out = df.copy()
    if "dividend" not in out:
        out["dividend"] = 0.0
    if "split_ratio" not in out:
        out["split_ratio"] = 1.0
    out = out[ACTION_COLUMNS]
    out["ex_date"] = pd.to_datetime(out["ex_date"]).dt.tz_localize(None).dt.normalize()
    out["dividend"] = out["dividend"].astype(np.float64).fillna(0.0)
    out["split_ratio"] = out["split_ratio"].astype(np.float64).fillna(1.0)
    # One row per (symbol, ex-date): a split and a dividend on the same day are combined.
    out = out.groupby(["symbol", "ex_date"], as_index=False).agg(
        dividend=("dividend", "sum"), split_ratio=("split_ratio", "prod")
    )
    return out.sort_values(["symbol", "ex_date"]).reset_index(drop=True)


def _normalize_wiki(df: pd.DataFrame) -> pd.DataFrame:
    missing = set(WIKI_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"WIKI frame lacks columns {sorted(missing)}")
    out = df[WIKI_COLUMNS].copy()
    out["ticker"] = out["ticker"].astype(str)
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    for c in WIKI_COLUMNS[2:]:
        out[c] = out[c].astype(np.float64)
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


_ALIASES = {
    "symbol": ("symbol", "ticker", "sym"),
    "session": ("session", "date", "day", "timestamp", "time"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
    "trade_count": ("trade_count", "n", "trades"),
    "vwap": ("vwap", "vw"),
}


def _coerce_daily(df: pd.DataFrame, symbol: str | None) -> pd.DataFrame:
    lower = {str(c).strip().lower(): c for c in df.columns}
    frame = df.reset_index() if lower.keys().isdisjoint(_ALIASES["session"]) else df
    lower = {str(c).strip().lower(): c for c in frame.columns}
    out = pd.DataFrame(index=frame.index)
    for target, names in _ALIASES.items():
        src = next((lower[n] for n in names if n in lower), None)
        if src is not None:
            out[target] = frame[src].to_numpy()
    if "symbol" not in out:
        if symbol is None:
            raise ValueError("daily frame has no symbol column: pass symbol=")
        out["symbol"] = symbol
    for req in ("session", "open", "high", "low", "close", "volume"):
        if req not in out:
            raise ValueError(f"daily frame lacks a {req!r} column")
    if "vwap" not in out:
        out["vwap"] = np.round((out["high"] + out["low"] + out["close"]) / 3.0, 4)
    if "trade_count" not in out:
        out["trade_count"] = np.maximum(1, out["volume"].astype(np.float64) // 100)
    return out[DAILY_COLUMNS]


# --------------------------------------------------------------------------------------------
# Seeded generator
# --------------------------------------------------------------------------------------------


def _simulate_daily(rng: np.random.Generator, n: int, p0: float, sigma: float) -> dict:
    """Economic (split-free) OHLCV path: GBM closes, gapped opens, highs/lows around them.

    Prices in dollars rounded to cents; volume in shares; trade_count ~ volume / 150."""
    rets = rng.normal(0.0003, sigma, n)
    gaps = rng.normal(0.0, sigma / 3.0, n)
    close = p0 * np.exp(np.cumsum(rets))
    prev = np.concatenate([[p0], close[:-1]])
    open_ = prev * np.exp(gaps)
    top = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0, sigma / 2.0, n)))
    bot = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0, sigma / 2.0, n)))
    o, c = np.round(open_, 2), np.round(close, 2)
    h = np.maximum(np.round(top, 2), np.maximum(o, c))
    lo = np.minimum(np.round(bot, 2), np.minimum(o, c))
    vol = np.rint(rng.lognormal(np.log(5e6), 0.4, n)).astype(np.int64)
    trades = np.maximum(1, vol // rng.integers(120, 180, n)).astype(np.int64)
    w = rng.uniform(0.2, 0.8, n)
    vw = np.round(np.clip((o + c) / 2 * w + (h + lo) / 2 * (1 - w), lo, h), 4)
    return {
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": vol,
        "trade_count": trades,
        "vwap": vw,
    }


def _simulate_minutes(
    rng: np.random.Generator, o: float, c: float, n_min: int, volume: int
) -> dict:
    """Brownian bridge from the session open to its close over n_min one-minute bars."""
    steps = rng.normal(0.0, 0.0008, n_min)
    path = np.cumsum(steps)
    path = path - np.linspace(0.0, 1.0, n_min) * (path[-1] - np.log(c / o))
    closes = o * np.exp(path)
    closes[-1] = c
    opens = np.concatenate([[o], closes[:-1]])
    jig = np.abs(rng.normal(0.0, 0.0004, (2, n_min)))
    mo, mc = np.round(opens, 4), np.round(closes, 4)
    mh = np.maximum(np.round(np.maximum(opens, closes) * (1 + jig[0]), 4), np.maximum(mo, mc))
    ml = np.minimum(np.round(np.minimum(opens, closes) * (1 - jig[1]), 4), np.minimum(mo, mc))
    # U-shaped intraday volume profile (heavy at the open and the close).
    x = np.linspace(-1.0, 1.0, n_min)
    weights = (1.0 + 2.0 * x**2) * rng.uniform(0.5, 1.5, n_min)
    mv = np.maximum(1, np.rint(volume * weights / weights.sum())).astype(np.int64)
    mn = np.maximum(1, mv // rng.integers(80, 160, n_min)).astype(np.int64)
    mvw = np.round(np.clip((mo + mc + mh + ml) / 4.0, ml, mh), 4)
    return {
        "open": mo,
        "high": mh,
        "low": ml,
        "close": mc,
        "volume": mv,
        "trade_count": mn,
        "vwap": mvw,
    }


def make_dataset(
    symbols: Sequence[str] = ("AAPL", "MSFT"),
    start: Any = "2015-01-02",
    end: Any = "2015-03-31",
    seed: int = 0,
    minute: bool = True,
    minute_sessions: int | Sequence[Any] = 2,
    minute_gap_prob: float = 0.01,
    actions: bool = True,
) -> Dataset:
    """A deterministic dataset over the NYSE sessions in [start, end].

    - Daily bars for every symbol and session (GBM, seeded per symbol from ``seed``).
    - Minute bars (regular hours only, early closes respected) for the last ``minute_sessions``
      sessions, or for the listed dates; ``minute_gap_prob`` drops random minutes (never the first
      or last) because minutes without trades have no bar. On those sessions the daily bar is the
      aggregate of its minutes, so daily and minute data agree.
    - With ``actions``: a quarterly cash dividend for every symbol, and a 2:1 split of the first
      symbol at the middle of the range (when the range has at least 20 sessions). Raw prices and
      volumes reflect the split; ``adjustment=split|all`` and the WIKI adj_* columns undo it.
    """
    sessions = nyse_sessions(start, end)
    if len(sessions) == 0:
        raise ValueError(f"no NYSE sessions between {start} and {end}")
    n = len(sessions)
    cal = nyse_calendar()
    if isinstance(minute_sessions, int):
        m_sessions = list(sessions[max(0, n - minute_sessions) :]) if minute else []
    else:
        m_sessions = [pd.Timestamp(s).normalize() for s in minute_sessions] if minute else []
    m_set = set(m_sessions)

    daily_frames, minute_frames, action_rows = [], [], []
    for k, sym in enumerate(symbols):
        rng = np.random.default_rng([seed, k])
        p0 = float(rng.uniform(20.0, 300.0))
        d = _simulate_daily(rng, n, p0, float(rng.uniform(0.01, 0.025)))
        split_factor = np.ones(n)  # raw = economic / factor, factor = shares per original share
        if actions:
            first_div = int(rng.integers(5, 40))
            for i in range(first_div, n, 63):
                amount = round(float(d["close"][i - 1]) * 0.004, 2)
                action_rows.append((sym, sessions[i], max(amount, 0.01), 1.0))
            if k == 0 and n >= 20:
                i = n // 2
                action_rows.append((sym, sessions[i], 0.0, 2.0))
                split_factor[i:] = 2.0
        for col in ("open", "high", "low", "close", "vwap"):
            d[col] = np.round(d[col] / split_factor, 4)
        d["volume"] = (d["volume"] * split_factor).astype(np.int64)
        frame = pd.DataFrame({"symbol": sym, "session": sessions, **d})
        mins = []
        for j, s in enumerate(sessions):
            if s not in m_set:
                continue
            open_ts, close_ts = cal.session_open(s), cal.session_close(s)
            n_min = int((close_ts - open_ts) / pd.Timedelta(minutes=1))
            mm = _simulate_minutes(
                rng,
                float(frame.at[j, "open"]),
                float(frame.at[j, "close"]),
                n_min,
                int(frame.at[j, "volume"]),
            )
            keep = rng.random(n_min) >= minute_gap_prob
            keep[0] = keep[-1] = True
            ts = pd.date_range(open_ts, periods=n_min, freq="1min")
            mf = pd.DataFrame({"symbol": sym, "timestamp": ts, **mm})[keep]
            mins.append(mf)
            # The session's daily bar is the aggregate of its minute bars.
            frame.loc[j, ["open", "close"]] = [mf["open"].iloc[0], mf["close"].iloc[-1]]
            frame.loc[j, ["high", "low"]] = [mf["high"].max(), mf["low"].min()]
            frame.loc[j, ["volume", "trade_count"]] = [mf["volume"].sum(), mf["trade_count"].sum()]
            frame.loc[j, "vwap"] = round(
                float((mf["vwap"] * mf["volume"]).sum()) / float(mf["volume"].sum()), 4
            )
        daily_frames.append(frame)
        minute_frames.extend(mins)

    daily = pd.concat(daily_frames, ignore_index=True)
    minute_df = pd.concat(minute_frames, ignore_index=True) if minute_frames else None
    acts = pd.DataFrame(action_rows, columns=ACTION_COLUMNS) if action_rows else None
    exchanges = ("NASDAQ", "NYSE", "NASDAQ", "ARCA")
    assets = {s: {"exchange": exchanges[k % len(exchanges)]} for k, s in enumerate(symbols)}
    return Dataset(daily, minute=minute_df, actions=acts, assets=assets)
