"""``SimBroker``: a simulated broker that fills at the next session's open from daily bars,
charging the environment's cost model (``tradewind.rl.core``).

Cost of a batch of fills at open(T+1) for orders decided at T: with V the value of the book at
the open before trading, h_i the weights before and w_i = value_i / (V - fee) the weights after
(of the value left once the fee is paid), the fee is the environment's
``fee = V * sum_i |w_i - h_i| * rate_i``, ``rate_i = fixed_bps/1e4 + slippage_coef * vol_T,i``
(``CostConfig.rates`` of the volatility the environment computes from the same bars). The fee
depends on w and w on the fee, so it is the fixed point of that equation (a contraction with
factor ~rate, converged in a few iterations). Fed the planner's orders sized at the open price,
this is exactly the environment's step.

State (cash, positions, order book) lives behind ``SimStore``: in memory for backtests, in
``broker.sim_accounts`` / ``broker.sim_orders`` for the CLI.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

import numpy as np
import pandas as pd

from tradewind import calendar as nyse
from tradewind.rl.core import CostConfig
from tradewind.rl.data import DEFAULT_VOL_WINDOW, MarketData
from tradewind.trading.model import Account, Asset, Clock, OrderIntent, OrderRecord, SubmitResult

NS = uuid.UUID("0d7f4f4e-5a51-4d1e-9f7e-3b0c6a9e2a12")
FEE_ITERATIONS = 60


class Bars:
    """Daily bars of one price series per symbol (``symbol, session, open, high, low, close,
    volume``), with the environment's volatility per (session, symbol)."""

    def __init__(self, frame: pd.DataFrame, vol_window: int = DEFAULT_VOL_WINDOW) -> None:
        f = frame[["symbol", "session", "open", "high", "low", "close", "volume"]].copy()
        f["symbol"] = f["symbol"].astype(str)
        f["session"] = pd.to_datetime(f["session"]).dt.date
        self.frame = f.sort_values(["symbol", "session"]).reset_index(drop=True)
        self.vol_window = vol_window
        idx = self.frame.set_index(["symbol", "session"])
        self._open = idx["open"].astype(float).to_dict()
        self._close = idx["close"].astype(float).to_dict()
        self.symbols = tuple(sorted(set(self.frame["symbol"])))
        self._vol: pd.DataFrame | None = None
        self._market: MarketData | None = None

    def open(self, symbol: str, session: date) -> float | None:
        return self._open.get((symbol, session))

    def close(self, symbol: str, session: date) -> float | None:
        return self._close.get((symbol, session))

    def has(self, symbol: str) -> bool:
        return symbol in self.symbols

    def market_data(self) -> MarketData:
        """The environment's arrays of these bars (built once)."""
        if self._market is None:
            self._market = MarketData.from_bars(self.frame, vol_window=self.vol_window)
        return self._market

    def volatility(self) -> pd.DataFrame:
        """[session x symbol] of ``MarketData.volatility`` (the env's cost input)."""
        if self._vol is None and self.frame.empty:
            self._vol = pd.DataFrame()
        if self._vol is None:
            md = self.market_data()
            self._vol = pd.DataFrame(
                md.volatility, index=pd.to_datetime(md.sessions).date, columns=list(md.symbols)
            )
        return self._vol


@dataclass
class SimState:
    account_id: str
    cash: float
    positions: dict[str, float] = field(default_factory=dict)
    orders: dict[str, OrderRecord] = field(default_factory=dict)  # by client order id
    sessions: dict[str, date] = field(default_factory=dict)  # client order id -> as-of session


class SimStore(Protocol):
    def load(self, account_id: str, initial_cash: float) -> SimState: ...

    def save(self, state: SimState) -> None: ...


class MemorySimStore:
    def __init__(self) -> None:
        self._states: dict[str, SimState] = {}

    def load(self, account_id: str, initial_cash: float) -> SimState:
        return self._states.setdefault(account_id, SimState(account_id, float(initial_cash)))

    def save(self, state: SimState) -> None:
        self._states[state.account_id] = state


def batch_fee(
    value: float, before: np.ndarray, after_values: np.ndarray, rates: np.ndarray
) -> tuple[float, np.ndarray]:
    """The environment's cost of moving from weights ``before`` to the book ``after_values``
    (dollars per asset) when the fee itself comes out of the value: (fee, fee per asset)."""
    fee = 0.0
    parts = np.zeros_like(rates)
    for _ in range(FEE_ITERATIONS):
        left = value - fee
        w = after_values / left if left > 0 else np.zeros_like(after_values)
        parts = value * np.abs(w - before) * rates
        new = float(parts.sum())
        if abs(new - fee) <= 1e-15 * max(value, 1.0):
            fee = new
            break
        fee = new
    return fee, parts


class SimBroker:
    """The simulated broker at the end of session ``session`` (its clock: after that close)."""

    name = "sim"
    sells_fund_buys = True  # sells fill first at the open and pay for the buys

    def __init__(
        self,
        bars: Bars,
        session: date,
        *,
        store: SimStore | None = None,
        account_id: str = "sim",
        initial_cash: float = 100_000.0,
        costs: CostConfig = CostConfig(),
    ) -> None:
        self.bars = bars
        self.session = session
        self.store = store or MemorySimStore()
        self.costs = costs
        self.price_field = "close"  # what valuations use: "open" right after the fills
        self.state = self.store.load(account_id, initial_cash)

    @property
    def account_id(self) -> str:
        return self.state.account_id

    def at(self, session: date) -> SimBroker:
        """The same account seen at the end of another session."""
        other = object.__new__(SimBroker)
        other.__dict__.update(self.__dict__)
        other.session = session
        return other

    # ---- valuation -----------------------------------------------------------------------
    def mark(
        self, symbol: str, session: date | None = None, field_: str | None = None
    ) -> float | None:
        """Last known price of ``symbol`` at/before ``session`` (close, or open)."""
        session = session or self.session
        get = self.bars.close if (field_ or self.price_field) == "close" else self.bars.open
        px = get(symbol, session)
        if px is not None:
            return px
        f = self.bars.frame
        past = f[(f["symbol"] == symbol) & (f["session"] < session)]
        return float(past["close"].iloc[-1]) if len(past) else None

    def value(self, session: date | None = None, field_: str | None = None) -> float:
        total = self.state.cash
        # Symbol order, not the dict's: the book read back from jsonb comes in another key order,
        # and a float sum in another order differs in its last bits (a re-run must not).
        for s, q in sorted(self.state.positions.items()):
            px = self.mark(s, session, field_)
            total += q * (px if px is not None else 0.0)
        return float(total)

    # ---- the broker interface ------------------------------------------------------------
    def account(self) -> Account:
        eq = self.value()
        return Account(
            account_id=self.account_id,
            cash=self.state.cash,
            equity=eq,
            buying_power=max(self.state.cash, 0.0),
            sells_fund_buys=True,
            raw={"cash": self.state.cash, "equity": eq, "session": str(self.session)},
        )

    def positions(self) -> dict[str, float]:
        return {s: q for s, q in self.state.positions.items() if q != 0}

    def position_details(self) -> list[dict]:
        out = []
        for s, q in sorted(self.positions().items()):
            px = self.mark(s)
            out.append(
                {
                    "symbol": s,
                    "qty": q,
                    "current_price": px,
                    "market_value": q * px if px is not None else None,
                    "avg_entry_price": None,
                }
            )
        return out

    def assets(self, symbols: Iterable[str]) -> dict[str, Asset | None]:
        return {s: (Asset(s) if self.bars.has(s) else None) for s in symbols}

    def clock(self) -> Clock:
        if getattr(self, "_clock_of", None) != self.session:  # one calendar lookup per session
            nxt = nyse.next_session(self.session)
            self._clock = Clock(
                now=pd.Timestamp(nyse.session_close_utc(self.session)) + pd.Timedelta(minutes=5),
                is_open=False,
                next_open=pd.Timestamp(nyse.session_open_utc(nxt)),
            )
            self._clock_of = self.session
        return self._clock

    def cost_rates(self, symbols: Iterable[str], session: date) -> dict[str, float]:
        symbols = list(symbols)
        vol = self.bars.volatility()
        if session in vol.index:
            v = vol.loc[session].reindex(symbols).fillna(0.0).to_numpy(dtype=np.float64)
        else:
            v = np.zeros(len(symbols))
        return dict(zip(symbols, self.costs.rates(v).tolist(), strict=True))

    def find(self, client_order_id: str) -> OrderRecord | None:
        o = self.state.orders.get(client_order_id)
        return replace(o) if o is not None else None

    def open_orders(self) -> list[OrderRecord]:
        return [replace(o) for o in self.state.orders.values() if o.is_open]

    def submit(self, intent: OrderIntent) -> SubmitResult:
        coid = intent.client_order_id
        if not coid:
            raise ValueError("an order needs its deterministic client_order_id")
        if coid in self.state.orders:
            return SubmitResult(self.find(coid), sent=False)
        if not self.bars.has(intent.symbol):
            return SubmitResult(None, sent=False, error=f'asset "{intent.symbol}" not found')
        if intent.side == "sell" and intent.qty > self.state.positions.get(intent.symbol, 0) + 1e-9:
            return SubmitResult(None, sent=False, error="insufficient qty available for order")
        order = OrderRecord(
            client_order_id=coid,
            broker_order_id=str(uuid.uuid5(NS, coid)),
            symbol=intent.symbol,
            side=intent.side,
            qty=float(intent.qty),
            time_in_force=intent.time_in_force,
            status="accepted",
            submitted_at=self.clock().now,
        )
        self.state.orders[coid] = order
        self.state.sessions[coid] = self.session
        self.store.save(self.state)
        return SubmitResult(replace(order), sent=True)

    # ---- the open of the next session ------------------------------------------------------
    def catch_up(self) -> list[OrderRecord]:
        """Settle open orders whose fill session is at or before the broker's session."""
        done: list[OrderRecord] = []
        pending = {self.state.sessions[c] for c, o in self.state.orders.items() if o.is_open}
        for d in sorted(pending):
            t1 = nyse.next_session(d)
            if t1 <= self.session:
                done += self.settle(t1)
        return done

    def settle(self, fill_session: date) -> list[OrderRecord]:
        """Fill the open orders decided at the session before ``fill_session`` at its open.

        Sells first, then buys (a buy that the cash cannot cover fills partly); orders whose
        symbol has no bar that day stay open. Returns the orders filled now."""
        decided = nyse.previous_session(fill_session)
        todo = [
            o
            for c, o in self.state.orders.items()
            if o.is_open and self.state.sessions.get(c) == decided
        ]
        if not todo:
            return []
        st = self.state
        symbols = sorted(set(st.positions) | {o.symbol for o in todo})
        opens = {s: self.bars.open(s, fill_session) for s in symbols}
        marks = {
            s: (opens[s] if opens[s] is not None else self.mark(s, fill_session)) for s in symbols
        }
        value = st.cash + sum(q * (marks[s] or 0.0) for s, q in sorted(st.positions.items()))
        before = {s: st.positions.get(s, 0.0) for s in symbols}
        cash = st.cash
        filled: list[OrderRecord] = []
        for o in sorted(todo, key=lambda o: (o.side != "sell", o.symbol)):
            px = opens[o.symbol]
            if px is None:
                continue
            qty = float(o.qty or 0.0)
            if o.side == "sell":
                qty = min(qty, st.positions.get(o.symbol, 0.0))
                cash += qty * px
                st.positions[o.symbol] = st.positions.get(o.symbol, 0.0) - qty
            else:
                qty = min(qty, max(cash, 0.0) / px)
                cash -= qty * px
                st.positions[o.symbol] = st.positions.get(o.symbol, 0.0) + qty
            o.filled_qty, o.filled_avg_price = qty, px
            o.status = (
                "filled" if math.isclose(qty, o.qty or 0.0, rel_tol=1e-12) else "partially_filled"
            )
            o.filled_at = pd.Timestamp(nyse.session_open_utc(fill_session))
            filled.append(o)
        rates_map = self.cost_rates(symbols, decided)
        rates = np.array([rates_map[s] for s in symbols])
        h = np.array([before[s] * (marks[s] or 0.0) / value for s in symbols])
        after = np.array([st.positions.get(s, 0.0) * (marks[s] or 0.0) for s in symbols])
        fee, parts = batch_fee(value, h, after, rates)
        by_symbol = dict(zip(symbols, parts, strict=True))
        for o in filled:
            o.fee = float(by_symbol.get(o.symbol, 0.0))
        st.cash = cash - fee
        st.positions = {s: q for s, q in st.positions.items() if abs(q) > 1e-12}
        self.store.save(st)
        return [replace(o) for o in filled]


def sim_for(
    bars: Bars,
    session: date,
    *,
    store: SimStore | None = None,
    account_id: str = "sim",
    settings=None,
) -> SimBroker:
    """A SimBroker configured from the settings (initial cash, the env's cost parameters)."""
    from tradewind.settings import get_settings

    s = settings or get_settings()
    return SimBroker(
        bars,
        session,
        store=store,
        account_id=account_id,
        initial_cash=s.sim_initial_cash,
        costs=CostConfig(fixed_bps=s.sim_fixed_bps, slippage_coef=s.sim_slippage_coef),
    )


def weights_of(values: Mapping[str, float], equity: float) -> dict[str, float]:
    return {s: v / equity for s, v in values.items()} if equity else {}
