"""Alpaca Market Data v2 historical stock bars, as the emulator serves them.

Faithful points (market_apis.md sections 1 and 6): ``limit`` counts bars across all symbols
(default 1000, 1..10000, else 400); responses are sorted by symbol then time; the
``next_page_token`` is opaque (base64 of ``SYMBOL|TF|TIME`` like the live one) and null on the
last page; ``bars`` is ``{}`` when empty; every bar carries ``n`` and ``vw``; daily ``t`` is
midnight America/New_York written in UTC.

Emulator choices: ``YYYY-MM-DD`` start/end cover the whole New York day; ``start``/``end``
bound the underlying bars before aggregation; ``page_cap`` (configurable) may cut pages below
``limit`` (the API "may return less" than asked); adjustments are backward adjustments using the
dataset's corporate actions (``raw`` serves the stored bars untouched).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradewind.emulator.common import Reply, b64d, b64e, first
from tradewind.emulator.dataset import NY, BarArrays, Dataset, Timeframe, parse_adjustment
from tradewind.emulator.faults import BadBar
from tradewind.emulator.timeparse import format_rfc3339, parse_bound

FEEDS = frozenset({"sip", "iex", "otc", "boats", "delayed_sip", "overnight"})
MAX_LIMIT = 10_000


def _err(status: int, message: str, code: int | None = 40010001) -> Reply:
    body: dict[str, Any] = {"message": message}
    if code is not None:
        body = {"code": code, "message": message}
    return Reply(status, body)


def _token(sym: str, tf: Timeframe, t_ns: int) -> str:
    base = pd.Timestamp(t_ns, unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S")
    return b64e(f"{sym}|{tf.code}|{base}.{t_ns % 1_000_000_000:09d}Z")


def _position_after(arr: BarArrays, tok_sym: str, tok_t: int, descending: bool) -> int:
    """Index of the first bar after (tok_sym, tok_t) in response order (a prefix count)."""
    same = arr.symbol == tok_sym
    later_time = arr.t >= tok_t if descending else arr.t <= tok_t
    before = (arr.symbol < tok_sym) | (same & later_time)
    return int(np.count_nonzero(before))


def _bar_json(arr: BarArrays, i: int) -> dict[str, Any]:
    return {
        "t": format_rfc3339(int(arr.t[i])),
        "o": float(arr.o[i]),
        "h": float(arr.h[i]),
        "l": float(arr.lo[i]),
        "c": float(arr.c[i]),
        "v": int(arr.v[i]),
        "n": int(arr.n[i]),
        "vw": float(arr.vw[i]),
    }


_FIELD_KEYS = {
    "open": "o",
    "high": "h",
    "low": "l",
    "close": "c",
    "volume": "v",
    "trade_count": "n",
    "vwap": "vw",
}


def corrupt_bar(bar: dict[str, Any], bad: BadBar, keys: dict[str, str]) -> None:
    """Apply a bad-bar fault in place; ``keys`` maps field names to the payload's keys."""
    if bad.kind == "high_lt_low":
        hi, lo = bar[keys["high"]], bar[keys["low"]]
        new_hi, new_lo = min(hi, lo), max(hi, lo)
        if new_hi == new_lo:
            new_lo = round(new_hi + 0.01, 4)
        bar[keys["high"]], bar[keys["low"]] = new_hi, new_lo
        return
    key = keys[bad.field]
    if bad.kind == "null":
        bar[key] = None
    elif bad.kind == "nan":
        bar[key] = float("nan")
    elif bad.kind == "negative" and bar[key] is not None:
        bar[key] = -abs(bar[key])


def handle_bars(
    ds: Dataset,
    query: dict[str, list[str]],
    *,
    now_ns: int,
    page_cap: int,
    default_limit: int,
    repeat: Any,
    bad_bars: list[BadBar],
    path_symbol: str | None = None,
) -> Reply:
    """GET /v2/stocks/bars and /v2/stocks/{symbol}/bars.

    ``repeat`` is a zero-argument callable consulted on continuation pages; when it returns
    True the page starts with the last bar of the previous page (the repeat fault)."""
    if path_symbol is not None:
        symbols = [path_symbol]
    else:
        raw_syms = first(query, "symbols")
        if not raw_syms:
            return _err(400, "missing symbols")
        symbols = [s.strip() for s in raw_syms.split(",") if s.strip()]
        if not symbols:
            return _err(400, "missing symbols")
    tf_text = first(query, "timeframe")
    if not tf_text:
        return _err(400, "missing timeframe")
    try:
        tf = Timeframe.parse(tf_text)
    except ValueError:
        return _err(400, f"invalid timeframe: {tf_text}")
    limit_text = first(query, "limit")
    if limit_text in (None, ""):
        limit = default_limit
    else:
        try:
            limit = int(limit_text)
        except ValueError:
            return _err(400, f"invalid limit: {limit_text}")
        if limit > MAX_LIMIT:
            return _err(400, f"invalid limit: larger than the allowed maximum of {MAX_LIMIT}")
        if limit < 1:
            return _err(400, "invalid limit: must be a positive integer")
    try:
        effects = parse_adjustment(first(query, "adjustment", "raw"))
    except ValueError:
        return _err(400, f"invalid adjustment: {first(query, 'adjustment')}")
    feed = first(query, "feed", "sip")
    if feed not in FEEDS:
        return _err(400, f"invalid feed: {feed}")
    sort = first(query, "sort", "asc")
    if sort not in ("asc", "desc"):
        return _err(400, f"invalid sort: {sort}")
    try:
        start_text, end_text = first(query, "start"), first(query, "end")
        if start_text:
            start_ns = parse_bound(start_text, is_end=False)
        else:  # the API default: the beginning of the current (New York) day
            today = pd.Timestamp(now_ns, unit="ns", tz="UTC").tz_convert(NY).normalize()
            start_ns = int(today.tz_convert("UTC").value)
        end_ns = parse_bound(end_text, is_end=True) if end_text else now_ns
    except ValueError as exc:
        return _err(400, str(exc).replace("time", "start/end", 1))
    if end_ns < start_ns:
        return _err(422, "end should not be before start", code=42210000)

    arr = ds.select_bars(symbols, tf, start_ns, end_ns, effects, descending=(sort == "desc"))
    pos = 0
    page_token = first(query, "page_token")
    if page_token:
        try:
            tok_sym, tok_tf, tok_time = b64d(page_token).split("|")
            tok_t = parse_bound(tok_time, is_end=False)
        except ValueError:
            return _err(400, "invalid page_token")
        if tok_tf != tf.code:
            return _err(400, "invalid page_token")
        pos = _position_after(arr, tok_sym, tok_t, sort == "desc")
        if pos > 0 and repeat():
            pos -= 1
    size = max(1, min(limit, page_cap))
    stop = min(len(arr), pos + size)
    next_token = _token(arr.symbol[stop - 1], tf, int(arr.t[stop - 1])) if stop < len(arr) else None

    bad_index = {(b.symbol, b.date): b for b in bad_bars}
    day_text = (
        pd.DatetimeIndex(arr.day[pos:stop].astype("datetime64[D]")).strftime("%Y-%m-%d")
        if bad_index
        else None
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for k, i in enumerate(range(pos, stop)):
        bar = _bar_json(arr, i)
        if day_text is not None:
            bad = bad_index.get((arr.symbol[i], day_text[k]))
            if bad is not None:
                corrupt_bar(bar, bad, _FIELD_KEYS)
        out.setdefault(arr.symbol[i], []).append(bar)
    if path_symbol is not None:
        body = {
            "bars": out.get(path_symbol, []),
            "symbol": path_symbol,
            "next_page_token": next_token,
        }
    else:
        body = {"bars": out, "next_page_token": next_token}
    return Reply(200, body)


def handle_latest_bars(ds: Dataset, query: dict[str, list[str]], *, now_ns: int) -> Reply:
    """GET /v2/stocks/bars/latest: the last minute bar at or before now, one object per symbol."""
    raw_syms = first(query, "symbols")
    if not raw_syms:
        return _err(400, "missing symbols")
    out = {}
    for sym in sorted({s.strip() for s in raw_syms.split(",") if s.strip()}):
        # Minute bars only: a daily bar stamped at midnight is not complete until the close.
        arr = ds.select_bars([sym], Timeframe(1, "Min"), None, now_ns - 60_000_000_000)
        if len(arr):
            out[sym] = _bar_json(arr, len(arr) - 1)
    return Reply(200, {"bars": out})
