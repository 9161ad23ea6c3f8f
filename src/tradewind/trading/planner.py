"""The order planner: target weights + positions + prices + account -> orders. Pure, no I/O.

Both brokers go through this one function, so a simulated backtest and a paper rebalance
share every line of order logic.

Sizing (the environment's accounting, ``tradewind.rl.core``): with equity V = cash + sum q_i p_i
and current weights h_i = q_i p_i / V, the expected cost of the rebalance is
c = sum_i |w_i - h_i| * rate_i (``transaction_cost``), and the book is sized on what is left
after paying it: target value_i = w_i * V * (1 - c) * (1 - cash_buffer). With cash_buffer = 0,
continuous quantities and fills at the planning prices, the post-trade weights are exactly w
and the cash paid for costs is exactly c * V: the environment's step, to float rounding.

Orders: exactly one per symbol (sell or buy the difference), sells first, then buys; a trade
smaller than ``min_trade_value`` dollars is skipped (a full exit never is); buys are scaled
down together to fit the buying power the broker reports (plus the sells' proceeds where the
broker lets them fund buys, minus the expected cost). Assets that are not tradable are held as
they are; assets that are not fractionable trade whole shares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from tradewind.rl.core import transaction_cost
from tradewind.trading.model import Account, Asset, OrderIntent

QTY_DECIMALS = 9  # Alpaca takes quantities with up to 9 decimals


@dataclass(frozen=True)
class PlanConfig:
    min_trade_value: float = 1.0
    cash_buffer: float = 0.01
    fractional: bool = True  # fractional 'day' orders where the asset is fractionable
    # Exact float quantities (backtests and the parity check); no rounding to the broker's step.
    continuous: bool = False

    @classmethod
    def from_settings(cls, settings) -> PlanConfig:
        return cls(
            min_trade_value=settings.min_trade_value,
            cash_buffer=settings.cash_buffer,
            fractional=settings.fractional_shares,
        )


@dataclass(frozen=True)
class PlanLine:
    symbol: str
    price: float
    current_qty: float
    current_weight: float
    target_weight: float
    target_qty: float
    side: str | None = None
    qty: float = 0.0
    time_in_force: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Plan:
    equity: float
    cash: float
    expected_cost: float  # fraction of equity (the env's c)
    buy_scale: float  # 1.0 unless buys were scaled down to the buying power
    lines: tuple[PlanLine, ...]
    orders: tuple[OrderIntent, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def turnover(self) -> float:
        return float(sum(abs(ln.target_weight - ln.current_weight) for ln in self.lines))

    @property
    def gross_exposure(self) -> float:
        return float(sum(abs(ln.target_weight) for ln in self.lines))

    def with_ids(self, make_id) -> Plan:
        """The same plan with ``client_order_id`` filled in by ``make_id(symbol, side)``."""
        orders = tuple(replace(o, client_order_id=make_id(o.symbol, o.side)) for o in self.orders)
        return replace(self, orders=orders)


def _floor(x: float, decimals: int) -> float:
    # Round toward zero on the broker's quantity step; the epsilon absorbs float noise such as
    # 2.9999999999 meaning 3.
    scale = 10**decimals
    return (
        math.floor(x * scale + 1e-6) / scale if x >= 0 else -math.floor(-x * scale + 1e-6) / scale
    )


def _round_qty(delta: float, whole: bool, config: PlanConfig) -> float:
    if whole:
        return float(math.trunc(delta + (1e-9 if delta > 0 else -1e-9)))
    if config.continuous:
        return delta
    return _floor(delta, QTY_DECIMALS)


def plan_rebalance(
    weights: Mapping[str, float],
    positions: Mapping[str, float],
    prices: Mapping[str, float],
    account: Account,
    assets: Mapping[str, Asset],
    config: PlanConfig = PlanConfig(),
    rates: Mapping[str, float] | None = None,
) -> Plan:
    """Plan the orders that move ``positions`` (shares) to the target ``weights``.

    ``prices``: the planning price of every symbol in weights or positions (the last close for a
    paper rebalance; the execution price in a backtest). ``rates``: cost per unit of turnover
    per symbol (the environment's ``CostConfig.rates``), 0 when absent. Symbols missing from
    ``assets`` are treated as tradable and fractionable (risk checks reject unknown symbols
    before planning)."""
    rates = rates or {}
    symbols = sorted(set(weights) | {s for s, q in positions.items() if q != 0})
    missing = [s for s in symbols if not (prices.get(s) and math.isfinite(prices[s]))]
    if missing:
        raise ValueError(f"no price for {', '.join(missing)}")
    p = np.array([float(prices[s]) for s in symbols])
    q = np.array([float(positions.get(s, 0.0)) for s in symbols])
    w = np.array([float(weights.get(s, 0.0)) for s in symbols])
    tradable = np.array([assets.get(s, Asset(s)).tradable for s in symbols], dtype=bool)
    equity = float(account.cash + q @ p)
    if not equity > 0:
        raise ValueError(f"account equity is {equity:.2f}: nothing to rebalance")
    h = q * p / equity
    w = np.where(tradable, w, h)  # an asset we cannot trade stays as it is
    r = np.array([float(rates.get(s, 0.0)) for s in symbols])
    cost = float(transaction_cost(np.r_[w, 0.0], np.r_[h, 0.0], r)) if symbols else 0.0
    investable = equity * (1.0 - cost) * (1.0 - config.cash_buffer)
    target_qty = w * investable / p

    lines: list[dict] = []
    for i, s in enumerate(symbols):
        asset = assets.get(s, Asset(s))
        whole = not (config.fractional and asset.fractionable) and not config.continuous
        line = dict(
            symbol=s,
            price=float(p[i]),
            current_qty=float(q[i]),
            current_weight=float(h[i]),
            target_weight=float(w[i]),
            target_qty=float(target_qty[i]),
        )
        if not tradable[i]:
            line["note"] = "not tradable: held as is"
            lines.append(line)
            continue
        exit_all = w[i] == 0 and q[i] > 0
        delta = -q[i] if exit_all else _round_qty(target_qty[i] - q[i], whole, config)
        if delta == 0:
            lines.append(line)
            continue
        if not exit_all and abs(delta) * p[i] < config.min_trade_value:
            line["note"] = f"below the minimum trade of ${config.min_trade_value:,.2f}"
            lines.append(line)
            continue
        line.update(side="buy" if delta > 0 else "sell", qty=abs(float(delta)), whole=whole)
        lines.append(line)

    # Buys must fit what the broker will let us spend.
    sells = sum(ln["qty"] * ln["price"] for ln in lines if ln.get("side") == "sell")
    buys = sum(ln["qty"] * ln["price"] for ln in lines if ln.get("side") == "buy")
    budget = account.buying_power - cost * equity + (sells if account.sells_fund_buys else 0.0)
    scale = 1.0
    notes: list[str] = []
    if buys > max(budget, 0.0) + 1e-9 * equity:
        scale = max(budget, 0.0) / buys
        notes.append(
            f"buys scaled to {scale:.2%} to fit the buying power (${account.buying_power:,.2f})"
        )
        for ln in lines:
            if ln.get("side") != "buy":
                continue
            qty = _round_qty(ln["qty"] * scale, ln["whole"], config)
            if qty <= 0 or qty * ln["price"] < config.min_trade_value:
                ln.update(side=None, qty=0.0, note="dropped: buys scaled to the buying power")
            else:
                ln["qty"] = qty

    out_lines: list[PlanLine] = []
    orders: list[OrderIntent] = []
    for ln in lines:
        whole = ln.pop("whole", False)
        if ln.get("side"):
            integral = float(ln["qty"]).is_integer()
            ln["time_in_force"] = "opg" if (whole or integral) else "day"
            orders.append(
                OrderIntent(
                    symbol=ln["symbol"],
                    side=ln["side"],
                    qty=float(ln["qty"]),
                    time_in_force=ln["time_in_force"],
                    est_price=ln["price"],
                )
            )
        out_lines.append(PlanLine(**ln))
    orders.sort(key=lambda o: (o.side != "sell", o.symbol))  # sells first
    return Plan(
        equity=equity,
        cash=float(account.cash),
        expected_cost=cost,
        buy_scale=scale,
        lines=tuple(out_lines),
        orders=tuple(orders),
        notes=tuple(notes),
    )
