"""The data-quality gate every batch passes before it is loaded.

Three layers, in order:

1. **Structure** (the whole batch is rejected): a required column is missing, a numeric or time
   column holds no parseable value at all (mistyped), or two rows share a (symbol, time) key
   with different values (conflicting duplicates: which one is right cannot be known).
2. **Row rules**, run through Great Expectations as the recorded gate *and* as vectorised pandas
   masks that route rows: prices present and > 0, volume present and >= 0, OHLC consistent
   (low <= open, close <= high) up to the relative tolerance ``PRICE_REL_TOL`` (adjusted prices
   carry float rounding; the table CHECK constraints use the same value), a well-formed symbol, unique (symbol, time), the time on a NYSE
   session (exchange-calendars XNYS, half days included), the bar complete at ``as_of`` (daily:
   the session's close, half days at 13:00 ET; intraday: open + timeframe), inside the
   requested interval and among the requested symbols. GE's verdict per expectation is the
   authority; the masks must flag exactly the rows GE lists (``QualityGateError`` otherwise).
   Rows that fail any rule are quarantined with every reason; exact duplicate rows keep their
   first copy and quarantine the others.
3. **Warnings** on rows that are loaded: zero volume, a close-to-close move of 50% or more, a
   requested symbol with no data, input not in (symbol, time) order.

Nothing is dropped silently: ``rows_in == len(valid) + len(quarantined)`` unless the batch is
rejected, and a rejected batch is reported whole.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tradewind.ingest.batch import (
    ORIGIN_COLUMNS,
    PRICE_COLUMNS,
    QUARANTINE_COLUMNS,
    REQUIRED_VALUE_COLUMNS,
    VALUE_COLUMNS,
    WARNING_COLUMNS,
    Batch,
    ValidatedBatch,
    empty_actions,
)
from tradewind.ingest.errors import QualityGateError
from tradewind.ingest.timeframes import Timeframe, parse_timeframe

log = logging.getLogger(__name__)

NY_TZ = "America/New_York"
NS_PER_DAY = 86_400_000_000_000
# Relative slack of the OHLC consistency rules. One value for the gate and the tables: SQL's
# raw.price_rel_tol() (migration 015) returns the same double, and a test holds them together.
# 1e-6 absorbs float rounding (~1e-15) and vendors' 6-decimal rounding of adjusted prices, yet a
# cent outside the day's range is refused on any price below $10,000.
PRICE_REL_TOL = 1e-6
JUMP_THRESHOLD = 0.5  # |close_T / close_T-1 - 1| at or above this is a warning, not an error
# An optional leading caret: index series (^DJI, ^GSPC) load as benchmarks (csv_source).
SYMBOL_REGEX = r"^\^?[A-Z0-9][A-Z0-9.\-/^=_]{0,19}$"
_SYMBOL_RE = re.compile(SYMBOL_REGEX)
# Spellings of "no value" in files people have (Yahoo writes `null`); anything else that does
# not parse as a number is reported as "not a number".
_NA_STRINGS = frozenset({"", "null", "nan", "na", "n/a", "#n/a", "none", "-", "nil"})
_MAX_EXAMPLES = 3


# --- calendar, vectorised --------------------------------------------------------------------
@lru_cache(maxsize=1)
def _sessions() -> tuple[np.ndarray, np.ndarray]:
    """NYSE session days (int64 days since the epoch) and their closes (int64 UTC ns)."""
    from tradewind.calendar import nyse_calendar

    sched = nyse_calendar().schedule
    days = sched.index.values.astype("datetime64[D]").astype(np.int64)
    closes = sched["close"].values.astype("datetime64[ns]").astype(np.int64)
    return days, closes


@lru_cache(maxsize=1)
def _session_opens() -> np.ndarray:
    """Regular-session opens (int64 UTC ns) aligned with ``_sessions()``."""
    from tradewind.calendar import nyse_calendar

    return nyse_calendar().schedule["open"].values.astype("datetime64[ns]").astype(np.int64)


def regular_session_mask(ts_ns: np.ndarray) -> np.ndarray:
    """For bar opening instants (int64 UTC ns): inside the NYSE regular session of their New
    York day (09:30 to the close, early closes included)? SQL's raw.is_regular_minute agrees."""
    s_days, s_closes = _sessions()
    opens = _session_opens()
    # The session a bar may belong to: the last one opening at or before it.
    pos = np.searchsorted(opens, ts_ns, side="right") - 1
    ok = pos >= 0
    pos = pos.clip(0, len(opens) - 1)
    return ok & (ts_ns >= opens[pos]) & (ts_ns < s_closes[pos])


def session_close_ns(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For epoch days: (is a NYSE session, close in UTC ns or -1)."""
    s_days, s_closes = _sessions()
    pos = np.searchsorted(s_days, days).clip(0, len(s_days) - 1)
    hit = s_days[pos] == days
    return hit, np.where(hit, s_closes[pos], -1)


def weekday_closures_between(lo: int, hi: int) -> list[int]:
    """Weekdays in [lo, hi] (epoch days) with no NYSE session: holidays and closures."""
    s_days, _ = _sessions()
    lo, hi = max(lo, int(s_days[0])), min(hi, int(s_days[-1]))
    days = np.arange(lo, hi + 1, dtype=np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    days = days[weekday < 5]
    return days[~np.isin(days, s_days)].tolist()


# --- structure -------------------------------------------------------------------------------
@dataclass
class _Coerced:
    frame: pd.DataFrame  # canonical typed columns, same index as the input
    parse_reasons: dict[str, np.ndarray]  # reason -> boolean mask
    rejection: str | None = None


def _text_values(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip()


def _coerce_numeric(
    s: pd.Series, name: str, reasons: dict[str, np.ndarray]
) -> tuple[pd.Series, bool]:
    """float64 column; unparseable cells become NaN with a reason. False: nothing parsed."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float), False
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype(float)
    else:
        text = _text_values(s)
        is_na = s.isna().to_numpy() | text.str.lower().isin(_NA_STRINGS).to_numpy()
        out = pd.to_numeric(text.where(~is_na), errors="coerce").astype(float)
        bad = ~is_na & out.isna().to_numpy()
        if bad.any():
            reasons[f"{name} is not a number"] = bad
        if bad.any() and not out.notna().any():
            return out, False
    inf = np.isinf(out.to_numpy())
    if inf.any():
        reasons[f"{name} is not finite"] = inf
        out = out.where(~inf)
    return out, True


def _coerce_time(
    s: pd.Series, tf: Timeframe, reasons: dict[str, np.ndarray]
) -> tuple[pd.Series, bool]:
    name = tf.time_column
    if not pd.api.types.is_datetime64_any_dtype(s):
        text = _text_values(s)
        is_na = s.isna().to_numpy() | text.str.lower().isin(_NA_STRINGS).to_numpy()
        parsed = pd.to_datetime(text.where(~is_na), errors="coerce", utc=not tf.daily,
                                format="ISO8601")  # fmt: skip
        bad = ~is_na & parsed.isna().to_numpy()
        if bad.any():
            reasons[f"{name} is not a {'date' if tf.daily else 'timestamp'}"] = bad
            if not parsed.notna().any():
                return parsed, False
        s = parsed
    if tf.daily:
        if getattr(s.dt, "tz", None) is not None:
            # An instant stamps the session it falls on in New York (Alpaca: 00:00 ET).
            s = s.dt.tz_convert(NY_TZ).dt.tz_localize(None)
        s = s.dt.normalize().astype("datetime64[ns]")
    else:
        s = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        s = s.astype("datetime64[ns, UTC]")
    return s, True


def _coerce(frame: pd.DataFrame, tf: Timeframe) -> _Coerced:
    tcol = tf.time_column
    missing = [c for c in ("symbol", tcol, *REQUIRED_VALUE_COLUMNS) if c not in frame.columns]
    if missing:
        return _Coerced(frame, {}, f"missing column(s): {', '.join(missing)}")
    reasons: dict[str, np.ndarray] = {}
    out = pd.DataFrame(index=frame.index)
    sym = frame["symbol"]
    out["symbol"] = sym.where(sym.isna(), _text_values(sym).str.upper()) if len(sym) else sym
    out[tcol], ok = _coerce_time(frame[tcol], tf, reasons)
    mistyped = [] if ok or not len(frame) else [tcol]
    for col in VALUE_COLUMNS:
        if col not in frame.columns:
            out[col] = np.nan
            continue
        out[col], ok = _coerce_numeric(frame[col], col, reasons)
        if not ok and len(frame):
            mistyped.append(col)
    for col in ORIGIN_COLUMNS:
        if col in frame.columns:
            out[col] = frame[col]
    if mistyped:
        return _Coerced(out, reasons, f"mistyped column(s), no value parses: {', '.join(mistyped)}")
    return _Coerced(out, reasons)


def _conflicting_duplicates(df: pd.DataFrame, tcol: str) -> str | None:
    key = ["symbol", tcol]
    # A key with a missing part identifies no bar: such rows are quarantined by the presence
    # rules (GE's uniqueness rule still sees them), not taken for conflicting versions of one.
    dup = df.duplicated(key, keep=False).to_numpy() & df[key].notna().all(axis=1).to_numpy()
    if not dup.any():
        return None
    sub = df.loc[dup, [*key, *VALUE_COLUMNS]]
    # Distinct value rows per key; NaN == NaN here, since the same missing value is no conflict.
    distinct = sub.fillna(-1.2345e300).drop_duplicates().groupby(key, sort=False).size()
    conflicts = distinct[distinct > 1]
    if conflicts.empty:
        return None
    examples = ", ".join(f"{s} {_fmt_time(t)}" for s, t in conflicts.index[:_MAX_EXAMPLES])
    return (
        f"conflicting duplicates: {len(conflicts)} (symbol, {tcol}) key(s) with different values, "
        f"e.g. {examples}"
    )


# --- row rules --------------------------------------------------------------------------------
@dataclass
class Rule:
    name: str
    reason: str
    expectation: Any  # a great_expectations Expectation
    mask: Callable[[pd.DataFrame], np.ndarray]


def _fmt_time(t: Any) -> str:
    if t is None or (not isinstance(t, str) and pd.isna(t)):
        return "?"
    t = pd.Timestamp(t)
    if t.tzinfo is None and t == t.normalize():
        return t.strftime("%Y-%m-%d")
    return t.isoformat()


def _rules(
    gxe: Any, tf: Timeframe, as_of_ns: int, meta_lo: int | None, meta_hi: int | None,
    symbols: list[str] | None, closures: list[int],
) -> list[Rule]:  # fmt: skip
    tcol = tf.time_column
    rules: list[Rule] = []

    def add(name: str, reason: str, expectation: Any, mask: Callable) -> None:
        expectation.meta = {"rule": name}
        rules.append(Rule(name, reason, expectation, mask))

    def notnull(col: str) -> Callable:
        return lambda d: d[col].isna().to_numpy()

    add("symbol_present", "symbol is missing",
        gxe.ExpectColumnValuesToNotBeNull(column="symbol"), notnull("symbol"))  # fmt: skip
    add(
        "symbol_format",
        "symbol is malformed",
        gxe.ExpectColumnValuesToMatchRegex(column="symbol", regex=SYMBOL_REGEX),
        lambda d: (
            d["symbol"].notna() & ~d["symbol"].astype(str).str.match(SYMBOL_REGEX)
        ).to_numpy(),
    )
    add(f"{tcol}_present", f"{tcol} is missing",
        gxe.ExpectColumnValuesToNotBeNull(column=tcol), notnull(tcol))  # fmt: skip
    for col in (*PRICE_COLUMNS, "volume"):
        add(f"{col}_present", f"{col} is missing",
            gxe.ExpectColumnValuesToNotBeNull(column=col), notnull(col))  # fmt: skip
    for col in PRICE_COLUMNS:
        add(
            f"{col}_positive",
            f"{col} <= 0",
            gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, strict_min=True),
            lambda d, c=col: (d[c].notna() & ~(d[c] > 0)).to_numpy(),
        )
    add(
        "volume_nonnegative",
        "volume < 0",
        gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        lambda d: (d["volume"].notna() & ~(d["volume"] >= 0)).to_numpy(),
    )
    add(
        "trade_count_nonnegative",
        "trade_count < 0",
        gxe.ExpectColumnValuesToBeBetween(column="trade_count", min_value=0),
        lambda d: (d["trade_count"].notna() & ~(d["trade_count"] >= 0)).to_numpy(),
    )
    # a >= b up to the tolerance, compared on pre-scaled columns (see _tolerance_columns) so
    # that GE, the masks and the SQL CHECK make the same float comparison.
    for a, b, col_a, col_b in _TOLERANT_PAIRS:
        add(
            f"{a}_ge_{b}",
            f"{a} < {b}",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=col_a, column_B=col_b, or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            lambda d, a=col_a, b=col_b: (d[a].notna() & d[b].notna() & ~(d[a] >= d[b])).to_numpy(),
        )  # fmt: skip
    add(
        "unique_key",
        "duplicate row",
        # "never": rows missing both parts count too, as in pandas' duplicated (GE's default
        # would skip them and disagree with the mask).
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["symbol", tcol], ignore_row_if="never"),
        lambda d: d.duplicated(["symbol", tcol], keep=False).to_numpy(),
    )
    # Session membership as two small rules (a weekday, and not one of the weekday closures in
    # the batch's range) rather than one set of every session: GE serialises an expectation's
    # value set on every metric look-up, and thousands of sessions made the gate 3x slower.
    first_day, last_day = (int(x) for x in _sessions()[0][[0, -1]])
    add(
        "in_calendar",
        "outside the NYSE calendar range known to tradewind",
        gxe.ExpectColumnValuesToBeBetween(column="_day", min_value=first_day, max_value=last_day),
        lambda d: (d["_day"].notna() & ~d["_day"].between(first_day, last_day)).to_numpy(),
    )
    add(
        "on_weekday",
        "not a NYSE session",
        gxe.ExpectColumnValuesToBeBetween(column="_weekday", min_value=0, max_value=4),
        lambda d: (d["_weekday"].notna() & ~d["_weekday"].between(0, 4)).to_numpy(),
    )
    add(
        "not_a_closure",
        "not a NYSE session",
        gxe.ExpectColumnValuesToNotBeInSet(column="_day", value_set=closures),
        lambda d: (d["_day"].notna() & d["_day"].isin(closures)).to_numpy(),
    )
    closed_reason = (
        "session not closed at as-of time" if tf.daily else "bar not complete at as-of time"
    )
    add(
        "closed_at_as_of",
        closed_reason,
        gxe.ExpectColumnValuesToBeBetween(column="_complete_ns", max_value=as_of_ns),
        lambda d: (d["_complete_ns"].notna() & ~(d["_complete_ns"] <= as_of_ns)).to_numpy(),
    )
    if meta_lo is not None or meta_hi is not None:
        add(
            "in_requested_interval",
            "outside the requested interval",
            gxe.ExpectColumnValuesToBeBetween(column="_t_ns", min_value=meta_lo, max_value=meta_hi),
            lambda d: (
                d["_t_ns"].notna()
                & ~d["_t_ns"].between(
                    meta_lo if meta_lo is not None else -(2**62),
                    meta_hi if meta_hi is not None else 2**62,
                )
            ).to_numpy(),
        )
    if symbols is not None:
        add(
            "requested_symbol",
            "symbol not requested",
            gxe.ExpectColumnValuesToBeInSet(column="symbol", value_set=list(symbols)),
            lambda d: (d["symbol"].notna() & ~d["symbol"].isin(symbols)).to_numpy(),
        )
    return rules


# (a, b, column compared as A, column compared as B): "a >= b" with the slack on the side SQL's
# raw.ohlc_consistent puts it: high >= x * (1 - tol), low <= x * (1 + tol).
_TOLERANT_PAIRS: tuple[tuple[str, str, str, str], ...] = (
    ("high", "low", "high", "_low_dn"),
    ("high", "open", "high", "_open_dn"),
    ("high", "close", "high", "_close_dn"),
    ("open", "low", "_open_up", "low"),
    ("close", "low", "_close_up", "low"),
)


def _tolerance_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Prices scaled by (1 -/+ PRICE_REL_TOL), the operands of the tolerant OHLC rules."""
    dn, up = 1.0 - PRICE_REL_TOL, 1.0 + PRICE_REL_TOL
    return pd.DataFrame(
        {"_low_dn": df["low"] * dn, "_open_dn": df["open"] * dn, "_close_dn": df["close"] * dn,
         "_open_up": df["open"] * up, "_close_up": df["close"] * up},
        index=df.index,
    )  # fmt: skip


def _helper_columns(df: pd.DataFrame, tf: Timeframe) -> pd.DataFrame:
    """Columns the session and completeness rules read (float so that NaN marks unknown)."""
    t = df[tf.time_column]
    valid_t = t.notna().to_numpy()
    if tf.daily:
        days = t.to_numpy().astype("datetime64[D]").astype(np.int64)
        t_ns = t.to_numpy().astype("datetime64[ns]").astype(np.int64)
    else:
        local = t.dt.tz_convert(NY_TZ).dt.tz_localize(None)
        days = local.to_numpy().astype("datetime64[D]").astype(np.int64)
        t_ns = t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(np.int64)
    if tf.daily:
        is_sess, close_ns = session_close_ns(days)
        complete = np.where(is_sess, close_ns, -1).astype(float)
        complete[~is_sess] = np.nan
    else:
        complete = (t_ns + tf.duration.value).astype(float)
    day_f = days.astype(float)
    day_f[~valid_t] = np.nan
    complete[~valid_t] = np.nan
    t_f = t_ns.astype(float)
    t_f[~valid_t] = np.nan
    weekday = ((days + 3) % 7).astype(float)
    weekday[~valid_t] = np.nan
    return pd.DataFrame(
        {"_day": day_f, "_weekday": weekday, "_complete_ns": complete, "_t_ns": t_f},
        index=df.index,
    )


# --- Great Expectations -----------------------------------------------------------------------
@lru_cache(maxsize=1)
def _gx() -> tuple[Any, Any, Any]:
    """(gx module, expectations module, batch definition) on a quiet in-memory context."""
    for name in ("great_expectations", "great_expectations.core", "tzlocal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    asset = ctx.data_sources.add_pandas("tradewind_ingest").add_dataframe_asset("bars")
    return gx, gxe, asset.add_batch_definition_whole_dataframe("batch")


_GX_LOCK = threading.Lock()  # one shared in-memory context; validations take turns


def _run_gx(gx_frame: pd.DataFrame, rules: list[Rule], suite_name: str) -> dict[str, dict]:
    gx, _, batch_definition = _gx()
    suite = gx.ExpectationSuite(name=suite_name, expectations=[r.expectation for r in rules])
    with _GX_LOCK:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": gx_frame})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    out: dict[str, dict] = {}
    for r in result.results:
        name = (r.expectation_config.meta or {}).get("rule")
        info = r.exception_info or {}
        if info.get("raised_exception"):
            raise QualityGateError(
                f"Great Expectations failed on rule {name}: {info.get('exception_message')}"
            )
        idx = r.result.get("unexpected_index_list") or []
        out[name] = {
            "rule": name,
            "expectation": r.expectation_config.type,
            "success": bool(r.success),
            "unexpected_count": int(r.result.get("unexpected_count") or 0),
            "index": np.asarray(idx, dtype=np.int64),
        }
    return out


# --- the gate ---------------------------------------------------------------------------------
def _to_ns(value: str | None, tf: Timeframe, end: bool) -> int | None:
    """Requested bound as the time column's ns (daily: the day; intraday: the instant)."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if tf.daily:
        if ts.tzinfo is not None:
            ts = ts.tz_convert(NY_TZ).tz_localize(None)
        return ts.normalize().value
    if ts.tzinfo is None and len(str(value)) <= 10:
        # A bare date for intraday bars means that whole New York day.
        ts = ts.tz_localize(NY_TZ)
        if end:
            ts = ts + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    elif ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").value


def _payload(raw: pd.DataFrame) -> list[str]:
    def clean(v: Any) -> Any:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return None if v is None or np.isnan(v) else str(v)
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        if isinstance(v, np.generic):
            return v.item()
        return v if isinstance(v, (int, float, str, bool)) else str(v)

    cols = list(raw.columns)
    return [
        json.dumps({c: clean(v) for c, v in zip(cols, row, strict=True)}, default=str)
        for row in raw.itertuples(index=False, name=None)
    ]


def _warnings(
    valid: pd.DataFrame, tf: Timeframe, meta_missing: list[str], ordered: bool = False
) -> pd.DataFrame:
    """Warnings on loaded rows; ``ordered``: ``valid`` is already sorted by (symbol, time)."""
    tcol = tf.time_column
    parts = []
    zero = valid["volume"].to_numpy() == 0
    if zero.any():
        z = valid.loc[zero]
        parts.append(pd.DataFrame({"symbol": z["symbol"], "bar_time": z[tcol].map(_fmt_time),
                                   "kind": "zero_volume", "detail": "volume is 0"}))  # fmt: skip
    if len(valid) > 1:
        s = valid if ordered else valid.sort_values(["symbol", tcol], kind="stable")
        close = s["close"].to_numpy()
        same = s["symbol"].to_numpy()[1:] == s["symbol"].to_numpy()[:-1]
        change = np.full(len(s), np.nan)
        change[1:] = np.where(same, close[1:] / close[:-1] - 1.0, np.nan)
        jump = np.abs(change) >= JUMP_THRESHOLD
        if jump.any():
            j = s.loc[jump]
            parts.append(pd.DataFrame({
                "symbol": j["symbol"], "bar_time": j[tcol].map(_fmt_time), "kind": "jump",
                "detail": [f"close {c:+.1%} vs previous bar" for c in change[jump]],
            }))  # fmt: skip
    for sym in meta_missing:
        parts.append(pd.DataFrame({"symbol": [sym], "bar_time": [""], "kind": ["no_data"],
                                   "detail": ["the source returned no bars"]}))  # fmt: skip
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in WARNING_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(WARNING_COLUMNS)]


def _empty_quarantine() -> pd.DataFrame:
    q = pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLUMNS})
    q["row_id"] = q["row_id"].astype(np.int64)
    return q


def _canonical_empty(tf: Timeframe) -> pd.DataFrame:
    tdtype = "datetime64[ns]" if tf.daily else "datetime64[ns, UTC]"
    cols = {"symbol": pd.Series(dtype=object), tf.time_column: pd.Series(dtype=tdtype)}
    cols.update({c: pd.Series(dtype=float) for c in VALUE_COLUMNS})
    return pd.DataFrame(cols)


def validate_actions(actions: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Corporate actions: value > 0 and a date; returns (valid, rejected rows as dicts)."""
    if actions is None or actions.empty:
        return empty_actions(), []
    a = actions.copy()
    a["ex_date"] = pd.to_datetime(a["ex_date"], errors="coerce")
    a["value"] = pd.to_numeric(a["value"], errors="coerce")
    bad = a["ex_date"].isna() | ~(a["value"] > 0) | a["symbol"].isna()
    bad |= ~a["action"].isin(["cash_dividend", "split"])
    rejected = a.loc[bad].to_dict("records")
    good = a.loc[~bad].drop_duplicates(["symbol", "ex_date", "action"], keep="last")
    return good.reset_index(drop=True), rejected


@dataclass
class GateCheck:
    """Great Expectations' half of the gate, runnable later or in another thread: it must flag
    exactly the rows the vectorised masks flagged, rule by rule."""

    frame: pd.DataFrame
    rules: list[Rule]
    masks: dict[str, np.ndarray]
    suite_name: str

    def run(self) -> list[dict[str, Any]]:
        results = _run_gx(self.frame, self.rules, self.suite_name)
        gate = []
        for rule in self.rules:
            res = results[rule.name]
            ours = np.flatnonzero(self.masks[rule.name])
            theirs = np.sort(res["index"])
            if res["success"] != (len(ours) == 0) or not np.array_equal(ours, theirs):
                raise QualityGateError(
                    f"quality gate mismatch on {rule.name}: Great Expectations flags "
                    f"{res['unexpected_count']} row(s), the vectorised rule {len(ours)}"
                )
            gate.append({k: v for k, v in res.items() if k != "index"})
        return gate


def validate(batch: Batch, as_of: datetime | str | pd.Timestamp) -> ValidatedBatch:
    """Run the gate on ``batch``; bars completed after ``as_of`` (an instant) are refused.

    Never raises for bad data: a structurally broken batch comes back with ``rejection`` set.
    Raises ``QualityGateError`` if Great Expectations and the vectorised rules disagree.
    """
    t0 = time.perf_counter()
    validated, check = screen(batch, as_of)
    if check is not None:
        validated.gate = check.run()
    validated.seconds = time.perf_counter() - t0
    return validated


def screen(
    batch: Batch, as_of: datetime | str | pd.Timestamp
) -> tuple[ValidatedBatch, GateCheck | None]:
    """The vectorised half of :func:`validate`: the verdict, plus the GE check still to run
    (None when there is nothing to check: a rejected or empty batch). Its ``gate`` stays empty
    until the check has run."""
    t0 = time.perf_counter()
    as_of_ts = pd.Timestamp(as_of)
    if as_of_ts.tzinfo is None:
        raise ValueError("validate needs a timezone-aware as_of instant (e.g. ...+00:00)")
    as_of_ts = as_of_ts.tz_convert("UTC")
    tf = parse_timeframe(batch.meta.timeframe)
    tcol = tf.time_column
    raw = batch.frame
    rows_in = len(raw)
    actions, bad_actions = validate_actions(batch.actions)

    def verdict(valid, quarantined, warnings, rejection=None) -> ValidatedBatch:
        return ValidatedBatch(
            valid=valid, quarantined=quarantined, warnings=warnings, actions=actions,
            meta=batch.meta, as_of=as_of_ts.isoformat(), rows_in=rows_in, rejection=rejection,
            gate=[], seconds=time.perf_counter() - t0,
        )  # fmt: skip

    coerced = _coerce(raw, tf)
    empty_w = _warnings(_canonical_empty(tf), tf, [])
    if coerced.rejection is None and rows_in:
        coerced.rejection = _conflicting_duplicates(coerced.frame, tcol)
    if coerced.rejection is not None:
        return verdict(_canonical_empty(tf), _empty_quarantine(), empty_w, coerced.rejection), None
    df = coerced.frame
    if rows_in == 0:
        missing = batch.meta.missing_symbols or list(batch.meta.symbols or [])
        return verdict(_canonical_empty(tf), _empty_quarantine(), _warnings(df, tf, missing)), None

    helpers = _helper_columns(df, tf)
    lo = _to_ns(batch.meta.start, tf, end=False)
    hi = _to_ns(batch.meta.end, tf, end=True)
    day_lo, day_hi = np.nanmin(helpers["_day"]), np.nanmax(helpers["_day"])
    closures = weekday_closures_between(int(day_lo), int(day_hi)) if np.isfinite(day_lo) else []  # fmt: skip
    _, gxe, _ = _gx()
    rules = _rules(gxe, tf, as_of_ts.value, lo, hi, batch.meta.symbols, closures)
    gx_frame = pd.concat(
        [df[["symbol", tcol, *VALUE_COLUMNS]], helpers, _tolerance_columns(df)], axis=1
    )
    if not tf.daily:
        # GE compares the UTC instant; a tz-naive copy keeps its pandas metrics simple.
        gx_frame[tcol] = gx_frame[tcol].dt.tz_localize(None)
    masks = {rule.name: rule.mask(gx_frame) for rule in rules}
    check = GateCheck(gx_frame, rules, masks, f"bars_{tf.label}")

    n = len(df)
    order, later_copy, unsorted = _key_order(df, tcol)
    failed = np.zeros(n, dtype=bool)
    reasons_by_rule: list[tuple[str, np.ndarray]] = []
    for rule in rules:
        mask = masks[rule.name]
        if rule.name == "unique_key":
            # Exact copies (conflicts were rejected above): keep the first, quarantine the rest.
            mask = later_copy & mask
        if mask.any():
            reasons_by_rule.append((rule.reason, mask))
            failed |= mask
    # A cell that did not parse is reported as such instead of as "missing".
    for reason, mask in coerced.parse_reasons.items():
        reasons_by_rule.insert(0, (reason, mask))
        failed |= mask

    bad_idx = np.flatnonzero(failed)
    if len(bad_idx):
        per_row: dict[int, list[str]] = {int(i): [] for i in bad_idx}
        for reason, mask in reasons_by_rule:
            for i in np.flatnonzero(mask):
                per_row[int(i)].append(reason)
        for i, rs in per_row.items():
            # A missing cell that failed to parse is one problem, not two.
            parsed_cols = {r.split(" is not ")[0] for r in rs if " is not " in r}
            per_row[i] = [
                r for r in rs if not (r.endswith(" is missing") and r[:-11] in parsed_cols)
            ]
        raw_bad = raw.iloc[bad_idx]
        where_sym = df["symbol"].iloc[bad_idx].where(df["symbol"].iloc[bad_idx].notna(), None)
        bar_time = [
            _fmt_time(t) if not pd.isna(t) else str(raw_t)
            for t, raw_t in zip(df[tcol].iloc[bad_idx], raw[tcol].iloc[bad_idx], strict=True)
        ]
        quarantined = pd.DataFrame({
            "row_id": bad_idx.astype(np.int64),
            "symbol": where_sym.to_numpy(),
            "bar_time": bar_time,
            "reasons": [per_row[int(i)] for i in bad_idx],
            "payload": _payload(raw_bad),
        })  # fmt: skip
    else:
        quarantined = _empty_quarantine()
    # Valid rows have a symbol and a time, so all of them are in ``order``.
    valid = df.iloc[order[~failed[order]]].reset_index(drop=True)

    requested = list(batch.meta.symbols or [])
    present = set(df["symbol"].dropna().unique())
    missing = sorted(set(batch.meta.missing_symbols) | {s for s in requested if s not in present})
    warnings = _warnings(valid, tf, missing, ordered=True)
    if not tf.daily and len(valid):
        t_utc = valid[tcol].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        t_ns = t_utc.astype("datetime64[ns]").astype(np.int64)
        outside = int((~regular_session_mask(t_ns)).sum())
        note = (
            f"{outside:,} of {len(valid):,} bar(s) are outside the regular session (pre- or "
            "post-market): stored, and kept out of the hourly and daily rollups"
        )
        if outside and note not in batch.meta.notes:
            batch.meta.notes.append(note)
    if unsorted:
        warnings = pd.concat([warnings, pd.DataFrame({
            "symbol": unsorted, "bar_time": "", "kind": "out_of_order",
            "detail": "rows arrived out of time order (sorted before loading)",
        })], ignore_index=True)  # fmt: skip
    if bad_actions:
        warnings = pd.concat([warnings, pd.DataFrame({
            "symbol": [str(a.get("symbol")) for a in bad_actions],
            "bar_time": [_fmt_time(a.get("ex_date")) for a in bad_actions],
            "kind": "bad_corporate_action",
            "detail": [f"refused {a.get('action')} value={a.get('value')}" for a in bad_actions],
        })], ignore_index=True)  # fmt: skip
    return verdict(valid, quarantined, warnings), check


def _key_order(df: pd.DataFrame, tcol: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One sort of the rows by (symbol, time) serves three answers:

    - the positions of the rows that have both, in that order, arrival order among equal
      keys (what ``sort_values(kind="stable")`` gives, without sorting the frame);
    - per row: another row with the same key arrived earlier (``duplicated(keep="first")``);
    - the symbols whose rows did not arrive in time order (e.g. pages served out of order):
      a symbol's rows are in order exactly when the stable sort leaves their arrival order.
    """
    codes, uniques = pd.factorize(df["symbol"], sort=True)
    t = df[tcol]
    has_key = (codes >= 0) & t.notna().to_numpy()
    keyed = np.flatnonzero(has_key)
    t_ns = t.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    order = keyed[np.lexsort((t_ns[keyed], codes[keyed]))]
    c, ts = codes[order], t_ns[order]
    same_symbol = c[1:] == c[:-1]
    later_copy = np.zeros(len(df), dtype=bool)
    later_copy[order[1:][same_symbol & (ts[1:] == ts[:-1])]] = True
    if not has_key.all():  # a key with a missing part only repeats among such keys
        rest = ~has_key
        later_copy[rest] = df.loc[rest, ["symbol", tcol]].duplicated(keep="first").to_numpy()
    back = same_symbol & (order[1:] < order[:-1])
    unsorted = sorted({str(uniques[i]) for i in np.unique(c[1:][back])})
    return order, later_copy, unsorted
