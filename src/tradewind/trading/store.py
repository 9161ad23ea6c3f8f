"""Warehouse I/O of the trading package: targets and bars in, broker records out.

Every write is one transaction on a connection the caller passes; re-running a step upserts the
same keys (client order id, (broker, account, session)), so the warehouse ends the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from tradewind import calendar as nyse
from tradewind.trading.errors import TradingError
from tradewind.trading.model import Account, OrderRecord, Targets
from tradewind.trading.sim_broker import SimState

# ---- inputs -----------------------------------------------------------------------------------


def parse_model(spec: str | None) -> tuple[str | None, int | None]:
    """``NAME`` or ``NAME@V`` -> (name, version)."""
    if not spec:
        return None, None
    name, _, ver = spec.partition("@")
    if ver and not ver.isdigit():
        raise TradingError(f"bad model {spec!r}: use NAME or NAME@VERSION")
    return name, (int(ver) if ver else None)


def _production_version(db_url: str | None, name: str) -> int | None:
    """The registry's production version of ``name`` (None when it has none)."""
    from tradewind.registry.store import RegistryError, resolve

    try:
        return resolve(db_url, name).version
    except RegistryError:
        return None


def read_targets(
    conn: psycopg.Connection, session: date, model: str | None, db_url: str | None = None
) -> tuple[Targets | None, date | None]:
    """Targets for ``session`` of the chosen model version, and the newest session with any.

    Model choice: ``NAME@V`` exactly; ``NAME``: its production version when the registry has
    one, else its only version on that session; none: the only model with targets then."""
    name, version = parse_model(model)
    newest_q = "select max(as_of_session) from signals.target_weights"
    args: list[Any] = []
    if name:
        newest_q += " where model_name = %s"
        args.append(name)
    newest = conn.execute(newest_q, args).fetchone()[0]
    # Rebalancing T uses the newest targets at or before T (the staleness check judges them).
    q = "select max(as_of_session) from signals.target_weights where as_of_session <= %s"
    qargs: list[Any] = [session]
    if name:
        q += " and model_name = %s"
        qargs.append(name)
    day = conn.execute(q, qargs).fetchone()[0]
    if day is None:
        return None, newest
    versions = conn.execute(
        "select distinct model_name, model_version from signals.target_weights "
        "where as_of_session = %s" + (" and model_name = %s" if name else "") + " order by 1, 2",
        [day, name] if name else [day],
    ).fetchall()
    if version is not None:
        versions = [v for v in versions if v[1] == version]
        if not versions:
            return None, newest
    elif name:
        prod = _production_version(db_url, name)
        if prod is not None and any(v[1] == prod for v in versions):
            versions = [(name, prod)]
    names = sorted({v[0] for v in versions})
    if len(versions) != 1:
        found = ", ".join(f"{n}@{v}" for n, v in versions)
        hint = "--model NAME@VERSION" if len(names) == 1 else "--model NAME[@VERSION]"
        raise TradingError(f"targets for {day} from several models ({found}): choose with {hint}")
    mname, mver = versions[0]
    rows = conn.execute(
        "select symbol, weight from signals.target_weights where as_of_session = %s "
        "and model_name = %s and model_version = %s order by symbol",
        (day, mname, mver),
    ).fetchall()
    return Targets(day, mname, int(mver), {s: float(w) for s, w in rows}), newest


BARS_SQL = """
select distinct on (symbol, session) symbol, session, open, high, low, close, volume
from raw.bars_daily
where symbol = any(%(symbols)s) and session between %(start)s and %(end)s
  and (%(source)s::text is null or source = %(source)s)
order by symbol, session, {order}
"""


def load_bars(
    conn: psycopg.Connection,
    symbols: Iterable[str],
    start: date,
    end: date,
    source: str | None = None,
) -> pd.DataFrame:
    """One price series per symbol from ``raw.bars_daily`` in [start, end].

    With several sources for a symbol, the one whose history reaches furthest wins for every
    session of that symbol (mixing sources would make a ratio across series, which is not a
    return)."""
    syms = sorted(set(symbols))
    if source is None:
        best = dict(
            conn.execute(
                "select distinct on (symbol) symbol, source from raw.bars_daily "
                "where symbol = any(%s) and session <= %s "
                "group by symbol, source order by symbol, max(session) desc, source",
                (syms, end),
            ).fetchall()
        )
    else:
        best = dict.fromkeys(syms, source)
    frames = []
    for src in sorted(set(best.values())):
        part = [s for s in syms if best.get(s) == src]
        rows = conn.execute(
            BARS_SQL.format(order="source"),
            {"symbols": part, "start": start, "end": end, "source": src},
        ).fetchall()
        frames.append(pd.DataFrame(rows, columns=["symbol", "session", *OHLCV]))
    if not frames:
        return pd.DataFrame(columns=["symbol", "session", *OHLCV])
    out = pd.concat(frames, ignore_index=True)
    for c in OHLCV:
        out[c] = out[c].astype(float)
    return out.sort_values(["symbol", "session"]).reset_index(drop=True)


OHLCV = ("open", "high", "low", "close", "volume")

# ---- the simulated broker's book ---------------------------------------------------------------


class WarehouseSimStore:
    """``SimStore`` in ``broker.sim_accounts`` and ``broker.sim_orders``."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def load(self, account_id: str, initial_cash: float) -> SimState:
        c = self.conn
        with c.transaction():
            c.execute(
                "insert into broker.sim_accounts (account_id, cash) values (%s, %s) "
                "on conflict (account_id) do nothing",
                (account_id, float(initial_cash)),
            )
            cash, positions = c.execute(
                "select cash, positions from broker.sim_accounts where account_id = %s",
                (account_id,),
            ).fetchone()
            rows = c.execute(
                "select client_order_id, broker_order_id, as_of_session, symbol, side, qty, "
                "time_in_force, status, filled_qty, filled_avg_price, fee, filled_session, "
                "submitted_at from broker.sim_orders where account_id = %s",
                (account_id,),
            ).fetchall()
        # jsonb keeps its own key order (shorter keys first): put the book back in symbol order.
        st = SimState(account_id, float(cash), {k: float(positions[k]) for k in sorted(positions)})
        for r in rows:
            st.orders[r[0]] = OrderRecord(
                client_order_id=r[0],
                broker_order_id=r[1],
                symbol=r[3],
                side=r[4],
                qty=r[5],
                time_in_force=r[6],
                status=r[7],
                filled_qty=r[8],
                filled_avg_price=r[9],
                fee=r[10],
                # The book keeps the fill session; the fill time is its open (as settle set it).
                filled_at=pd.Timestamp(nyse.session_open_utc(r[11])) if r[11] else None,
                submitted_at=r[12],
            )
            st.sessions[r[0]] = r[2]
        return st

    def save(self, state: SimState) -> None:
        c = self.conn
        with c.transaction():
            c.execute(
                "update broker.sim_accounts set cash = %(cash)s, positions = %(pos)s, "
                "updated_at = now() where account_id = %(id)s "
                "and (cash, positions) is distinct from (%(cash)s, %(pos)s)",
                {"cash": state.cash, "pos": Jsonb(state.positions), "id": state.account_id},
            )
            for coid, o in state.orders.items():
                filled_session = (
                    pd.Timestamp(o.filled_at).tz_convert("America/New_York").date()
                    if isinstance(o.filled_at, pd.Timestamp)
                    else o.filled_at
                )
                c.execute(
                    "insert into broker.sim_orders (client_order_id, account_id, "
                    "broker_order_id, as_of_session, symbol, side, qty, time_in_force, status, "
                    "filled_qty, filled_avg_price, fee, filled_session) values "
                    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) on conflict (client_order_id) do "
                    "update set status = excluded.status, filled_qty = excluded.filled_qty, "
                    "filled_avg_price = excluded.filled_avg_price, fee = excluded.fee, "
                    "filled_session = excluded.filled_session where (sim_orders.status, "
                    "sim_orders.filled_qty, sim_orders.filled_avg_price, sim_orders.fee, "
                    "sim_orders.filled_session) is distinct from (excluded.status, "
                    "excluded.filled_qty, excluded.filled_avg_price, excluded.fee, "
                    "excluded.filled_session)",
                    (
                        coid, state.account_id, o.broker_order_id, state.sessions[coid],
                        o.symbol, o.side, o.qty, o.time_in_force, o.status, o.filled_qty,
                        o.filled_avg_price, o.fee, filled_session,
                    ),
                )  # fmt: skip


# ---- records ---------------------------------------------------------------------------------


def start_run(conn, broker: str, session: date, dry_run: bool) -> int:
    with conn.transaction():
        return conn.execute(
            "insert into broker.rebalance_runs (broker, as_of_session, dry_run, status) "
            "values (%s, %s, %s, 'running') returning run_id",
            (broker, session, dry_run),
        ).fetchone()[0]


def finish_run(conn, run_id: int, status: str, message: str | None = None, **fields: Any) -> None:
    cols = ["status = %s", "message = %s", "finished_at = now()"]
    vals: list[Any] = [status, message]
    for k, v in fields.items():
        cols.append(f"{k} = %s")
        vals.append(v)
    with conn.transaction():
        conn.execute(
            f"update broker.rebalance_runs set {', '.join(cols)} where run_id = %s",
            [*vals, run_id],
        )


def record_plan(conn, run_id: int, plan, ids: dict[str, str]) -> None:
    with conn.transaction():
        conn.execute("delete from broker.plan_lines where run_id = %s", (run_id,))
        for ln in plan.lines:
            conn.execute(
                "insert into broker.plan_lines (run_id, symbol, price, current_qty, "
                "current_weight, target_weight, side, qty, time_in_force, client_order_id, note) "
                "values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    run_id, ln.symbol, ln.price, ln.current_qty, ln.current_weight,
                    ln.target_weight, ln.side, ln.qty if ln.side else None, ln.time_in_force,
                    ids.get(ln.symbol) if ln.side else None, ln.note or None,
                ),
            )  # fmt: skip


def record_intent(conn, *, broker, account_id, session, intent, targets, run_id) -> None:
    """The order row before it is sent: a run that dies after sending still has it."""
    with conn.transaction():
        conn.execute(
            "insert into broker.orders (client_order_id, broker, account_id, as_of_session, "
            "symbol, side, qty, order_type, time_in_force, status, model_name, model_version, "
            "run_id) values (%s,%s,%s,%s,%s,%s,%s,'market',%s,'pending_submit',%s,%s,%s) "
            "on conflict (client_order_id) do update set run_id = excluded.run_id",
            (
                intent.client_order_id, broker, account_id, session, intent.symbol, intent.side,
                intent.qty, intent.time_in_force, targets.model_name, targets.model_version,
                run_id,
            ),
        )  # fmt: skip


def record_order(conn, order: OrderRecord, message: str | None = None) -> None:
    """Update our row of an order with what the broker says about it.

    A row the broker's answer does not change is left alone (``updated_at`` included), so a
    re-run that reads the same order back leaves the same row."""
    with conn.transaction():
        conn.execute(
            "update broker.orders set status = %(status)s, broker_order_id = %(boid)s, "
            "qty = coalesce(%(qty)s, qty), filled_qty = %(fq)s, filled_avg_price = %(fp)s, "
            "submitted_at = coalesce(%(sub)s, submitted_at), updated_at = now(), raw = %(raw)s, "
            "message = %(msg)s where client_order_id = %(coid)s and (status, broker_order_id, "
            "qty, filled_qty, filled_avg_price, submitted_at, raw, message) is distinct from "
            # Casts: compare in the columns' types (a float and its numeric are not equal).
            "(%(status)s::text, %(boid)s::text, coalesce(%(qty)s::numeric, qty), %(fq)s::numeric, "
            "%(fp)s::numeric, coalesce(%(sub)s::timestamptz, submitted_at), %(raw)s::jsonb, "
            "%(msg)s::text)",
            {
                "status": order.status, "boid": order.broker_order_id, "qty": order.qty,
                "fq": order.filled_qty, "fp": order.filled_avg_price,
                "sub": _ts(order.submitted_at), "raw": Jsonb(_jsonable(order.raw)),
                "msg": message, "coid": order.client_order_id,
            },
        )  # fmt: skip


def record_refusal(conn, client_order_id: str, message: str) -> None:
    with conn.transaction():
        conn.execute(
            "update broker.orders set status = 'rejected', message = %s, updated_at = now() "
            "where client_order_id = %s",
            (message, client_order_id),
        )


def session_orders(conn, broker: str, account_id: str, session: date) -> list[tuple]:
    return conn.execute(
        "select client_order_id, symbol, side, qty, status from broker.orders where broker = %s "
        "and account_id = %s and as_of_session = %s order by client_order_id",
        (broker, account_id, session),
    ).fetchall()


def record_fill(conn, order: OrderRecord) -> None:
    """One aggregated fill per order (its cumulative quantity and average price), upserted.

    The fill time is the broker's own (Alpaca's ``filled_at``; the simulated broker's: the open
    of the fill session). Only an order read back without one gets the time it was first
    recorded, kept by later re-runs."""
    if not order.filled_qty or order.filled_avg_price is None:
        return
    at = _ts(order.filled_at)
    with conn.transaction():
        conn.execute(
            "insert into broker.fills (fill_id, client_order_id, symbol, side, qty, price, "
            "filled_at) values (%s,%s,%s,%s,%s,%s,coalesce(%s, now())) on conflict (fill_id) do "
            "update set qty = excluded.qty, price = excluded.price, "
            "filled_at = coalesce(%s, fills.filled_at) "
            "where (fills.qty, fills.price, fills.filled_at) is distinct from "
            "(excluded.qty, excluded.price, coalesce(%s, fills.filled_at))",
            (
                order.broker_order_id, order.client_order_id, order.symbol, order.side,
                order.filled_qty, order.filled_avg_price, at, at, at,
            ),
        )  # fmt: skip


def record_snapshot(
    conn, broker: str, account: Account, session: date, positions: list[dict]
) -> None:
    """Positions and the account as of ``session`` (replacing an earlier snapshot of it).

    Rows whose values did not change keep their ``taken_at``: a re-run leaves them identical."""
    with conn.transaction():
        conn.execute(
            "delete from broker.positions where broker = %s and account_id = %s and session = %s "
            "and not symbol = any(%s::text[])",
            (broker, account.account_id, session, [p["symbol"] for p in positions]),
        )
        for p in positions:
            conn.execute(
                "insert into broker.positions (broker, account_id, session, symbol, qty, "
                "avg_entry_price, market_value) values (%s,%s,%s,%s,%s,%s,%s) on conflict "
                "(broker, account_id, session, symbol) do update set qty = excluded.qty, "
                "avg_entry_price = excluded.avg_entry_price, "
                "market_value = excluded.market_value, taken_at = now() "
                "where (positions.qty, positions.avg_entry_price, positions.market_value) "
                "is distinct from (excluded.qty, excluded.avg_entry_price, excluded.market_value)",
                (
                    broker, account.account_id, session, p["symbol"], p["qty"],
                    p.get("avg_entry_price"), p.get("market_value"),
                ),
            )  # fmt: skip
        conn.execute(
            "insert into broker.account_snapshots (broker, account_id, session, cash, equity, "
            "buying_power, raw) values (%s,%s,%s,%s,%s,%s,%s) on conflict (broker, account_id, "
            "session) do update set cash = excluded.cash, equity = excluded.equity, "
            "buying_power = excluded.buying_power, raw = excluded.raw, taken_at = now() "
            "where (account_snapshots.cash, account_snapshots.equity, "
            "account_snapshots.buying_power, account_snapshots.raw) is distinct from "
            "(excluded.cash, excluded.equity, excluded.buying_power, excluded.raw)",
            (
                broker, account.account_id, session, _exact(account, "cash"),
                _exact(account, "equity"), _exact(account, "buying_power"),
                Jsonb(_jsonable(account.raw)),
            ),
        )  # fmt: skip


def record_reconciliation(conn, broker, account_id, session, fill_session, report) -> None:
    """The report of ``session``; an unchanged report keeps its row (and ``created_at``)."""
    with conn.transaction():
        conn.execute(
            "insert into broker.reconciliations (broker, account_id, as_of_session, "
            "fill_session, report) values (%s,%s,%s,%s,%s) on conflict (broker, account_id, "
            "as_of_session) do update set fill_session = excluded.fill_session, "
            "report = excluded.report, created_at = now() "
            "where (reconciliations.fill_session, reconciliations.report) is distinct from "
            "(excluded.fill_session, excluded.report)",
            (broker, account_id, session, fill_session, Jsonb(_jsonable(report))),
        )


def _exact(account: Account, name: str) -> Any:
    """The broker's own decimal string when it sent one (Alpaca does), else the float."""
    text = account.raw.get(name)
    return Decimal(text) if isinstance(text, str) else getattr(account, name)


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def _ts(x: Any):
    if x is None:
        return None
    return pd.Timestamp(x).to_pydatetime()
