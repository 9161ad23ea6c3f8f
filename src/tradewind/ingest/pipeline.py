"""The staged ingestion API (one stage per Airflow task, data handed over as files) and the
one-call :func:`run_ingest` the CLI uses.

    batch = extract("alpaca", ["AAPL", "MSFT"], "2015-01-02", "2015-03-31", "1Day")
    batch.save(p1)                                  # task 1
    validated = validate(Batch.load(p1), as_of=t)   # task 2: the quality gate
    validated.save(p2)
    summary = load(ValidatedBatch.load(p2))         # task 3

Runs are keyed on the requested interval and an explicit ``as_of`` instant (the moment the data
is taken to be observed; bars not complete by then are refused), never on the wall clock: only
the CLI turns "now" into an ``as_of``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from tradewind.ingest.batch import Batch, LoadSummary, ValidatedBatch
from tradewind.ingest.errors import IngestError, SourceError
from tradewind.ingest.loader import load as _load
from tradewind.ingest.loader import record_failed_run
from tradewind.ingest.progress import ProgressSink
from tradewind.ingest.quality import screen
from tradewind.ingest.quality import validate as _validate
from tradewind.ingest.timeframes import parse_timeframe

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("alpaca", "quandl", "csv", "synthetic")


def as_utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise IngestError(f"as_of must be a timezone-aware instant, got {value!r}")
    return ts.tz_convert("UTC")


def default_end(timeframe: str, as_of: datetime | str | pd.Timestamp) -> str:
    """The newest complete data at ``as_of``: the last closed session (daily) or as_of."""
    from tradewind.calendar import last_closed_session

    ts = as_utc(as_of)
    if parse_timeframe(timeframe).daily:
        return last_closed_session(ts.to_pydatetime()).isoformat()
    return ts.isoformat()


def resolve_symbols(
    symbols: list[str] | str | None,
    universe: str | None,
    start: str | date | None,
    end: str | date | None,
) -> list[str] | None:
    """Explicit symbols, plus the members of ``universe`` over [start, end]."""
    from tradewind.ingest.universe_load import symbols_for

    out: list[str] = []
    if symbols:
        items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
        out += [s.strip().upper() for s in items if s and s.strip()]
    if universe:
        out += symbols_for(universe, start, end)
    return sorted(set(out)) if (symbols or universe) else None


def extract(
    source: str,
    symbols: list[str] | str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    timeframe: str = "1Day",
    *,
    universe: str | None = None,
    url: str | None = None,
    incremental: bool = True,
    progress: ProgressSink | None = None,
    **opts: Any,
) -> Batch:
    """Fetch bars from ``source`` into a :class:`Batch` (no database writes).

    ``alpaca``/``quandl`` read the watermarks (``url``) to fetch only what is not loaded yet
    when ``incremental``; ``csv`` takes ``paths=`` (and ``layout=``); ``synthetic`` takes
    ``model=``/``seed=``. Other ``opts`` go to the source (see each module).
    """
    start = None if start is None else str(start)
    end = None if end is None else str(end)
    syms = resolve_symbols(symbols, universe, start, end)
    if source == "alpaca":
        from tradewind.ingest.alpaca_source import extract_alpaca

        return extract_alpaca(
            syms, start, end, timeframe, url=url, incremental=incremental, progress=progress,
            **opts,
        )  # fmt: skip
    if source == "quandl":
        from tradewind.ingest.ndl_source import extract_quandl

        return extract_quandl(
            syms, start, end, timeframe, url=url, incremental=incremental, progress=progress,
            **opts,
        )  # fmt: skip
    if source == "csv":
        from tradewind.ingest.csv_source import extract_csv

        paths = opts.pop("paths", None)
        if not paths:
            raise IngestError("csv: give the files or folders to read (paths=...)")
        return extract_csv(paths, syms, start, end, timeframe, progress=progress, **opts)
    if source == "synthetic":
        from tradewind.ingest.synthetic_source import extract_synthetic

        return extract_synthetic(syms, start, end, timeframe, progress=progress, **opts)
    raise IngestError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")


def validate(batch: Batch, as_of: datetime | str | pd.Timestamp) -> ValidatedBatch:
    """The data-quality gate (see :mod:`tradewind.ingest.quality`)."""
    return _validate(batch, as_of=as_utc(as_of))


def load(
    validated: ValidatedBatch,
    url: str | None = None,
    *,
    strict: bool = False,
    on_staged: Callable[[], None] | None = None,
    gate_check: Any | None = None,
) -> LoadSummary:
    """Load one validated batch in one transaction (see :mod:`tradewind.ingest.loader`)."""
    return _load(validated, url, strict=strict, on_staged=on_staged, gate_check=gate_check)


def run_ingest(
    source: str,
    symbols: list[str] | str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    timeframe: str = "1Day",
    *,
    as_of: datetime | str | pd.Timestamp,
    universe: str | None = None,
    strict: bool = False,
    url: str | None = None,
    incremental: bool = True,
    progress: ProgressSink | None = None,
    **opts: Any,
) -> LoadSummary:
    """extract -> validate -> load in one call; every run is logged in ``ops.ingest_runs``.

    ``end`` defaults, for the APIs, to the newest complete data at ``as_of``. Raises ``BatchRejected``,
    ``StrictModeError`` or ``SourceError`` (all ``IngestError``) after logging the run.
    """
    from tradewind.db import warehouse_url

    tf = parse_timeframe(timeframe)
    as_of_ts = as_utc(as_of)
    if end is None and source in ("alpaca", "quandl") and not opts.get("file"):
        # An API is asked for what exists at as_of; files are taken whole and the gate judges
        # their last rows (a partial bar of an open session is quarantined, not skipped).
        end = default_end(tf.label, as_of_ts)
    end = None if end is None else str(end)
    url = url or warehouse_url()
    if source == "csv":
        opts["strict"] = strict  # strict also refuses files that hold no bars
    try:
        batch = extract(
            source, symbols, start, end, tf.label, universe=universe, url=url,
            incremental=incremental, progress=progress, **opts,
        )  # fmt: skip
    except SourceError as exc:
        params = {"symbols": symbols, "universe": universe, "start": start, "end": end,
                  "as_of": as_of_ts.isoformat()}  # fmt: skip
        stored = tf.storage_source(source)
        run_id = record_failed_run(url, stored, tf.label, params, str(exc))
        raise SourceError(f"{exc} (run {run_id} logged as failed)") from exc
    # Great Expectations checks the batch while the database loads it; the load commits only
    # if GE's verdict matches the vectorised one that routed the rows (see loader.load).
    validated, check = screen(batch, as_of_ts)
    return _load(validated, url, strict=strict, gate_check=check)


def demo_ingest(
    url: str | None = None, *, as_of: datetime | str | pd.Timestamp | None = None
) -> list[LoadSummary | Any]:
    """What ``make demo`` loads: the universes, then synthetic DOW30-like daily bars
    2008-01-01..2020-12-31. Idempotent: a second call changes nothing."""
    from tradewind.db import warehouse_url
    from tradewind.ingest.universe_load import load_universe_members
    from tradewind.markets.synthetic import DEMO_END, DEMO_START, DOW30_2020

    url = url or warehouse_url()
    # The demo data ends in 2020: any instant after its last close gives the same result.
    as_of = as_of if as_of is not None else datetime(2021, 1, 4, tzinfo=UTC)
    universes = load_universe_members(url)
    bars = run_ingest(
        "synthetic", list(DOW30_2020), DEMO_START.isoformat(), DEMO_END.isoformat(), "1Day",
        as_of=as_of, url=url,
    )  # fmt: skip
    return [universes, bars]
