"""`/data`: coverage (symbols x months), gaps, quarantined rows with reasons, warnings,
restatements and recent ingest runs."""

from __future__ import annotations

from collections import Counter

from tradewind import calendar
from tradewind.dashboard.warehouse import Reader


def page(r: Reader, source: str | None = None) -> dict:
    span = r.one(
        "select min(session) as lo, max(session) as hi, count(*) as bars,"
        " count(distinct symbol) as symbols from raw.bars_daily"
        " where %(source)s::text is null or source = %(source)s",
        {"source": source},
    )
    sources = r.rows(
        "select source, adjustment, count(*) as bars, count(distinct symbol) as symbols,"
        " min(session) as first_session, max(session) as last_session"
        " from raw.bars_daily group by source, adjustment order by source, adjustment"
    )
    coverage = {"months": [], "symbols": [], "z": []}
    gaps: list[dict] = []
    if span.get("lo"):
        # Expected sessions come from the NYSE calendar, not from the data itself.
        days = calendar.sessions(calendar.to_date(span["lo"]), calendar.to_date(span["hi"]))
        per_month = Counter(d.replace(day=1) for d in days)
        months = sorted(per_month)
        grid = r.rows(
            """
            with cal as (
                select * from unnest(%(months)s::date[], %(expected)s::int[]) as c (month, n)
            ),
            have as (
                select symbol, date_trunc('month', session)::date as month,
                       count(distinct session) as n
                from raw.bars_daily
                where %(source)s::text is null or source = %(source)s
                group by 1, 2
            ),
            syms as (select distinct symbol from have)
            select s.symbol,
                   array_agg(round(coalesce(h.n, 0)::numeric / c.n, 3)::float8
                             order by c.month) as z
            from syms as s cross join cal as c
            left join have as h on h.symbol = s.symbol and h.month = c.month
            group by s.symbol order by s.symbol
            """,
            {"months": months, "expected": [per_month[m] for m in months], "source": source},
        )
        coverage = {
            "months": [m.strftime("%Y-%m") for m in months],
            "symbols": [g["symbol"] for g in grid],
            "z": [g["z"] for g in grid],
        }
        gaps = r.rows(
            """
            with cal as (select unnest(%(days)s::date[]) as session),
            s as (
                select symbol, min(session) as first_session, max(session) as last_session,
                       count(distinct session) as bars
                from raw.bars_daily
                where %(source)s::text is null or source = %(source)s
                group by symbol
            )
            select s.symbol, s.first_session, s.last_session, s.bars,
                   e.expected, e.expected - s.bars as missing
            from s cross join lateral (
                select count(*) as expected from cal
                where cal.session between s.first_session and s.last_session
            ) as e
            where e.expected > s.bars
            order by e.expected - s.bars desc, s.symbol limit 100
            """,
            {"days": days, "source": source},
        )
    quarantine = r.rows(
        """
        select q.id, q.run_id, q.source, q.timeframe, q.symbol, q.bar_time, q.reasons,
               left(q.payload::text, 300) as payload, q.quarantined_at
        from ops.quarantine as q order by q.id desc limit 200
        """
    )
    warnings_by_kind = r.rows(
        "select kind, count(*) as rows, max(noted_at) as last_noted from ops.data_warnings"
        " group by kind order by count(*) desc, kind"
    )
    warnings = r.rows(
        """
        select id, run_id, source, timeframe, symbol, bar_time, kind, detail, noted_at
        from ops.data_warnings order by id desc limit 200
        """
    )
    restatements = []
    if "history_version" in r.columns("raw.bars_daily"):
        restatements = r.rows(
            """
            select source, symbol, max(history_version) as history_version,
                   count(*) as bars, max(ingested_at) as restated_at
            from raw.bars_daily where history_version > 1
            group by source, symbol order by max(ingested_at) desc, source, symbol limit 100
            """
        )
    runs = r.rows(
        """
        select run_id, source, timeframe, status, started_at, finished_at, rows_in, rows_new,
               rows_updated, rows_unchanged, rows_quarantined, rows_warned, message
        from ops.ingest_runs order by run_id desc limit 50
        """
    )
    return {
        "source": source,
        "span": span,
        "sources": sources,
        "coverage": coverage,
        "gaps": gaps,
        "quarantine": quarantine,
        "warnings_by_kind": warnings_by_kind,
        "warnings": warnings,
        "restatements": restatements,
        "ingest_runs": runs,
    }
