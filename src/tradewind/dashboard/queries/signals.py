"""`/signals`: the latest target weights per model, their history, lateness, weight files."""

from __future__ import annotations

from tradewind import calendar
from tradewind.dashboard.queries.common import calendar_closes, weights_grid
from tradewind.dashboard.warehouse import Reader


def page(r: Reader, model: str | None = None, history: int = 120) -> dict:
    latest = r.rows(
        """
        with last as (
            select distinct on (model_name) model_name, model_version, as_of_session
            from signals.target_weights
            order by model_name, as_of_session desc, model_version desc
        )
        select l.model_name, l.model_version, l.as_of_session, max(t.created_at) as created_at,
               count(*) as symbols, sum(t.weight) as invested, 1 - sum(t.weight) as cash,
               max(t.weight) as max_weight,
               jsonb_agg(jsonb_build_object('symbol', t.symbol, 'weight', t.weight)
                         order by t.weight desc, t.symbol) as weights
        from last as l
        join signals.target_weights as t using (model_name, model_version, as_of_session)
        group by l.model_name, l.model_version, l.as_of_session
        order by l.model_name
        """
    )
    models = [m["model_name"] for m in latest]
    chosen = model if model in models else (models[0] if models else None)
    lateness: list[dict] = []
    generations: list[dict] = []
    if chosen is not None:
        span = r.one(
            "select min(as_of_session) as lo, max(as_of_session) as hi from ("
            " select distinct as_of_session from signals.target_weights"
            " where model_name = %(m)s order by as_of_session desc limit %(n)s) as s",
            {"m": chosen, "n": history},
        )
        days, closes = calendar_closes(calendar.to_date(span["lo"]), calendar.to_date(span["hi"]))
        # Close instants come from the NYSE calendar (13:00 on half days), not a fixed 16:00.
        lateness = r.rows(
            """
            with c as (
                select * from unnest(%(days)s::date[], %(closes)s::timestamptz[])
                    as c (session, close_at)
            )
            select c.session, min(t.created_at) as written_at,
                   extract(epoch from min(t.created_at) - c.close_at) / 3600.0 as hours_after_close
            from c
            left join signals.target_weights as t
              on t.model_name = %(m)s and t.as_of_session = c.session
            group by c.session, c.close_at order by c.session
            """,
            {"days": days, "closes": closes, "m": chosen},
        )
        if r.has("signals.generations"):
            generations = r.rows(
                """
                select generation_id, model_name, model_version, as_of_session, status, message,
                       mode, features_through, generated_at, delay_seconds, elapsed_ms,
                       n_symbols, gross_weight, file_uri, file_sha256
                from signals.generations where model_name = %(m)s
                order by generated_at desc, generation_id desc limit 200
                """,
                {"m": chosen},
            )
    return {
        "latest": latest,
        "model": chosen,
        "history": weights_grid(r, chosen, None, history) if chosen else weights_grid(r, "", None),
        "lateness": lateness,
        "generations": generations,
    }
