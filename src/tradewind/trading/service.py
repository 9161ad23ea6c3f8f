"""Rebalance, reconcile and status: the steps the CLI (and later Airflow) run.

``rebalance`` reads the targets of T, the account and positions, runs the risk checks, plans
with ``plan_rebalance``, records the run and its plan, then sends each order (looked up by its
deterministic client order id first) and records what the broker answered. A breach stops the
run before anything is sent. ``reconcile`` after the open of T+1 records fills, positions and an
account snapshot and writes a reconciliation report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tradewind import calendar as nyse
from tradewind.settings import Settings, get_settings
from tradewind.trading import BROKERS, risk, store
from tradewind.trading.errors import BrokerError, RiskBreach, TradingError
from tradewind.trading.ids import client_order_id
from tradewind.trading.model import OrderIntent, SubmitResult, Targets
from tradewind.trading.planner import Plan, PlanConfig, plan_rebalance
from tradewind.trading.sim_broker import Bars, SimBroker, sim_for

log = logging.getLogger(__name__)
HISTORY_SESSIONS = 60  # bars loaded before T: the env's volatility window plus margin
SIM_ACCOUNT = "sim"


@dataclass
class RebalanceResult:
    run_id: int
    broker: str
    account_id: str
    session: date
    targets: Targets
    plan: Plan
    dry_run: bool
    outcomes: list[tuple[OrderIntent, SubmitResult]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(1 for _, r in self.outcomes if r.sent)

    @property
    def found(self) -> int:
        return sum(1 for _, r in self.outcomes if r.order is not None and not r.sent)

    @property
    def errors(self) -> list[str]:
        return [f"{i.symbol} {i.side}: {r.error}" for i, r in self.outcomes if r.error]

    @property
    def status(self) -> str:
        if self.dry_run:
            return "dry_run"
        return "partial" if self.errors else "submitted"


def _connect(db_url: str | None):
    from tradewind.db import connect

    return connect(db_url, autocommit=True)


def _bars(conn, symbols, session: date, end: date, settings: Settings) -> Bars:
    start = nyse.session_offset(session, -HISTORY_SESSIONS) if symbols else session
    frame = store.load_bars(conn, symbols, start, end, settings.trading_bars_source)
    return Bars(frame)


def make_broker(
    kind: str, conn, session: date, symbols, settings: Settings, *, end=None, catch_up=True
):
    """The broker for ``--broker``: sim (bars up to ``end``, default T) or alpaca."""
    if kind == "alpaca":
        from tradewind.trading.alpaca_broker import AlpacaBroker

        return AlpacaBroker(settings)
    if kind == "sim":
        held = conn.execute(
            "select positions from broker.sim_accounts where account_id = %s", (SIM_ACCOUNT,)
        ).fetchone()
        syms = set(symbols) | set((held[0] if held else {}) or {})
        bars = _bars(conn, syms, session, end or session, settings)
        sim = sim_for(
            bars, session, store=store.WarehouseSimStore(conn), account_id=SIM_ACCOUNT,
            settings=settings,
        )  # fmt: skip
        if catch_up:  # earlier sessions' orders fill at their opens, which are known by now
            sim.catch_up()
        return sim
    raise TradingError(f"unknown broker {kind!r}: use one of {', '.join(BROKERS)}")


def _prices(conn, broker, symbols, session: date, settings: Settings) -> dict[str, float]:
    """Planning prices: the close of T (what is known when the orders are placed)."""
    if isinstance(broker, SimBroker):
        bars = broker.bars
    else:
        bars = _bars(conn, symbols, session, session, settings)
    out = {}
    for s in symbols:
        px = bars.close(s, session)
        if px is not None:
            out[s] = px
    return out


def rebalance(
    session: Any,
    broker: str = "sim",
    *,
    model: str | None = None,
    dry_run: bool = False,
    db_url: str | None = None,
    settings: Settings | None = None,
    broker_obj: Any = None,
    progress: Callable[[str], None] | None = None,
) -> RebalanceResult:
    """Rebalance the account for as-of session T (orders for the open of T+1)."""
    s = settings or get_settings()
    say = progress or (lambda _msg: None)
    session = nyse.to_date(session)
    limits = risk.RiskLimits.from_settings(s)
    conn = _connect(db_url)
    try:
        run_id = store.start_run(conn, broker, session, dry_run)
        try:
            breaches = risk.check_session(session, limits)
            if breaches:
                raise RiskBreach(breaches)
            targets, newest = store.read_targets(conn, session, model or s.trading_model, db_url)
            symbols = sorted(targets.weights) if targets else []
            b = broker_obj or make_broker(broker, conn, session, symbols, s)
            say(f"broker {b.name}: reading account, positions and clock")
            account = b.account()
            positions = b.positions()
            universe = sorted(set(symbols) | set(positions))
            assets = b.assets(universe)
            breaches = risk.check_targets(targets, session, limits, assets, newest)
            breaches += risk.check_clock(b.clock(), session)
            if breaches:
                raise RiskBreach(breaches)
            prices = _prices(conn, b, universe, session, s)
            missing = [x for x in universe if x not in prices]
            if missing:
                raise RiskBreach([f"no close price on {session} for {', '.join(missing)}"])
            not_tradable = [x for x in symbols if assets[x] and not assets[x].tradable]
            # Our own open buys of this session (an earlier, interrupted run) hold buying power
            # the broker no longer reports; they are part of this plan, so count it back in, or a
            # re-run would plan smaller orders than the first run did.
            ours = {
                client_order_id(account.account_id, session, targets.model_name, x, "buy"): x
                for x in universe
            }
            held = sum(
                (o.qty or 0.0) * prices[ours[o.client_order_id]]
                for o in b.open_orders()
                if o.client_order_id in ours
            )
            if held:
                account = dataclasses.replace(account, buying_power=account.buying_power + held)
            plan = plan_rebalance(
                targets.weights, positions, prices, account, assets,
                PlanConfig.from_settings(s), rates=b.cost_rates(universe, session),
            ).with_ids(
                lambda sym, side: client_order_id(
                    account.account_id, session, targets.model_name, sym, side
                )
            )  # fmt: skip
            breaches = risk.check_plan(plan, limits)
            if breaches:
                raise RiskBreach(breaches)
        except TradingError as exc:
            # The broker not answering is a failure; everything else here is a refusal.
            state = "failed" if isinstance(exc, BrokerError) else "refused"
            store.finish_run(conn, run_id, state, str(exc))
            raise
        except Exception as exc:
            store.finish_run(conn, run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
            raise
        result = RebalanceResult(
            run_id, b.name, account.account_id, session, targets, plan, dry_run
        )
        store.finish_run(
            conn, run_id, "running", None, account_id=account.account_id,
            model_name=targets.model_name, model_version=targets.model_version,
            equity=plan.equity, cash=plan.cash, orders_planned=len(plan.orders),
        )  # fmt: skip
        store.record_plan(conn, run_id, plan, {o.symbol: o.client_order_id for o in plan.orders})
        if not_tradable:
            log.warning("not tradable, held as is: %s", ", ".join(not_tradable))
        if dry_run:
            store.finish_run(conn, run_id, "dry_run", "dry run: nothing sent")
            return result
        try:
            for i, intent in enumerate(plan.orders, 1):
                store.record_intent(
                    conn, broker=b.name, account_id=account.account_id, session=session,
                    intent=intent, targets=targets, run_id=run_id,
                )  # fmt: skip
                res = b.submit(intent)
                result.outcomes.append((intent, res))
                if res.order is not None:
                    store.record_order(conn, res.order)
                else:
                    store.record_refusal(conn, intent.client_order_id, res.error or "refused")
                verb = "sent" if res.sent else ("exists" if res.order else "REFUSED")
                say(
                    f"[{i}/{len(plan.orders)}] {intent.side} {intent.qty:g} {intent.symbol}: {verb}"
                )
        except Exception as exc:
            store.finish_run(
                conn, run_id, "failed", f"{type(exc).__name__}: {exc}"[:500],
                orders_sent=result.sent, orders_found=result.found,
            )  # fmt: skip
            raise
        msg = "; ".join(result.errors) or None
        store.finish_run(
            conn, run_id, result.status, msg, orders_sent=result.sent, orders_found=result.found
        )
        return result
    finally:
        conn.close()


@dataclass
class Reconciliation:
    broker: str
    account_id: str
    session: date
    fill_session: date
    report: dict[str, Any]


def reconcile(
    session: Any,
    broker: str = "sim",
    *,
    db_url: str | None = None,
    settings: Settings | None = None,
    broker_obj: Any = None,
) -> Reconciliation:
    """After the open of T+1: refresh the orders of T, record fills, positions and the
    account, and report target vs achieved weights, cash, slippage and unfilled orders."""
    s = settings or get_settings()
    session = nyse.to_date(session)
    if not nyse.is_session(session):
        raise TradingError(f"{session} is not an NYSE session (market holiday or weekend)")
    t1 = nyse.next_session(session)
    conn = _connect(db_url)
    try:
        if broker_obj is None and broker == "sim":
            traded = conn.execute(
                "select distinct symbol from broker.orders where broker = 'sim' and "
                "as_of_session = %s",
                (session,),
            ).fetchall()
            b = make_broker("sim", conn, t1, [r[0] for r in traded], s, end=t1)
        else:
            b = broker_obj or make_broker(broker, conn, t1, [], s)
        if isinstance(b, SimBroker):
            loaded = conn.execute(
                "select exists (select 1 from raw.bars_daily where session = %s)", (t1,)
            ).fetchone()[0]
            if not loaded:
                raise TradingError(f"no bars for {t1} yet: reconcile after its open is loaded")
            b.catch_up()
            b.price_field = "open"  # value the book at the open it just traded at
        else:
            import pandas as pd

            clock = b.clock()
            if pd.Timestamp(clock.now) < pd.Timestamp(nyse.session_open_utc(t1)):
                raise TradingError(f"reconcile after the open of {t1} (now {clock.now})")
        account = b.account()
        rows = store.session_orders(conn, b.name, account.account_id, session)
        # The targets the orders of T were placed for (whatever other models wrote for T).
        models = conn.execute(
            "select distinct model_name, model_version from broker.orders where broker = %s "
            "and account_id = %s and as_of_session = %s",
            (b.name, account.account_id, session),
        ).fetchall()
        spec = f"{models[0][0]}@{models[0][1]}" if len(models) == 1 else s.trading_model
        targets, _ = store.read_targets(conn, session, spec, db_url) if models else (None, None)
        orders = []
        for coid, *_ in rows:
            o = b.find(coid)
            if o is None:
                continue
            store.record_order(conn, o)
            store.record_fill(conn, o)
            orders.append(o)
        details = _positions(b)
        store.record_snapshot(conn, b.name, account, t1, details)
        opens = _opens(conn, b, [o.symbol for o in orders], t1, s)
        report = _report(targets, account, details, orders, opens)
        from tradewind.trading.pictures import plot_reconciliation

        picture = s.home / "reports" / f"reconcile_{b.name}_{session}.png"
        title = f"{b.name} account: targets of {session}\nvs the book after the open of {t1}"
        report["picture"] = str(plot_reconciliation(report, picture, title))
        store.record_reconciliation(conn, b.name, account.account_id, session, t1, report)
        return Reconciliation(b.name, account.account_id, session, t1, report)
    finally:
        conn.close()


def _positions(b) -> list[dict]:
    out = []
    for p in b.position_details():
        if isinstance(p, dict):
            out.append(p)
            continue
        out.append(
            {
                "symbol": p.symbol,
                "qty": Decimal(p.qty),  # exact: reconciliation must match the broker
                "avg_entry_price": float(p.avg_entry_price) if p.avg_entry_price else None,
                "market_value": float(p.market_value) if p.market_value else None,
                "current_price": float(p.current_price) if p.current_price else None,
            }
        )
    return out


def _opens(conn, b, symbols, t1: date, s: Settings) -> dict[str, float]:
    bars = b.bars if isinstance(b, SimBroker) else _bars(conn, symbols, t1, t1, s)
    return {x: bars.open(x, t1) for x in symbols if bars.open(x, t1) is not None}


def _report(targets, account, details, orders, opens) -> dict[str, Any]:
    equity = account.equity
    achieved = {
        p["symbol"]: (p["market_value"] or 0.0) / equity if equity else 0.0 for p in details
    }
    weights = targets.weights if targets else {}
    lines = []
    for sym in sorted(set(weights) | set(achieved)):
        lines.append(
            {
                "symbol": sym,
                "target_weight": weights.get(sym, 0.0),
                "achieved_weight": achieved.get(sym, 0.0),
                "difference": achieved.get(sym, 0.0) - weights.get(sym, 0.0),
            }
        )
    fills, unfilled = [], []
    for o in orders:
        if o.filled_qty and o.filled_avg_price:
            op = opens.get(o.symbol)
            sign = 1.0 if o.side == "buy" else -1.0
            slip = sign * (o.filled_avg_price / op - 1.0) * 1e4 if op else None
            fills.append(
                {
                    "symbol": o.symbol, "side": o.side, "qty": o.filled_qty,
                    "price": o.filled_avg_price, "open": op, "slippage_bps": slip, "fee": o.fee,
                }
            )  # fmt: skip
        if o.status != "filled" or (o.qty and o.filled_qty + 1e-9 < o.qty):
            unfilled.append(
                {
                    "symbol": o.symbol, "side": o.side, "qty": o.qty, "filled_qty": o.filled_qty,
                    "status": o.status,
                }
            )  # fmt: skip
    cash_target = 1.0 - sum(weights.values())
    return {
        "model": f"{targets.model_name}@{targets.model_version}" if targets else None,
        "equity": equity,
        "cash": account.cash,
        "cash_weight": account.cash / equity if equity else None,
        "cash_target_weight": cash_target,
        "weights": lines,
        "max_abs_weight_difference": max((abs(x["difference"]) for x in lines), default=0.0),
        "fills": fills,
        "unfilled": unfilled,
        "fees": sum(f["fee"] or 0.0 for f in fills),
    }


def status(broker: str = "sim", *, db_url: str | None = None, settings: Settings | None = None,
           broker_obj: Any = None) -> dict[str, Any]:  # fmt: skip
    """Account, positions and open orders as the broker reports them now."""
    s = settings or get_settings()
    conn = _connect(db_url)
    try:
        if broker_obj is None and broker == "sim":
            # Read-only: the book as of the latest session it traded on (or the latest bars),
            # valued at that close; open orders stay open until a rebalance or reconcile.
            day = (
                conn.execute(
                    "select greatest(max(as_of_session), max(filled_session)) from broker.sim_orders "
                    "where account_id = %s",
                    (SIM_ACCOUNT,),
                ).fetchone()[0]
                or conn.execute("select max(session) from raw.bars_daily").fetchone()[0]
            )
            if day is None:
                raise TradingError("no bars in the warehouse: nothing to value the account with")
            open_syms = conn.execute(
                "select distinct symbol from broker.sim_orders where account_id = %s and status "
                "in ('accepted', 'new', 'partially_filled')",
                (SIM_ACCOUNT,),
            ).fetchall()
            syms = [r[0] for r in open_syms]
            b = make_broker("sim", conn, day, syms, s, end=day, catch_up=False)
        else:
            b = broker_obj or make_broker(broker, conn, date.today(), [], s)
        return {
            "broker": b.name,
            "account": b.account(),
            "positions": _positions(b),
            "open_orders": b.open_orders(),
        }
    finally:
        conn.close()
