"""The daily data-quality report: gaps, stale symbols, quarantined rows and warnings.

Keyed on one session T (the DAG run's data interval), never on the wall clock: the report for T
reads only bars stamped up to T and bookkeeping rows about bars up to T, over a lookback window
of ``lookback`` sessions ending at T. Re-running it for T gives the same report as long as the
warehouse holds the same data.

- gaps: per (source, symbol) seen in ``raw.bars_daily``, the window's sessions on or after its
  first bar that have no bar;
- stale: per (source, symbol, timeframe) watermark in ``ops.ingest_watermarks``, symbols whose
  last loaded bar is before T, with how many sessions behind they are;
- quarantine: rows refused by the quality gate (``ops.quarantine``) whose bar time lies in the
  window, per source, timeframe and reason, each (symbol, bar time) once however often a re-run
  refused it again;
- warnings: non-fatal findings (``ops.data_warnings``) in the window, grouped by kind;
- rejected runs: ingest runs of status ``rejected`` whose requested range touches the window.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tradewind import calendar


@dataclass
class QualityReport:
    session: str
    window_start: str
    sessions_in_window: int
    gaps: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    rejected_runs: list[dict[str, Any]] = field(default_factory=list)
    symbols_with_bars: int = 0

    @property
    def clean(self) -> bool:
        return not (self.gaps or self.stale or self.quarantine or self.rejected_runs)

    def counts(self) -> dict[str, int]:
        return {
            "gap_symbols": len(self.gaps),
            "missing_bars": sum(len(g["missing"]) for g in self.gaps),
            "stale_symbols": len(self.stale),
            "quarantined_rows": sum(q["rows"] for q in self.quarantine),
            "warnings": sum(w["rows"] for w in self.warnings),
            "rejected_runs": len(self.rejected_runs),
            "symbols_with_bars": self.symbols_with_bars,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts(), "clean": self.clean}


_GAPS_SQL = """
with cal as (select unnest(%(sessions)s::date[]) as session),
seen as (
    select source, symbol, min(session) as first_session
    from raw.bars_daily where session <= %(t)s group by source, symbol
),
expected as (
    select s.source, s.symbol, c.session
    from seen s join cal c on c.session >= s.first_session
)
select e.source, e.symbol, array_agg(e.session order by e.session) as missing
from expected e
left join raw.bars_daily b
  on b.source = e.source and b.symbol = e.symbol and b.session = e.session
where b.symbol is null
group by e.source, e.symbol
order by e.source, e.symbol
"""

# Watermark instants are read as New York dates: a daily bar's session, or a minute bar's day.
_STALE_SQL = """
select source, symbol, timeframe,
       (last_time at time zone 'America/New_York')::date as last_session
from ops.ingest_watermarks
where (last_time at time zone 'America/New_York')::date < %(t)s
  and (first_time at time zone 'America/New_York')::date <= %(t)s
order by source, symbol, timeframe
"""

# bar_time is text as delivered (unparseable values are a quarantine reason themselves), so the
# window test is on its ISO date prefix; rows without a readable date are left out.
# Re-running an ingest for the same session records its refusals again (the run log is
# append-only): rows are counted once per (symbol, bar time), with every run that refused them.
_QUARANTINE_SQL = """
select q.source, q.timeframe, reason,
       count(distinct (q.symbol, q.bar_time)) as rows,
       array_agg(distinct q.run_id order by q.run_id) as runs,
       array_agg(distinct q.symbol order by q.symbol) filter (where q.symbol is not null)
           as symbols
from ops.quarantine q, unnest(q.reasons) as reason
where left(q.bar_time, 10) between %(start)s and %(t)s
group by q.source, q.timeframe, reason
order by q.source, q.timeframe, reason
"""

_WARNINGS_SQL = """
select source, timeframe, kind, count(distinct (symbol, bar_time)) as rows,
       array_agg(distinct symbol order by symbol) as symbols
from ops.data_warnings
where left(bar_time, 10) between %(start)s and %(t)s
group by source, timeframe, kind
order by source, timeframe, kind
"""

# The requested range is in params (start/end as ISO text) when the loader recorded it.
_REJECTED_SQL = """
select run_id, source, timeframe, message, params->>'start' as start, params->>'end' as "end"
from ops.ingest_runs
where status = 'rejected'
  and left(coalesce(params->>'start', ''), 10) <= %(t)s
  and left(coalesce(params->>'end', params->>'start', ''), 10) >= %(start)s
order by run_id
"""


def build_report(conn: psycopg.Connection, session: dt.date, lookback: int = 10) -> QualityReport:
    """The report for session T = ``session`` over the ``lookback`` sessions ending at T."""
    if lookback < 1:
        raise ValueError(f"lookback must be at least 1 session, got {lookback}")
    if not calendar.is_session(session):
        raise ValueError(f"{session} is not a NYSE session")
    start = calendar.session_offset(session, -(lookback - 1))
    window = calendar.sessions(start, session)
    params = {"t": session, "start": start.isoformat(), "sessions": window}
    # ISO text comparisons need text bounds; date comparisons need dates.
    text_params = {**params, "t": session.isoformat()}
    report = QualityReport(
        session=session.isoformat(), window_start=start.isoformat(), sessions_in_window=len(window)
    )
    with conn.cursor() as cur:
        cur.execute(_GAPS_SQL, params)
        report.gaps = [
            {"source": s, "symbol": y, "missing": [d.isoformat() for d in m]}
            for s, y, m in cur.fetchall()
        ]
        cur.execute(
            "select count(distinct (source, symbol)) from raw.bars_daily where session <= %s",
            [session],
        )
        report.symbols_with_bars = int(cur.fetchone()[0])
        cur.execute(_STALE_SQL, params)
        for source, symbol, timeframe, last in cur.fetchall():
            behind = len(calendar.sessions(calendar.next_session(last), session))
            report.stale.append(
                {
                    "source": source,
                    "symbol": symbol,
                    "timeframe": timeframe,
                    "last_session": last.isoformat(),
                    "sessions_behind": behind,
                }
            )
        cur.execute(_QUARANTINE_SQL, text_params)
        report.quarantine = [
            {
                "source": s,
                "timeframe": tf,
                "reason": reason,
                "rows": int(n),
                "runs": list(runs),
                "symbols": list(syms or []),
            }
            for s, tf, reason, n, runs, syms in cur.fetchall()
        ]
        cur.execute(_WARNINGS_SQL, text_params)
        report.warnings = [
            {"source": s, "timeframe": tf, "kind": k, "rows": int(n), "symbols": list(syms)}
            for s, tf, k, n, syms in cur.fetchall()
        ]
        cur.execute(_REJECTED_SQL, text_params)
        report.rejected_runs = [
            {"run_id": r, "source": s, "timeframe": tf, "message": m, "start": a, "end": b}
            for r, s, tf, m, a, b in cur.fetchall()
        ]
    return report


def render_markdown(report: QualityReport) -> str:
    """A human-readable summary (task log, report file)."""
    c = report.counts()
    lines = [
        f"# Data quality, session {report.session}",
        "",
        f"Window: {report.sessions_in_window} sessions from {report.window_start}; "
        f"{c['symbols_with_bars']} (source, symbol) pairs with daily bars.",
        "",
        f"- gaps: {c['gap_symbols']} symbols, {c['missing_bars']} missing daily bars",
        f"- stale: {c['stale_symbols']} (source, symbol, timeframe) behind {report.session}",
        f"- quarantined rows: {c['quarantined_rows']}",
        f"- warnings: {c['warnings']}",
        f"- rejected runs: {c['rejected_runs']}",
    ]
    if report.gaps:
        lines += ["", "## Gaps", ""]
        lines += [f"- {g['source']} {g['symbol']}: {', '.join(g['missing'])}" for g in report.gaps]
    if report.stale:
        lines += ["", "## Stale", ""]
        lines += [
            f"- {s['source']} {s['symbol']} {s['timeframe']}: last {s['last_session']} "
            f"({s['sessions_behind']} sessions behind)"
            for s in report.stale
        ]
    if report.quarantine:
        lines += ["", "## Quarantine", ""]
        lines += [
            f"- {q['source']} {q['timeframe']}: {q['rows']} x {q['reason']} "
            f"({', '.join(q['symbols'][:5])}; runs {', '.join(map(str, q['runs']))})"
            for q in report.quarantine
        ]
    if report.warnings:
        lines += ["", "## Warnings", ""]
        lines += [
            f"- {w['source']} {w['timeframe']} {w['kind']}: {w['rows']} ({', '.join(w['symbols'][:5])})"
            for w in report.warnings
        ]
    if report.rejected_runs:
        lines += ["", "## Rejected runs", ""]
        lines += [
            f"- run {r['run_id']} {r['source']} {r['timeframe']} {r['start']}..{r['end']}: "
            f"{r['message']}"
            for r in report.rejected_runs
        ]
    return "\n".join(lines) + "\n"


def write_report(report: QualityReport, folder: Path) -> Path:
    """``<folder>/<session>.json`` and ``.md``, each replaced atomically (re-runs overwrite)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{report.session}.json"
    for path, text in (
        (target, json.dumps(report.to_dict(), indent=1)),
        (folder / f"{report.session}.md", render_markdown(report)),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return target
