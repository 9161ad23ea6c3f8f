"""Quandl WIKI prices: the ``WIKI/PRICES`` datatable through the official nasdaq-data-link
client, or the bulk WIKI prices CSV file many users already hold (``file=``).

The client is configured through its global ``ApiConfig`` (key, ``api_base`` =
``TRADEWIND_NDL_API_BASE`` when set, and ``api_protocol = "http://"`` for an http base, without
which the SDK's own retries are not mounted); the configuration is restored afterwards. Pages
(``qopts.cursor_id``) are followed here, one ``Datatable.data`` call per page, so each page gets
bounded backoff-with-jitter retries on top of the SDK's, and ``get_table``'s page cap (whose
LimitExceededError message embeds the API key) never applies. Every error message is scrubbed
of the key before it is raised or logged.

``adjustment="all"`` (default) loads the ``adj_*`` columns, ``raw`` the unadjusted ones;
``ex-dividend`` and ``split_ratio`` become rows of ``raw.corporate_actions`` either way.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

import pandas as pd

from tradewind.ingest.batch import ACTION_COLUMNS, Batch, BatchMeta, empty_actions
from tradewind.ingest.csv_source import WIKI_COLUMNS, expand_paths, wiki_actions, wiki_frame
from tradewind.ingest.errors import IngestError, SourceError
from tradewind.ingest.progress import NullProgress, ProgressSink
from tradewind.ingest.restatement import OverlapCheck, Restatement, check_overlap, plan_overlap
from tradewind.ingest.retry import GaveUp, RetryPolicy, call_with_retries
from tradewind.ingest.timeframes import parse_timeframe

log = logging.getLogger(__name__)

DATATABLE = "WIKI/PRICES"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_PAGES = 100_000
_CONFIG_LOCK = threading.Lock()  # ApiConfig is process-global


def _scrub(text: str, key: str | None) -> str:
    return text.replace(key, "***") if key else text


@contextmanager
def _api_config(key: str | None, base: str | None, sdk_retries: int | None,
                sdk_backoff: float | None):  # fmt: skip
    from nasdaqdatalink import ApiConfig

    names = ("api_key", "api_base", "api_protocol", "number_of_retries", "retry_backoff_factor",
             "page_limit")  # fmt: skip
    with _CONFIG_LOCK:
        saved = {n: getattr(ApiConfig, n) for n in names}
        try:
            ApiConfig.api_key = key
            if base:
                ApiConfig.api_base = base.rstrip("/")
                ApiConfig.api_protocol = "http://" if base.startswith("http://") else "https://"
            if sdk_retries is not None:
                ApiConfig.number_of_retries = sdk_retries
            if sdk_backoff is not None:
                ApiConfig.retry_backoff_factor = sdk_backoff
            yield ApiConfig
        finally:
            for n, v in saved.items():
                setattr(ApiConfig, n, v)


def _retryable(exc: BaseException) -> bool:
    import requests
    from nasdaqdatalink.errors.data_link_error import DataLinkError

    if isinstance(exc, DataLinkError):
        return exc.http_status in _RETRY_STATUS
    return isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    )


def _page_frame(page: Any) -> pd.DataFrame:
    columns = list(page.meta["columns"])
    return pd.DataFrame(page.to_list(), columns=columns)


def extract_quandl(
    symbols: list[str] | None,
    start: str | None,
    end: str | None,
    timeframe: str = "1Day",
    *,
    url: str | None = None,
    incremental: bool = True,
    progress: ProgressSink | None = None,
    settings: Any = None,
    adjustment: str = "all",
    file: str | None = None,
    page_size: int = 10_000,
    tickers_per_request: int = 100,
    api_key: str | None = None,
    api_base: str | None = None,
    max_retries: int | None = None,
    backoff_max: float | None = None,
    sdk_retries: int | None = None,
    sdk_backoff: float | None = None,
    source_name: str = "quandl",
) -> Batch:
    """WIKI daily bars for ``symbols`` over [start, end] (ISO dates), from the API or ``file``."""
    from tradewind.settings import get_settings

    tf = parse_timeframe(timeframe)
    if not tf.daily:
        raise IngestError("quandl: WIKI prices are daily: use --timeframe 1Day")
    if adjustment not in ("raw", "all"):
        raise IngestError("quandl: adjustment is 'all' (adj_* columns) or 'raw'")
    if file is not None:
        from tradewind.ingest.csv_source import extract_csv

        batch = extract_csv(expand_paths(file), symbols, start, end, tf.label, layout="wiki",
                            adjustment=adjustment, source_name=source_name)  # fmt: skip
        batch.meta.params["file"] = str(file)
        return batch
    if not symbols:
        raise IngestError("quandl: give --symbols or --universe (or --file for the bulk file)")
    settings = settings or get_settings()
    key = api_key or (settings.ndl_api_key.get_secret_value() if settings.ndl_api_key else None)
    base = api_base or settings.ndl_api_base
    policy = RetryPolicy.from_settings(settings, max_retries=max_retries, backoff_max=backoff_max)
    progress = progress or NullProgress()

    from tradewind.ingest.alpaca_source import _bound, _widen, gaps
    from tradewind.ingest.loader import read_watermarks

    lo, hi = _bound(start, end=False), _bound(end, end=True)
    if hi is None:
        raise IngestError("quandl: an end of the interval is required")
    marks = read_watermarks(url, source_name, tf.label, symbols)
    gap_marks = marks if incremental else {}
    overlap_sessions = int(getattr(settings, "restatement_overlap_sessions", 0) or 0)
    plan: dict[tuple, list[str]] = {}
    up_to_date = []
    checks: dict[str, OverlapCheck] = {}
    for sym in symbols:
        ranges = gaps(lo, hi, gap_marks.get(sym), tf)
        if not ranges:
            if sym not in gap_marks:
                raise IngestError(f"quandl: {sym} has nothing loaded yet: give --start")
            up_to_date.append(sym)
            continue
        if adjustment != "raw":
            # Adjusted WIKI history changes with every later split or dividend: re-read the
            # last loaded sessions with the new ones (see tradewind.ingest.restatement).
            ranges, check = plan_overlap(ranges, marks.get(sym), tf, overlap_sessions)
            if check is not None:
                checks[sym] = check
        plan.setdefault(tuple(_ny_days(ranges)), []).append(sym)

    counters = {"requests": 0, "pages": 0}
    task = progress.task("quandl WIKI/PRICES pages", total=None) if plan else 0

    def fetch(plan: dict[tuple, list[str]]) -> list[pd.DataFrame]:
        frames: list[pd.DataFrame] = []
        units = [
            (rng, group[i : i + tickers_per_request])
            for ranges, group in plan.items()
            for rng in ranges
            for i in range(0, len(group), tickers_per_request)
        ]
        with _api_config(key, base, sdk_retries, sdk_backoff):
            from nasdaqdatalink.model.datatable import Datatable

            for (a, b), chunk in units:
                counters["requests"] += 1
                params: dict[str, Any] = {"ticker": list(chunk), "date": {"gte": a, "lte": b},
                                          "qopts.per_page": page_size}  # fmt: skip
                cursor = None
                seen: set[str] = set()
                while True:
                    page_params = {**params, **({"qopts.cursor_id": cursor} if cursor else {})}
                    try:
                        page = call_with_retries(
                            lambda p=page_params: Datatable(DATATABLE).data(params=p),
                            policy, retryable=_retryable,
                            describe=lambda e: _scrub(f"{type(e).__name__}: {e}", key),
                            what=f"quandl page {counters['pages'] + 1}",
                        )  # fmt: skip
                    except GaveUp as exc:
                        msg = _scrub(f"{type(exc.last).__name__}: {exc.last}", key)
                        raise SourceError(
                            f"quandl: giving up after {exc.attempts} attempts in "
                            f"{exc.seconds:.1f}s: {msg[:300]}"
                        ) from None
                    except Exception as exc:  # noqa: BLE001 - not retryable: one key-free line
                        msg = _scrub(f"{type(exc).__name__}: {exc}", key)
                        raise SourceError(f"quandl: request failed: {msg[:300]}") from None
                    counters["pages"] += 1
                    frames.append(_page_frame(page))
                    progress.advance(task)
                    cursor = page.meta.get("next_cursor_id")
                    if not cursor:
                        break
                    if cursor in seen or counters["pages"] >= _MAX_PAGES:
                        raise SourceError("quandl: the server repeats a cursor (pagination loop)")
                    seen.add(cursor)
        return frames

    bars, actions = _bars_from_pages(fetch(plan), adjustment)
    notes = [f"{len(up_to_date)} symbol(s) already loaded up to {end}"] if up_to_date else []
    restated: dict[str, Restatement] = {}
    if checks:
        bars, restated, note = check_overlap(bars, tf, url, source_name, marks, checks)
        notes.append(note)
        if restated:
            again: dict[tuple, list[str]] = {}
            for sym in restated:
                first = marks[sym][0].to_pydatetime()
                since = first if lo is None else min(lo, first)
                # The batch's interval widens to the re-pulled history (the gate refuses bars
                # outside the requested interval).
                start = _widen(start, since)
                again.setdefault(tuple(_ny_days([(since, hi)])), []).append(sym)
            more, more_actions = _bars_from_pages(fetch(again), adjustment)
            bars = pd.concat([bars[~bars["symbol"].isin(list(restated))], more],
                             ignore_index=True)  # fmt: skip
            actions = pd.concat([actions, more_actions], ignore_index=True)
            notes.append(f"restated by the vendor, whole history re-pulled: {', '.join(restated)}")
    if len(actions):
        actions = actions.drop_duplicates(["symbol", "ex_date", "action"], keep="last")
    n_requests, n_pages = counters["requests"], counters["pages"]
    got = set(bars["symbol"].unique().tolist()) if len(bars) else set()
    asked = [s for group in plan.values() for s in group]
    meta = BatchMeta(
        source=source_name,
        timeframe=tf.label,
        adjustment=adjustment,
        symbols=list(symbols),
        start=start,  # widened to a restated series' whole history
        end=end,
        params={
            "datatable": DATATABLE,
            "page_size": page_size,
            "incremental": incremental,
            "restated": {sym: asdict(r) | {"detail": r.detail} for sym, r in restated.items()},
        },  # fmt: skip
        missing_symbols=sorted(s for s in asked if s not in got),
        notes=notes,
        requests=n_requests,
        pages=n_pages,
    )
    acts = actions[list(ACTION_COLUMNS)] if len(actions) else empty_actions()
    return Batch(frame=bars.reset_index(drop=True), meta=meta, actions=acts)


def _ny_days(ranges: list[tuple[datetime, datetime]]) -> list[tuple[str, str]]:
    """UTC instant ranges as the New York dates the datatable filters on."""
    return [(pd.Timestamp(a).tz_convert("America/New_York").date().isoformat(),
             pd.Timestamp(b).tz_convert("America/New_York").date().isoformat())
            for a, b in ranges]  # fmt: skip


def _bars_from_pages(frames: list[pd.DataFrame], adjustment: str):
    """Datatable pages -> (canonical bars, corporate actions)."""
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=WIKI_COLUMNS)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if "date" in raw:
        raw["date"] = raw["date"].map(lambda d: d.isoformat() if hasattr(d, "isoformat") else d)
    bars, actions = wiki_frame(raw, adjustment) if len(raw) else (pd.DataFrame(), empty_actions())
    if not len(raw):
        bars = pd.DataFrame(columns=["symbol", "session", "open", "high", "low", "close", "volume"])
    return bars, actions


__all__ = ["extract_quandl", "wiki_actions"]
