"""Loading a validated batch into the warehouse: one transaction per batch.

Inside that transaction: the valid rows are bulk-copied (binary COPY) into a temporary staging
table, upserted into ``raw.bars_daily``/``raw.bars_minute`` in one statement, the watermarks in
``ops.ingest_watermarks`` move with them, corporate actions, quarantined rows and warnings are
written, and the run row in ``ops.ingest_runs`` gets its counts. A crash anywhere before COMMIT
leaves none of it behind; the run row itself is committed first (status ``running``) so that a
crashed run is still visible.

When no row of the batch's source exists yet within any incoming symbol's span (checked inside
the transaction, under an advisory lock that makes loaders of one source and table take turns),
every row is new and the rows are copied straight into the bars table instead: the same outcome
in one pass instead of two, which is what a first or backfill load of a large file set needs.

A series the vendor restated (``meta.params["restated"]``, see ``restatement``) first loses its
stored rows, its watermark restarts and its ``history_version`` moves on; every row a load adds
to a series carries the series' current version (``ops.ingest_watermarks.history_version``).

The upsert only rewrites a row whose values changed (``... DO UPDATE ... WHERE (t.open, ...) IS
DISTINCT FROM (excluded.open, ...)``), so re-running an ingest leaves the bars table untouched;
new and updated rows are told apart by ``xmax = 0`` on the returned rows.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from tradewind.ingest.batch import LoadSummary, ValidatedBatch
from tradewind.ingest.errors import BatchRejected, IngestError, StrictModeError
from tradewind.ingest.timeframes import Timeframe, parse_timeframe

log = logging.getLogger(__name__)

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 (PostgreSQL's epoch) in days since 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000
_FLOATS = ("open", "high", "low", "close", "volume", "vwap", "trade_count")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_CHUNK_ROWS = 50_000  # small enough that the server starts early


@dataclass(frozen=True)
class _Field:
    """One column of a binary COPY tuple: a fixed-width big-endian number (``wire`` e.g. ">f8")
    or text (``wire`` "text": ``values`` an "S" array, ``lengths`` its byte length per row).
    ``values`` may be a scalar (the same value in every row); ``null`` marks NULL rows."""

    wire: str
    values: Any
    null: np.ndarray | None = None
    lengths: np.ndarray | None = None


def _blocks(n: int, fields: list[_Field]) -> list[tuple[int, int]]:
    """Row ranges to encode as one array each: the runs of rows of one shape (every text the
    same length, every nullable field NULL in all or none of them), so that a block has no
    bytes to drop; when the shape changes too often for that (say, vwap missing every other
    row), plain ``_CHUNK_ROWS`` ranges whose extra bytes are dropped by mask instead."""
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for f in fields:
        for per_row in (f.lengths, f.null):
            if per_row is not None and n > 1:
                change |= per_row[1:] != per_row[:-1]
    cuts = np.flatnonzero(change) + 1
    if len(cuts) > max(64, n // 2_000):
        cuts = np.array([], dtype=np.int64)
    edges = np.r_[0, cuts, n]
    out = []
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        out += [(a, min(hi, a + _CHUNK_ROWS)) for a in range(lo, hi, _CHUNK_ROWS)]
    return out


def _encode_tuples(n: int, fields: list[_Field]) -> Iterator[bytes]:
    """Binary COPY tuples of ``n`` rows, in row order (see ``_blocks`` for the pieces).

    Each block is one fixed-width structured array whose bytes are the wire format with every
    field at its widest (text padded to the block's longest value, NULL fields with their data
    bytes); bytes a row does not have (padding, data of a NULL) are dropped with one boolean
    mask, which a block of one shape never needs. Row order: the table receives the rows
    exactly as the frame holds them (a new batch: sorted by symbol and time, so the heap is in
    index order), not grouped by shape. That was first thought to speed up the COPY; it does
    not measurably (same WAL volume and index sizes for the shared set, see RESULTS.md).
    """
    for lo, hi in _blocks(n, fields):
        m = hi - lo
        layout: list[tuple[str, str]] = [("n", ">i2")]
        fill: list[tuple[str, str, Any, Any]] = []  # (length field, data field, length, value)
        holes: list[tuple[str, int, np.ndarray]] = []  # (data field, width, kept per row)
        for i, f in enumerate(fields):
            null = None if f.null is None else f.null[lo:hi]
            scalar = np.ndim(f.values) == 0
            vals = f.values if scalar else f.values[lo:hi]
            if f.wire == "text":
                lens = np.asarray(len(vals)) if scalar else f.lengths[lo:hi]
                width = int(lens.max())
                wire = f"S{max(width, 1)}"
                length: Any = lens
                if not scalar and (lens != width).any():
                    holes.append((f"v{i}", width, lens))
            else:
                wire, width = f.wire, np.dtype(f.wire).itemsize
                length = width
            if null is not None and null.all():
                layout.append((f"l{i}", ">i4"))  # NULL everywhere: no data bytes at all
                fill.append((f"l{i}", "", -1, None))
                continue
            if null is not None and null.any():
                length = np.where(null, -1, length)
                holes.append((f"v{i}", width, ~null))
            layout += [(f"l{i}", ">i4"), (f"v{i}", wire)]
            fill.append((f"l{i}", f"v{i}", length, vals))
        rec = np.empty(m, dtype=np.dtype(layout))
        rec["n"] = len(fields)
        for lname, vname, length, vals in fill:
            rec[lname] = length
            if vname:
                rec[vname] = vals
        if not holes:
            yield rec.tobytes()
            continue
        keep = np.ones((m, rec.dtype.itemsize), dtype=bool)
        for vname, width, kept in holes:
            offset = rec.dtype.fields[vname][1]
            if kept.dtype == bool:  # a NULL's data bytes go
                keep[~kept, offset : offset + width] = False
            else:  # text: the padding past each row's length goes
                keep[:, offset : offset + width] &= np.arange(width) < kept[:, None]
        yield rec.view(np.uint8).reshape(m, -1)[keep].tobytes()


def _symbol_field(frame: pd.DataFrame) -> _Field:
    """The symbol column as text: the few distinct symbols are encoded once, not per row."""
    codes, uniques = pd.factorize(frame["symbol"])
    encoded = [str(u).encode("ascii") for u in uniques]
    table = np.array(encoded, dtype=bytes) if encoded else np.array([], dtype="S1")
    lengths = np.array([len(b) for b in encoded], dtype=np.int64)
    return _Field("text", table[codes], lengths=lengths[codes])


def _time_field(frame: pd.DataFrame, tf: Timeframe) -> _Field:
    """The time column in PostgreSQL's binary form: date = days since 2000-01-01 (int4);
    timestamptz = microseconds since 2000-01-01 UTC (int8)."""
    tcol = tf.time_column
    if tf.daily:
        t = frame[tcol].to_numpy().astype("datetime64[D]").astype(np.int64) - _PG_EPOCH_DAYS
        return _Field(">i4", t)
    us = frame[tcol].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return _Field(">i8", us.astype("datetime64[us]").astype(np.int64) - _PG_EPOCH_US)


def encode_copy_binary(frame: pd.DataFrame, tf: Timeframe) -> list[bytes]:
    """The staging rows (symbol, time, 7 x float8) as PostgreSQL binary COPY tuples, in the
    frame's row order. NaN travels as float8 NaN and is turned into NULL by the upsert (vwap,
    trade_count). Returns chunks without header/trailer."""
    if frame.empty:
        return []
    fields = [_symbol_field(frame), _time_field(frame, tf)]
    fields += [_Field(">f8", frame[c].to_numpy(dtype=np.float64)) for c in _FLOATS]
    return list(_encode_tuples(len(frame), fields))


def encode_copy_binary_target(
    frame: pd.DataFrame, tf: Timeframe, source: str, adjustment: str, run_id: int | None
) -> Iterator[bytes]:
    """Rows in the bars table's own layout, for a binary COPY straight into it, in the frame's
    row order: (source, symbol, time, open, high, low, close, volume, vwap, trade_count,
    adjustment, run_id); vwap and trade_count are NULL where missing."""
    if frame.empty:
        return
    vwap = frame["vwap"].to_numpy(dtype=np.float64)
    count = frame["trade_count"].to_numpy(dtype=np.float64)
    count_null = np.isnan(count)
    counts = np.rint(np.where(count_null, 0.0, count)).astype(np.int64)
    fields = [_Field("text", source.encode()), _symbol_field(frame), _time_field(frame, tf)]
    fields += [_Field(">f8", frame[c].to_numpy(dtype=np.float64)) for c in _FLOATS[:5]]
    fields += [_Field(">f8", vwap, null=np.isnan(vwap)), _Field(">i8", counts, null=count_null)]
    fields += [_Field("text", adjustment.encode())]
    fields += [_Field(">i8", 0 if run_id is None else run_id,
                      null=np.full(len(frame), run_id is None))]  # fmt: skip
    yield from _encode_tuples(len(frame), fields)


def _stage_ddl(tf: Timeframe) -> str:
    t_type = "date" if tf.daily else "timestamptz"
    floats = ", ".join(f"{c} float8" for c in _FLOATS)
    return (
        f"create temp table _tw_stage (symbol text, {tf.time_column} {t_type}, {floats}) "
        "on commit drop"
    )


def _lock_key(tf: Timeframe, source: str) -> str:
    return f"tradewind.ingest:{tf.table}:{source}"


def symbol_spans(frame: pd.DataFrame, tf: Timeframe) -> pd.DataFrame:
    """Per symbol: first and last time and row count (frame sorted by symbol, then time)."""
    sym = frame["symbol"].to_numpy()
    t = frame[tf.time_column]
    starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]])
    ends = np.r_[starts[1:], len(sym)] - 1
    out = pd.DataFrame({"symbol": sym[starts], "lo": t.iloc[starts].to_numpy(),
                        "hi": t.iloc[ends].to_numpy(), "n": ends - starts + 1})  # fmt: skip
    if tf.daily:
        out["lo"] = [d.date() for d in pd.DatetimeIndex(out["lo"])]
        out["hi"] = [d.date() for d in pd.DatetimeIndex(out["hi"])]
    else:
        out["lo"] = list(pd.DatetimeIndex(out["lo"], tz="UTC").to_pydatetime())
        out["hi"] = list(pd.DatetimeIndex(out["hi"], tz="UTC").to_pydatetime())
    return out


def _span_sql(tf: Timeframe) -> str:
    t_type = "date" if tf.daily else "timestamptz"
    inst = "({c}::timestamp at time zone 'America/New_York')" if tf.daily else "{c}"
    return (
        "create temp table _tw_span on commit drop as select symbol, lo, hi, n, "
        f"{inst.format(c='lo')} as first_time, {inst.format(c='hi')} as last_time "
        f"from unnest(%(s)s::text[], %(lo)s::{t_type}[], %(hi)s::{t_type}[], %(n)s::bigint[]) "
        "as x(symbol, lo, hi, n)"
    )


def _overlap_sql(tf: Timeframe) -> str:
    """Does the target already hold any row of this source inside a staged symbol's span?"""
    t = tf.time_column
    return (
        "select exists (select 1 from _tw_span s where exists (select 1 from "
        f"{tf.table} b where b.source = %(source)s and b.symbol = s.symbol "
        f"and b.{t} between s.lo and s.hi))"
    )


def _upsert_sql(tf: Timeframe) -> str:
    t = tf.time_column
    cols = "open, high, low, close, volume, vwap, trade_count, adjustment"
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols.split(", "))
    insert = f"""
    insert into {tf.table} as b
        (source, symbol, {t}, open, high, low, close, volume, vwap, trade_count, adjustment,
         run_id)
    select %(source)s, symbol, {t}, open, high, low, close, volume, nullif(vwap, 'NaN'),
           nullif(trade_count, 'NaN')::bigint, %(adjustment)s, %(run_id)s
    from _tw_stage"""
    return f"""
with up as ({insert}
    on conflict (source, symbol, {t}) do update
        set {sets}, ingested_at = now(), run_id = excluded.run_id
        where (b.{cols.replace(", ", ", b.")})
              is distinct from (excluded.{cols.replace(", ", ", excluded.")})
    returning symbol, (xmax = 0) as inserted
)
select symbol, count(*) filter (where inserted), count(*) filter (where not inserted)
from up group by symbol
"""


_WATERMARK_SQL = """
insert into ops.ingest_watermarks as w
    (source, symbol, timeframe, first_time, last_time, rows_loaded, last_run_id, updated_at)
select %(source)s, s.symbol, %(timeframe)s, s.first_time, s.last_time,
       coalesce(n.n_new, 0), %(run_id)s, now()
from _tw_span s
left join unnest(%(new_symbols)s::text[], %(new_counts)s::bigint[]) as n(symbol, n_new)
    using (symbol)
on conflict (source, symbol, timeframe) do update
    set first_time = least(w.first_time, excluded.first_time),
        last_time = greatest(w.last_time, excluded.last_time),
        rows_loaded = w.rows_loaded + excluded.rows_loaded,
        last_run_id = excluded.last_run_id,
        updated_at = now()
"""


def _write_bars(conn, v: ValidatedBatch, tf: Timeframe, source: str, run_id: int,
                on_staged: Callable[[], None] | None,
                on_copied: Callable[[], None] | None = None) -> tuple[int, int]:  # fmt: skip
    """Stage and upsert; or, when nothing of this source exists yet within the incoming
    symbols' spans, COPY straight into the bars table. Watermarks follow. Returns (new,
    updated)."""
    params = {"source": source, "adjustment": v.meta.adjustment, "run_id": run_id,
              "timeframe": tf.label}  # fmt: skip
    # Loaders of the same source and table take turns, so the overlap answer stays true.
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (_lock_key(tf, source),))
    spans = symbol_spans(v.valid, tf)
    conn.execute(
        _span_sql(tf),
        {"s": spans["symbol"].tolist(), "lo": spans["lo"].tolist(), "hi": spans["hi"].tolist(),
         "n": spans["n"].tolist()},
    )  # fmt: skip
    _replace_restated(conn, v, tf, params)
    overlap = conn.execute(_overlap_sql(tf), params).fetchone()[0]
    new_by_symbol: dict[str, int] | None = None
    if not overlap:
        # No row of this source lies in any incoming symbol's span: every row is new, so they
        # are copied straight into the bars table (one pass, like COPY itself) rather than
        # staged and inserted; the outcome is the same as the upsert's.
        if on_copied is not None:
            on_copied()  # GE runs while the server inserts (this thread mostly waits on it)
        cols = f"source, symbol, {tf.time_column}, open, high, low, close, volume, vwap, " \
               "trade_count, adjustment, run_id"  # fmt: skip
        with conn.cursor() as cur, cur.copy(f"copy {tf.table} ({cols}) from stdin (format binary)") as cp:  # fmt: skip
            cp.write(_COPY_HEADER)
            for chunk in encode_copy_binary_target(v.valid, tf, source, v.meta.adjustment, run_id):
                cp.write(chunk)
            cp.write(_COPY_TRAILER)
        if on_staged is not None:
            on_staged()
        n_new, n_updated = len(v.valid), 0
    else:
        conn.execute(_stage_ddl(tf))
        with conn.cursor() as cur, cur.copy("copy _tw_stage from stdin (format binary)") as cp:
            cp.write(_COPY_HEADER)
            for chunk in encode_copy_binary(v.valid, tf):
                cp.write(chunk)
            cp.write(_COPY_TRAILER)
        if on_copied is not None:
            on_copied()
        if on_staged is not None:
            on_staged()
        rows = conn.execute(_upsert_sql(tf), params).fetchall()
        new_by_symbol = {sym: int(n) for sym, n, _ in rows}
        n_new, n_updated = sum(r[1] for r in rows), sum(r[2] for r in rows)
    if new_by_symbol is None:
        new_by_symbol = dict(zip(spans["symbol"].tolist(), spans["n"].tolist(), strict=True))
    conn.execute(
        _WATERMARK_SQL,
        {**params, "new_symbols": list(new_by_symbol), "new_counts": list(new_by_symbol.values())},
    )
    # Rows this run wrote into a series past its first history carry that history's version.
    conn.execute(_VERSION_SQL.format(table=tf.table), params)
    return int(n_new), int(n_updated)


# Restatement (see restatement.py): the series' old history goes, its watermark restarts at
# the re-pulled span and its history_version moves on, all in the load's transaction.
_RESTATE_SQL = """
update ops.ingest_watermarks w
set first_time = s.first_time, last_time = s.last_time, rows_loaded = 0,
    history_version = w.history_version + 1, restated_at = now()
from _tw_span s
where w.source = %(source)s and w.timeframe = %(timeframe)s and w.symbol = s.symbol
  and w.symbol = any(%(restated)s)
returning w.symbol, w.history_version
"""
_VERSION_SQL = """
update {table} b set history_version = w.history_version
from ops.ingest_watermarks w
where w.source = %(source)s and w.timeframe = %(timeframe)s and w.history_version <> 1
  and b.source = w.source and b.symbol = w.symbol and b.run_id = %(run_id)s
  and b.history_version <> w.history_version
"""


def _replace_restated(conn, v: ValidatedBatch, tf: Timeframe, params: dict) -> dict[str, int]:
    """Delete the stored history of the batch's restated series and bump their version.
    Returns {symbol: new history_version}."""
    wanted = list((v.meta.params.get("restated") or {}).keys())
    if not wanted:
        return {}
    present = set(v.valid["symbol"].unique().tolist())
    symbols = [s for s in wanted if s in present]
    if not symbols:
        return {}
    conn.execute(
        f"delete from {tf.table} where source = %(source)s and symbol = any(%(restated)s)",
        {**params, "restated": symbols},
    )
    rows = conn.execute(_RESTATE_SQL, {**params, "restated": symbols}).fetchall()
    return {sym: int(ver) for sym, ver in rows}


_ACTIONS_SQL = """
create temp table _tw_actions (symbol text, ex_date date, action text, value float8)
    on commit drop;
"""
_ACTIONS_UPSERT = """
insert into raw.corporate_actions as a (source, symbol, ex_date, action, value, run_id)
select %(source)s, symbol, ex_date, action, value, %(run_id)s from _tw_actions
on conflict (source, symbol, ex_date, action) do update
    set value = excluded.value, run_id = excluded.run_id, ingested_at = now()
    where a.value is distinct from excluded.value
"""


_BENCHMARKS_SQL = """
insert into ref.benchmarks (symbol, source, first_run_id)
select symbol, %(source)s, %(run_id)s from unnest(%(symbols)s::text[]) as x(symbol)
on conflict (symbol) do nothing
"""


def _write_benchmarks(conn, v: ValidatedBatch, run_id: int, source: str) -> None:
    """Register the batch's index series (``^DJI``: see csv_source) as benchmarks, with the bars."""
    wanted = v.meta.params.get("benchmarks") or []
    loaded = set(v.valid["symbol"].unique().tolist()) if len(v.valid) else set()
    symbols = [s for s in wanted if s in loaded]
    if symbols:
        conn.execute(_BENCHMARKS_SQL, {"source": source, "run_id": run_id, "symbols": symbols})


def _run_params(v: ValidatedBatch, strict: bool, extra: dict[str, Any] | None) -> str:
    m = v.meta
    params = {
        "symbols": m.symbols,
        "start": m.start,
        "end": m.end,
        "as_of": v.as_of,
        "adjustment": m.adjustment,
        "strict": strict,
        "requests": m.requests,
        "pages": m.pages,
        "missing_symbols": m.missing_symbols,
        "notes": m.notes,
        "validation_seconds": round(v.seconds, 3),
        **m.params,
        **(extra or {}),
    }
    if m.symbols and len(m.symbols) > 50:
        params["symbols"] = f"{len(m.symbols)} symbols"
    return json.dumps(params, default=str)


def start_run(
    conn: psycopg.Connection, source: str, timeframe: str, params: str, rows_in: int
) -> int:
    with conn.transaction():
        row = conn.execute(
            "insert into ops.ingest_runs (source, timeframe, params, rows_in) "
            "values (%s, %s, %s::jsonb, %s) returning run_id",
            (source, timeframe, params, rows_in),
        ).fetchone()
    return int(row[0])


def finish_run(
    conn: psycopg.Connection, run_id: int, status: str, message: str, **counts: int
) -> None:
    sets = ", ".join(f"{k} = %({k})s" for k in counts)
    conn.execute(
        "update ops.ingest_runs set status = %(status)s, message = %(message)s, "
        f"finished_at = now(){', ' + sets if sets else ''} where run_id = %(run_id)s",
        {"status": status, "message": message, "run_id": run_id, **counts},
    )


def record_failed_run(
    url: str | None, source: str, timeframe: str, params: dict[str, Any], message: str
) -> int:
    """A run that failed before it had a batch (source unreachable, bad arguments)."""
    from tradewind.db import connect

    with connect(url, autocommit=True) as conn:
        run_id = start_run(conn, source, timeframe, json.dumps(params, default=str), 0)
        finish_run(conn, run_id, "failed", message[:2000])
    return run_id


def _write_quarantine(conn, v: ValidatedBatch, run_id: int, source: str) -> None:
    if v.quarantined.empty:
        return
    tf = v.meta.timeframe
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy ops.quarantine (run_id, source, timeframe, symbol, bar_time, reasons, payload) "
            "from stdin"
        ) as cp,
    ):
        for sym, bar_time, reasons, payload in zip(
            v.quarantined["symbol"], v.quarantined["bar_time"], v.quarantined["reasons"],
            v.quarantined["payload"], strict=True,
        ):  # fmt: skip
            cp.write_row((run_id, source, tf, sym, bar_time, list(reasons), payload))


def _restatement_warnings(v: ValidatedBatch) -> pd.DataFrame | None:
    """One ``restatement`` warning per restated series of the batch (see restatement.py)."""
    restated = v.meta.params.get("restated") or {}
    if not restated:
        return None
    return pd.DataFrame(
        {
            "symbol": list(restated),
            "bar_time": [r.get("bar_time", "") for r in restated.values()],
            "kind": "restatement",
            "detail": [r.get("detail", "") for r in restated.values()],
        }
    )


def _write_warnings(conn, v: ValidatedBatch, run_id: int, source: str) -> None:
    if v.warnings.empty:
        return
    tf = v.meta.timeframe
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy ops.data_warnings (run_id, source, timeframe, symbol, bar_time, kind, detail) "
            "from stdin"
        ) as cp,
    ):
        for row in v.warnings[["symbol", "bar_time", "kind", "detail"]].itertuples(index=False):
            cp.write_row((run_id, source, tf, row.symbol or "?", row.bar_time or "", row.kind,
                          row.detail))  # fmt: skip


def _write_actions(conn, v: ValidatedBatch, run_id: int, source: str) -> int:
    if v.actions.empty:
        return 0
    conn.execute(_ACTIONS_SQL)
    with conn.cursor() as cur, cur.copy("copy _tw_actions from stdin") as cp:
        for row in v.actions.itertuples(index=False):
            cp.write_row((row.symbol, pd.Timestamp(row.ex_date).date(), row.action, row.value))
    cur = conn.execute(_ACTIONS_UPSERT, {"source": source, "run_id": run_id})
    return cur.rowcount


def _summary(v: ValidatedBatch, run_id: int | None, status: str, t0: float, **kw) -> LoadSummary:
    warned = v.warnings
    return LoadSummary(
        run_id=run_id,
        source=v.meta.storage_source,
        timeframe=v.meta.timeframe,
        status=status,
        rows_in=v.rows_in,
        rows_quarantined=len(v.quarantined),
        rows_warned=len(warned),
        symbols=int(v.valid["symbol"].nunique()) if len(v.valid) else 0,
        seconds=time.perf_counter() - t0 + v.seconds,
        quarantine_reasons=dict(v.reason_counts()),
        quarantine_where=v.where() if len(v.quarantined) else "",
        warning_kinds=warned["kind"].value_counts().to_dict() if len(warned) else {},
        notes=list(v.meta.notes),
        **kw,
    )


class _GateThread:
    """Runs Great Expectations' half of the gate while the database works on the load. Started
    once the rows are staged, so GE does not compete with encoding them for the GIL."""

    def __init__(self, check: Any) -> None:
        import threading

        self.gate: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(check,), daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def _run(self, check: Any) -> None:
        try:
            self.gate = check.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the loading thread
            self.error = exc

    def result(self) -> list[dict[str, Any]]:
        self.start()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.gate or []


def load(
    validated: ValidatedBatch,
    url: str | None = None,
    *,
    strict: bool = False,
    on_staged: Callable[[], None] | None = None,
    run_params: dict[str, Any] | None = None,
    gate_check: Any | None = None,
) -> LoadSummary:
    """Write one validated batch in one transaction and log the run; see the module docstring.

    ``strict``: any quarantined row fails the run (the quarantine is still recorded, no bar is
    loaded). A rejected batch is logged and raises ``BatchRejected``. ``on_staged`` runs after
    the COPY into staging and before the upsert (tests use it to crash the process there).
    ``gate_check``: Great Expectations' half of the gate (``quality.screen``) still to run; it
    runs while the database loads, and the transaction commits only if it agrees.
    """
    from tradewind.db import connect

    t0 = time.perf_counter()
    v = validated
    extra = _restatement_warnings(v)
    if extra is not None and v.ok:
        v.warnings = pd.concat([v.warnings, extra], ignore_index=True)
    tf = parse_timeframe(v.meta.timeframe)
    source = v.meta.storage_source
    gate = _GateThread(gate_check) if gate_check is not None else None
    with connect(url, autocommit=True) as conn:
        run_id = start_run(conn, source, tf.label, _run_params(v, strict, run_params), v.rows_in)
        if not v.ok:
            msg = f"batch rejected, nothing loaded: {v.rejection}"
            finish_run(conn, run_id, "rejected", msg)
            raise BatchRejected(f"{source} {tf.label} run {run_id}: {msg}")
        if strict and len(v.quarantined):
            if gate is not None:
                v.gate = gate.result()
            with conn.transaction():
                _write_quarantine(conn, v, run_id, source)
                _write_warnings(conn, v, run_id, source)
                summary = _summary(v, run_id, "rejected", t0)
                summary.message = (
                    f"strict mode: {len(v.quarantined)} row(s) quarantined, nothing loaded"
                )
                finish_run(
                    conn, run_id, "rejected", summary.line(),
                    rows_quarantined=len(v.quarantined), rows_warned=len(v.warnings),
                )  # fmt: skip
            raise StrictModeError(summary.line())
        try:
            with conn.transaction():
                n_new = n_updated = 0
                if len(v.valid):
                    n_new, n_updated = _write_bars(
                        conn, v, tf, source, run_id, on_staged, gate.start if gate else None
                    )
                actions = _write_actions(conn, v, run_id, v.meta.source)
                _write_benchmarks(conn, v, run_id, source)
                _write_quarantine(conn, v, run_id, source)
                _write_warnings(conn, v, run_id, source)
                if gate is not None:
                    v.gate = gate.result()  # raises QualityGateError: the transaction rolls back
                summary = _summary(
                    v, run_id, "succeeded", t0, rows_new=n_new, rows_updated=n_updated,
                    rows_unchanged=len(v.valid) - n_new - n_updated, actions_loaded=actions,
                )  # fmt: skip
                conn.execute(
                    "update ops.ingest_runs set params = params || %s::jsonb where run_id = %s",
                    (json.dumps({"gate": v.gate}, default=str), run_id),
                )
                finish_run(
                    conn, run_id, "succeeded", summary.line(),
                    rows_new=summary.rows_new, rows_updated=summary.rows_updated,
                    rows_unchanged=summary.rows_unchanged,
                    rows_quarantined=summary.rows_quarantined, rows_warned=summary.rows_warned,
                )  # fmt: skip
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            finish_run(conn, run_id, "failed", f"load failed, nothing loaded: {reason}")
            raise IngestError(f"{source} {tf.label} run {run_id}: load failed: {reason}") from exc
        except IngestError as exc:
            finish_run(conn, run_id, "failed", f"nothing loaded: {exc}")
            raise
    summary.seconds = time.perf_counter() - t0 + v.seconds
    return summary


def read_watermarks(
    url: str | None, source: str, timeframe: str, symbols: list[str] | None = None
) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """``{symbol: (first_time, last_time)}`` (aware UTC instants; daily: 00:00 New York)."""
    from tradewind.db import connect

    sql = (
        "select symbol, first_time, last_time from ops.ingest_watermarks "
        "where source = %s and timeframe = %s"
    )
    args: list[Any] = [source, timeframe]
    if symbols is not None:
        sql += " and symbol = any(%s)"
        args.append(list(symbols))
    with connect(url) as conn:
        rows = conn.execute(sql, args).fetchall()
    return {
        s: (pd.Timestamp(a).tz_convert("UTC"), pd.Timestamp(b).tz_convert("UTC"))
        for s, a, b in rows
    }
