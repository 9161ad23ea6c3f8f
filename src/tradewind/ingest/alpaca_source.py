"""Alpaca Market Data v2 historical bars through the official alpaca-py client.

``StockHistoricalDataClient`` (``url_override`` = ``TRADEWIND_ALPACA_DATA_URL`` when set, e.g. a
local emulator) sends every request, with its auth headers and its own fixed retries (3 x 3 s
on 429/504). Requests are built with ``StockBarsRequest`` (so timeframe, adjustment and feed
are validated by the SDK), many symbols per request, and the pages are followed here with
``client.get`` rather than inside ``get_stock_bars``: each page then gets its own bounded
backoff-with-jitter retries (a failure on page 40 does not restart page 1) and advances the
progress bar.

Incremental: per (source, symbol, timeframe) the watermark says what is loaded; only the parts
of the requested interval outside it are fetched, symbols with the same gaps in one request.
Daily bars are stamped with their New York session date, intraday bars with their UTC open.

Restatements: the forward gap of an incremental pull starts ``restatement_overlap_sessions``
sessions early; the re-read bars are compared with the stored ones (``restatement``) and a
series the vendor restated is fetched whole again, for the loader to replace.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tradewind.ingest.batch import Batch, BatchMeta
from tradewind.ingest.errors import IngestError, SourceError
from tradewind.ingest.progress import NullProgress, ProgressSink
from tradewind.ingest.restatement import OverlapCheck, Restatement, check_overlap, plan_overlap
from tradewind.ingest.retry import GaveUp, RetryPolicy, call_with_retries
from tradewind.ingest.timeframes import Timeframe, parse_timeframe

log = logging.getLogger(__name__)

NY_TZ = "America/New_York"
MAX_PAGE = 10_000
_MAX_PAGES = 100_000  # a server that never stops paginating is a bug, not data
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


# --- the interval to fetch -------------------------------------------------------------------
def _day_start(d: date) -> datetime:
    return pd.Timestamp(d, tz=NY_TZ).tz_convert("UTC").to_pydatetime()


def _day_end(d: date) -> datetime:
    return (pd.Timestamp(d, tz=NY_TZ) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)).tz_convert("UTC").to_pydatetime()  # fmt: skip


def _bound(value: str | None, end: bool) -> datetime | None:
    """A requested bound as a UTC instant; a bare date means that whole New York day."""
    if value is None:
        return None
    text = str(value).strip()
    if len(text) <= 10:
        d = date.fromisoformat(text)
        return _day_end(d) if end else _day_start(d)
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").to_pydatetime()


def gaps(
    start: datetime | None,
    end: datetime,
    mark: tuple[pd.Timestamp, pd.Timestamp] | None,
    tf: Timeframe,
) -> list[tuple[datetime, datetime]]:
    """Parts of [start, end] not covered by the watermark span [first, last] (UTC instants;
    daily watermarks are 00:00 New York of the session)."""
    if mark is None:
        if start is None:
            return []
        return [(start, end)] if start <= end else []
    first, last = (m.to_pydatetime() for m in mark)
    out = []
    if start is not None and start < first:
        # Daily: up to the end of the day before the first loaded session.
        before = first - timedelta(microseconds=1)
        out.append((start, min(end, before)))
    after = _next_session_start(last) if tf.daily else last + tf.duration.to_pytimedelta()
    lo = after if start is None else max(start, after)
    if lo <= end:
        out.append((lo, end))
    return [(a, b) for a, b in out if a <= b and _has_session(a, b)]


def _next_session_start(last: datetime) -> datetime:
    """00:00 New York of the first session after the (New York) date of ``last``."""
    from tradewind.calendar import next_session

    day = pd.Timestamp(last).tz_convert(NY_TZ).date()
    try:
        return _day_start(next_session(day))
    except ValueError:  # outside the calendar's range
        return _day_start(day + timedelta(days=1))


def _has_session(a: datetime, b: datetime) -> bool:
    """Any NYSE session on the New York dates a..b? (Weekend-only gaps need no request.)"""
    from tradewind.calendar import sessions_array

    da = pd.Timestamp(a).tz_convert(NY_TZ).date()
    db = pd.Timestamp(b).tz_convert(NY_TZ).date()
    try:
        return len(sessions_array(da, db)) > 0
    except ValueError:  # outside the calendar's range: let the server answer
        return True


# --- the client ------------------------------------------------------------------------------
def _api_error_status(exc: BaseException) -> int | None:
    from alpaca.common.exceptions import APIError

    if isinstance(exc, APIError):
        try:
            return int(exc.status_code)
        except Exception:  # noqa: BLE001 - a response without a status
            return None
    return None


def _retryable(exc: BaseException) -> bool:
    import requests

    status = _api_error_status(exc)
    if status is not None:
        return status in _RETRY_STATUS
    return isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    )


def _server_wait(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After, X-RateLimit-Reset), if any."""
    if _api_error_status(exc) != 429:
        return None
    try:
        headers = exc._http_error.response.headers  # type: ignore[attr-defined]
    except AttributeError:
        return None
    if headers.get("Retry-After", "").strip().isdigit():
        return float(headers["Retry-After"])
    reset = headers.get("X-RateLimit-Reset", "").strip()
    if reset.isdigit():
        return max(0.0, float(reset) - datetime.now(UTC).timestamp())
    return None


def _describe(exc: BaseException) -> str:
    status = _api_error_status(exc)
    if status is not None:
        text = str(exc).strip().replace("\n", " ")
        if text.lstrip().startswith("<"):
            text = "(HTML error page)"
        return f"HTTP {status}: {text[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _settings_value(settings: Any, name: str) -> Any:
    value = getattr(settings, name, None)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def make_client(settings: Any, api_key: str | None = None, secret_key: str | None = None,
                data_url: str | None = None):  # fmt: skip
    from alpaca.data.historical import StockHistoricalDataClient

    key = api_key or _settings_value(settings, "alpaca_api_key_id")
    secret = secret_key or _settings_value(settings, "alpaca_api_secret_key")
    if not key or not secret:
        raise IngestError(
            "alpaca: no API keys; set APCA_API_KEY_ID and APCA_API_SECRET_KEY (or the Airflow "
            "connection 'alpaca')"
        )
    url = data_url or settings.alpaca_data_url
    return StockHistoricalDataClient(key, secret, url_override=url.rstrip("/") if url else None)


def _params(request: Any) -> dict[str, Any]:
    # Plain strings, exactly what get_stock_bars would send (TimeFrame/enums -> their values).
    out = {}
    for k, v in request.to_request_fields().items():
        out[k] = getattr(v, "value", v)
    return out


def _frame_from_pages(pages: list[dict[str, list[dict]]], tf: Timeframe) -> pd.DataFrame:
    rows_sym: list[str] = []
    records: list[dict] = []
    for page in pages:
        for sym, bars in page.items():
            rows_sym.extend([sym] * len(bars))
            records.extend(bars)
    cols = {"t": "t", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume",
            "vw": "vwap", "n": "trade_count"}  # fmt: skip
    raw = pd.DataFrame.from_records(records, columns=list(cols)) if records else pd.DataFrame(columns=list(cols))  # fmt: skip
    frame = raw.rename(columns=cols)
    frame.insert(0, "symbol", np.asarray(rows_sym, dtype=object))
    t = pd.to_datetime(frame["t"], utc=True, errors="coerce", format="ISO8601")
    if tf.daily:
        # Alpaca stamps a daily bar at 00:00 New York of its session.
        frame.insert(1, "session", t.dt.tz_convert(NY_TZ).dt.tz_localize(None).dt.normalize())
    else:
        frame.insert(1, "ts", t)
    for c in ("open", "high", "low", "close", "volume", "vwap", "trade_count"):
        frame[c] = (
            pd.to_numeric(frame[c], errors="coerce") if len(frame) else frame[c].astype(float)
        )
    return frame


def extract_alpaca(
    symbols: list[str] | None,
    start: str | None,
    end: str | None,
    timeframe: str = "1Day",
    *,
    url: str | None = None,
    incremental: bool = True,
    progress: ProgressSink | None = None,
    settings: Any = None,
    adjustment: str | None = None,
    feed: str | None = None,
    page_size: int = MAX_PAGE,
    symbols_per_request: int = 100,
    api_key: str | None = None,
    secret_key: str | None = None,
    data_url: str | None = None,
    max_retries: int | None = None,
    backoff_max: float | None = None,
    source_name: str = "alpaca",
) -> Batch:
    """Bars for ``symbols`` over [start, end] (dates: whole New York days; or ISO instants)."""
    from alpaca.data.enums import Adjustment, DataFeed
    from alpaca.data.requests import StockBarsRequest

    from tradewind.ingest.loader import read_watermarks
    from tradewind.settings import get_settings

    settings = settings or get_settings()
    tf = parse_timeframe(timeframe)
    if not symbols:
        raise IngestError("alpaca: give --symbols or --universe")
    if end is None:
        raise IngestError("alpaca: an end of the interval is required")
    adjustment = adjustment or settings.alpaca_adjustment
    feed = feed or settings.alpaca_feed
    if not 1 <= page_size <= MAX_PAGE:
        raise IngestError(f"alpaca: page_size must be 1..{MAX_PAGE}")
    try:
        adj_enum, feed_enum = Adjustment(adjustment), DataFeed(feed)
    except ValueError as exc:
        raise IngestError(f"alpaca: {exc}") from None
    policy = RetryPolicy.from_settings(settings, max_retries=max_retries, backoff_max=backoff_max)
    client = make_client(settings, api_key, secret_key, data_url)
    progress = progress or NullProgress()

    lo, hi = _bound(start, end=False), _bound(end, end=True)
    # Watermarks decide what to fetch when incremental; either way they tell which loaded
    # history to re-read for the restatement check.
    marks = read_watermarks(url, tf.storage_source(source_name), tf.label, symbols)
    gap_marks = marks if incremental else {}
    overlap_sessions = int(getattr(settings, "restatement_overlap_sessions", 0) or 0)
    plan: dict[tuple, list[str]] = {}
    up_to_date: list[str] = []
    checks: dict[str, OverlapCheck] = {}
    for sym in symbols:
        ranges = gaps(lo, hi, gap_marks.get(sym), tf)
        if not ranges:
            if sym not in gap_marks:
                raise IngestError(f"alpaca: {sym} has nothing loaded yet: give --start")
            up_to_date.append(sym)
            continue
        # One request brings the new bars and the overlap to compare with what is stored.
        ranges, check = plan_overlap(ranges, marks.get(sym), tf, overlap_sessions)
        if check is not None:
            checks[sym] = check
        plan.setdefault(tuple(ranges), []).append(sym)

    counters = {"requests": 0, "pages": 0}
    fetched: dict[str, list[list[str]]] = {}
    task = progress.task(f"alpaca {tf.label} pages", total=None) if plan else 0

    def fetch(plan: dict[tuple, list[str]]) -> list[dict[str, list[dict]]]:
        pages: list[dict[str, list[dict]]] = []
        units = [
            (rng, group[i : i + symbols_per_request])
            for ranges, group in plan.items()
            for rng in ranges
            for i in range(0, len(group), symbols_per_request)
        ]
        for (a, b), chunk in units:
            request = StockBarsRequest(
                symbol_or_symbols=chunk, timeframe=tf.to_alpaca(), start=a, end=b,
                adjustment=adj_enum, feed=feed_enum,
            )  # fmt: skip
            params = _params(request)
            params["limit"] = page_size
            token: str | None = None
            seen: set[str] = set()
            counters["requests"] += 1
            for sym in chunk:
                fetched.setdefault(sym, []).append([a.isoformat(), b.isoformat()])
            while True:
                page_params = {**params, **({"page_token": token} if token else {})}
                try:
                    response = call_with_retries(
                        lambda p=page_params: client.get("/stocks/bars", p),
                        policy, retryable=_retryable, server_wait=_server_wait,
                        describe=_describe, what=f"alpaca bars page {counters['pages'] + 1}",
                    )  # fmt: skip
                except GaveUp as exc:
                    raise SourceError(
                        f"alpaca: giving up after {exc.attempts} attempts in {exc.seconds:.1f}s: "
                        f"{_describe(exc.last)}"
                    ) from None
                except Exception as exc:  # noqa: BLE001 - not retryable: one clear line
                    raise SourceError(f"alpaca: request failed: {_describe(exc)}") from None
                counters["pages"] += 1
                if not isinstance(response, dict) or not isinstance(response.get("bars"), dict):
                    raise SourceError("alpaca: malformed response: no 'bars' object")
                pages.append(response["bars"])
                progress.advance(task)
                token = response.get("next_page_token")
                if not token:
                    break
                if token in seen or counters["pages"] >= _MAX_PAGES:
                    raise SourceError("alpaca: the server repeats a page token (pagination loop)")
                seen.add(token)
        return pages

    frame = _frame_from_pages(fetch(plan), tf)
    notes: list[str] = []
    restated: dict[str, Restatement] = {}
    if checks:
        frame, restated, note = check_overlap(
            frame, tf, url, tf.storage_source(source_name), marks, checks
        )
        notes.append(note)
        if restated:
            # The whole history of each restated series, again: the loader replaces it.
            again: dict[tuple, list[str]] = {}
            for sym in restated:
                first = marks[sym][0].to_pydatetime()
                since = first if lo is None else min(lo, first)
                # The batch's interval widens to the re-pulled history (the gate refuses bars
                # outside the requested interval).
                start = _widen(start, since)
                again.setdefault(((since, hi),), []).append(sym)
            frame = frame[~frame["symbol"].isin(list(restated))]
            frame = pd.concat([frame, _frame_from_pages(fetch(again), tf)], ignore_index=True)
            notes.append(f"restated by the vendor, whole history re-pulled: {', '.join(restated)}")
    n_requests, n_pages = counters["requests"], counters["pages"]
    got = set(frame["symbol"].unique().tolist()) if len(frame) else set()
    asked = [s for ranges, group in plan.items() for s in group]
    if up_to_date:
        notes.insert(0, f"{len(up_to_date)} symbol(s) already loaded up to {end}: nothing fetched")
    meta = BatchMeta(
        source=source_name,
        timeframe=tf.label,
        adjustment=str(adj_enum.value),
        symbols=list(symbols),
        start=start,  # widened to a restated series' whole history
        end=end,
        params={
            "feed": str(feed_enum.value),
            "page_size": page_size,
            "incremental": incremental,
            "restated": {sym: asdict(r) | {"detail": r.detail} for sym, r in restated.items()},
        },  # fmt: skip
        missing_symbols=sorted(s for s in asked if s not in got),
        notes=notes,
        requests=n_requests,
        pages=n_pages,
        fetched=fetched,
    )
    return Batch(frame=frame.reset_index(drop=True), meta=meta)


def _widen(start: str | None, since: datetime) -> str | None:
    """``start`` moved back to the New York date of ``since`` when that is earlier."""
    if start is None:
        return None
    day = pd.Timestamp(since).tz_convert(NY_TZ).date()
    text = str(start).strip()
    if len(text) <= 10:
        return min(date.fromisoformat(text), day).isoformat()
    return min(pd.Timestamp(_bound(text, end=False)), pd.Timestamp(since)).isoformat()
