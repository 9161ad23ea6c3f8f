"""`/portfolio`: the paper account's equity against the backtest of the same weights (the live
out-of-sample result), positions, orders, fills, slippage, rebalance runs, reconciliations."""

from __future__ import annotations

from tradewind.dashboard.queries.common import FORWARD_RETURNS, signal_curve
from tradewind.dashboard.warehouse import Reader


def _bar_open(r: Reader) -> str:
    """The open a fill is compared with: the bar the features used, else the raw bars' mean
    (a lateral lookup on the (symbol, session) index, never a scan of all bars)."""
    table = "features.daily_features" if r.has("features.daily_features") else "raw.bars_daily"
    return (
        f"select avg(x.open) as open from {table} as x"
        " where x.symbol = f.symbol and x.session = f.fill_session"
    )


def page(r: Reader, account: str | None = None, model: str | None = None) -> dict:
    accounts = r.rows(
        """
        select broker, account_id, count(*) as sessions, min(session) as first_session,
               max(session) as last_session
        from broker.account_snapshots group by broker, account_id order by broker, account_id
        """
    )
    chosen = next((a for a in accounts if a["account_id"] == account), None) or (
        accounts[0] if accounts else None
    )
    out: dict = {"accounts": accounts, "account": chosen, "model": None}
    if chosen is None:
        return out | {
            "equity": [],
            "backtest": [],
            "positions": [],
            "orders": [],
            "fills": [],
            "slippage": [],
            "rebalance_runs": [],
            "reconciliations": [],
        }
    key = {"broker": chosen["broker"], "account": chosen["account_id"]}
    order_cols = r.columns("broker.orders")
    if model is None and "model_name" in order_cols:
        model = r.one(
            "select model_name from broker.orders where broker = %(broker)s"
            " and account_id = %(account)s and model_name is not null"
            " group by model_name order by count(*) desc limit 1",
            key,
        ).get("model_name")
    if model is None:
        model = r.one(
            "select model_name from ml.model_versions where stage = 'production'"
            " order by model_name limit 1"
        ).get("model_name")
    out["model"] = model
    out["equity"] = r.rows(
        """
        select session, equity, cash,
               equity / max(equity) over (order by session) - 1 as drawdown
        from broker.account_snapshots
        where broker = %(broker)s and account_id = %(account)s order by session
        """,
        key,
    )
    # Both lines start together: the backtest from the account's first snapshot on, scaled to
    # its equity there (a point is dated by the session its return is realised on, T+2).
    backtest = signal_curve(r, model) if model else []
    first = out["equity"][0] if out["equity"] else None
    if first:
        backtest = [b for b in backtest if b["realised_session"] >= first["session"]]
        if backtest:
            base = backtest[0]["equity"]
            for b in backtest:
                b["value"] = first["equity"] * b["equity"] / base
    out["backtest"] = backtest
    out["positions"] = r.rows(
        """
        select symbol, qty, avg_entry_price, market_value, session
        from broker.positions
        where broker = %(broker)s and account_id = %(account)s
          and session = (select max(session) from broker.positions
                         where broker = %(broker)s and account_id = %(account)s)
        order by market_value desc nulls last, symbol
        """,
        key,
    )
    model_col = ", model_name, model_version" if "model_name" in order_cols else ""
    out["orders"] = r.rows(
        f"""
        select client_order_id, as_of_session, symbol, side, qty, notional, order_type,
               time_in_force, status, filled_qty, filled_avg_price, submitted_at{model_col}
        from broker.orders where broker = %(broker)s and account_id = %(account)s
        order by as_of_session desc, symbol limit 200
        """,
        key,
    )
    out["fills"] = r.rows(
        """
        select f.fill_id, f.client_order_id, f.symbol, f.side, f.qty, f.price, f.filled_at
        from broker.fills as f join broker.orders as o using (client_order_id)
        where o.broker = %(broker)s and o.account_id = %(account)s
        order by f.filled_at desc, f.fill_id limit 200
        """,
        key,
    )
    # Slippage of a fill against the open of its session (orders for T fill at the open of T+1):
    # positive bps = worse than the open (paid more on a buy, got less on a sell).
    out["slippage"] = r.rows(
        f"""
        with f as (
            select f.*, (f.filled_at at time zone 'America/New_York')::date as fill_session
            from broker.fills as f join broker.orders as o using (client_order_id)
            where o.broker = %(broker)s and o.account_id = %(account)s
        ),
        s as (
            select f.fill_session as session, f.qty * f.price as notional,
                   (case f.side when 'buy' then 1 else -1 end) * (f.price / b.open - 1) * 1e4
                       as bps
            from f cross join lateral ({_bar_open(r)}) as b
            where b.open is not null
        )
        select session, count(*) as fills, sum(notional) as notional,
               sum(bps * notional) / nullif(sum(notional), 0) as bps
        from s group by session order by session
        """,
        key,
    )
    out["rebalance_runs"] = (
        r.rows(
            """
            select run_id, as_of_session, model_name, model_version, dry_run, status, message,
                   orders_planned, orders_sent, orders_found, started_at, finished_at
            from broker.rebalance_runs where broker = %(broker)s and account_id = %(account)s
            order by started_at desc, run_id desc limit 100
            """,
            key,
        )
        if r.has("broker.rebalance_runs")
        else []
    )
    out["reconciliations"] = (
        r.rows(
            """
            -- The report's headline numbers (as tradewind reconcile writes them); the per-fill
            -- and per-symbol lists stay in the warehouse.
            select as_of_session, fill_session, created_at, report->>'model' as model,
                   (report->>'equity')::float8 as equity, (report->>'fees')::float8 as fees,
                   case when jsonb_typeof(report->'fills') = 'array'
                        then jsonb_array_length(report->'fills') end as fills,
                   case when jsonb_typeof(report->'unfilled') = 'array'
                        then jsonb_array_length(report->'unfilled') end as unfilled,
                   (select avg((f->>'slippage_bps')::float8)
                    from jsonb_array_elements(case when jsonb_typeof(report->'fills') = 'array'
                                              then report->'fills' else '[]' end) as f)
                       as mean_slippage_bps,
                   (report->>'max_abs_weight_difference')::float8 as max_weight_error,
                   (report->>'cash_weight')::float8 as cash_weight,
                   (report->>'cash_target_weight')::float8 as cash_target_weight
            from broker.reconciliations where broker = %(broker)s and account_id = %(account)s
            order by as_of_session desc limit 60
            """,
            key,
        )
        if r.has("broker.reconciliations")
        else []
    )
    out["forward_returns_built"] = r.has(FORWARD_RETURNS)
    return out
