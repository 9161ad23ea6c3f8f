"""Plain value types shared by the planner, the brokers and the records (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Account:
    account_id: str
    cash: float
    equity: float
    buying_power: float
    # True when the proceeds of sells placed in the same batch fund its buys (the simulated
    # broker fills sells first at the open); Alpaca's cash-account buying power does not grow
    # until the sells have filled, so its plans only spend what is reported.
    sells_fund_buys: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Asset:
    symbol: str
    tradable: bool = True
    fractionable: bool = True


@dataclass(frozen=True)
class Clock:
    """The broker's clock: now (UTC), market open now, next open (UTC)."""

    now: Any
    is_open: bool
    next_open: Any


@dataclass(frozen=True)
class OrderIntent:
    """One order the planner wants sent (market order; qty in shares, > 0)."""

    symbol: str
    side: str  # "buy" | "sell"
    qty: float
    time_in_force: str  # "opg" (whole shares) | "day" (fractional)
    client_order_id: str = ""
    est_price: float = 0.0

    @property
    def est_value(self) -> float:
        return self.qty * self.est_price


@dataclass
class OrderRecord:
    """An order as the broker knows it."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    qty: float | None
    time_in_force: str
    status: str
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    submitted_at: Any = None
    filled_at: Any = None
    notional: float | None = None
    fee: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "accepted", "pending_new", "partially_filled", "held")


@dataclass(frozen=True)
class SubmitResult:
    """What ``Broker.submit`` did: ``sent`` is False when the order already existed."""

    order: OrderRecord | None
    sent: bool
    error: str | None = None  # the broker refused it (e.g. insufficient buying power)


@dataclass(frozen=True)
class Targets:
    """Target weights of one model version for one as-of session (cash = 1 - sum)."""

    as_of_session: date
    model_name: str
    model_version: int
    weights: dict[str, float]
