"""SQL shared by several pages: signal backtests on the forward-return labels, weight grids,
and calendar arrays handed to SQL.

The return earned by weights of session T is the open-to-open return open(T+1) -> open(T+2)
(design: the time rule); its one definition is ``features.forward_returns.fwd_open_lr`` (dbt),
so signal backtests here read that mart instead of recomputing returns from bars.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from tradewind import calendar
from tradewind.dashboard.warehouse import Reader

FORWARD_RETURNS = "features.forward_returns"

# Daily gross return of each model's weights: sum_i w_{T,i} * (exp(fwd_open_lr_{T,i}) - 1), cash
# earning nothing. When several versions wrote weights for one session the newest is the one
# that traded. A symbol without a label yet (T+2 not open) contributes nothing; a session with no
# labels at all is left out. Parameters: %(models)s, a text array.
SIGNAL_RETURNS_SQL = f"""
with per_version as (
    select t.model_name, t.as_of_session, t.model_version,
           max(fr.next2_session) as realised_session,
           sum(t.weight * (exp(fr.fwd_open_lr) - 1)) as gross_return
    from signals.target_weights as t
    join {FORWARD_RETURNS} as fr on fr.symbol = t.symbol and fr.session = t.as_of_session
    where t.model_name = any(%(models)s::text[]) and fr.fwd_open_lr is not null
    group by t.model_name, t.as_of_session, t.model_version
),
-- The newest version is picked after aggregating (one row a session and version), so the big
-- join above never depends on a per-row filter the planner cannot estimate.
newest as (
    select model_name, as_of_session, max(model_version) as model_version
    from signals.target_weights
    where model_name = any(%(models)s::text[])
    group by model_name, as_of_session
)
select p.model_name, p.as_of_session as session, p.realised_session, p.gross_return
from per_version as p join newest using (model_name, as_of_session, model_version)
"""


def equity_drawdown(simple_returns) -> tuple[np.ndarray, np.ndarray]:
    """Equity (starting at 1, after the first return) and drawdown of simple daily returns."""
    r = np.asarray(simple_returns, dtype=np.float64)
    equity = np.cumprod(1.0 + r)
    return equity, equity / np.maximum.accumulate(equity) - 1.0


def rolling_mean(x, n: int) -> np.ndarray:
    """Mean of the last ``n`` values (fewer at the start), as SQL's ROWS n-1 PRECEDING."""
    x = np.asarray(x, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(x)])
    k = np.arange(1, len(x) + 1)
    lo = np.maximum(k - n, 0)
    return (c[k] - c[lo]) / (k - lo)


def signal_curves(r: Reader, models: list[str]) -> dict[str, list[dict]]:
    """Per model: equity (start 1) and drawdown of its own target weights on realised returns,
    for all the models in one query (SQL reduces weights x labels to one return a session;
    numpy compounds them)."""
    if not models or not (r.has("signals.target_weights") and r.has(FORWARD_RETURNS)):
        return {m: [] for m in models}
    rows = r.rows(
        f"""
        with d as ({SIGNAL_RETURNS_SQL})
        select model_name, array_agg(session order by session) as sessions,
               array_agg(realised_session order by session) as realised,
               array_agg(gross_return order by session) as returns
        from d group by model_name
        """,
        {"models": list(models)},
    )
    out: dict[str, list[dict]] = {m: [] for m in models}
    for row in rows:
        equity, drawdown = equity_drawdown(row["returns"])
        out[row["model_name"]] = [
            {"session": s.isoformat(), "realised_session": rs.isoformat() if rs else None,
             "gross_return": g, "equity": e, "drawdown": dd}
            for s, rs, g, e, dd in zip(row["sessions"], row["realised"], row["returns"],
                                       equity.tolist(), drawdown.tolist(), strict=True)
        ]  # fmt: skip
    return out


def signal_curve(r: Reader, model: str) -> list[dict]:
    return signal_curves(r, [model])[model]


def weights_grid(r: Reader, model: str, version: int | None, sessions: int = 250) -> dict:
    """The last ``sessions`` sessions of a model's weights as a symbols x sessions grid.

    Missing cells are 0 (the symbol was not held or had no weight row). ``version=None``: per session, the newest
    version that wrote weights.
    """
    if not r.has("signals.target_weights"):
        return {"sessions": [], "symbols": [], "z": []}
    rows = r.rows(
        """
        with tw as (
            select as_of_session, symbol, weight
            from (
                select t.as_of_session, t.symbol, t.weight, t.model_version,
                       max(t.model_version) over (partition by t.as_of_session) as newest
                from signals.target_weights as t
                where t.model_name = %(model)s
            ) as x
            where model_version = coalesce(%(version)s::int, newest)
        ),
        s as (
            select distinct as_of_session from tw order by as_of_session desc limit %(n)s
        )
        select tw.symbol,
               array_agg(tw.as_of_session order by tw.as_of_session) as sessions,
               array_agg(tw.weight order by tw.as_of_session) as weights
        from tw join s using (as_of_session)
        group by tw.symbol order by tw.symbol
        """,
        {"model": model, "version": version, "n": sessions},
    )
    if not rows:
        return {"sessions": [], "symbols": [], "z": []}
    # Sparse rows (a symbol appears only where it was held) onto the dense sessions axis; the
    # grid's size is bounded (sessions x symbols), whatever the size of the table.
    axis = sorted({d for row in rows for d in row["sessions"]})
    pos = {d: i for i, d in enumerate(axis)}
    z = np.zeros((len(rows), len(axis)))
    for k, row in enumerate(rows):
        z[k, [pos[d] for d in row["sessions"]]] = row["weights"]
    return {
        "sessions": [d.isoformat() for d in axis],
        "symbols": [row["symbol"] for row in rows],
        "z": z.tolist(),
    }


def calendar_closes(first: date, last: date) -> tuple[list[date], list]:
    """Sessions in [first, last] and their close instants (half days close at 13:00)."""
    days = calendar.sessions(first, last)
    return days, [calendar.session_close_utc(d) for d in days]


def sessions_behind(last: date | str | None, expected: date) -> int | None:
    """How many NYSE sessions ``last`` trails ``expected`` (0 = up to date, None = nothing)."""
    if last is None:
        return None
    last_d = calendar.to_date(last)
    if last_d >= expected:
        return 0
    return len(calendar.sessions(last_d, expected)) - 1


def grade(behind: int | None, failed: bool = False) -> str:
    """green: up to date; amber: one session behind (the next run is due); red: worse."""
    if failed or behind is None:
        return "red"
    return "green" if behind == 0 else "amber" if behind == 1 else "red"
