"""A compact Alpaca Trading API v2 paper account: account, assets, orders, positions, clock.

Wire rules kept faithful (market_apis.md sections 2, 3.5, 6.4-6.6): money and quantities are
strings; order timestamps are non-null RFC-3339 with nanoseconds; ``order_class`` is ``""``;
the asset key is ``class``; account status is upper case; calendar times are ``HH:MM``; POST
order -> 200; duplicate client_order_id -> 422 40010001; insufficient buying power or qty ->
403 40310000; cancel-all -> 207; cancel one -> 204 (422 when not cancelable); unknown -> 404.

Simplifications: a cash account (multiplier 1, no shorting); market and limit orders only;
orders stay open until the emulator is told to fill them (``fill_open_orders``), at an explicit
price or at the open of the next session in the emulator's own daily bars.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import pandas as pd

from tradewind.emulator.common import Reply, first, is_true
from tradewind.emulator.dataset import NY, Dataset, nyse_calendar
from tradewind.emulator.timeparse import parse_bound

NS = uuid.UUID("6f1c2a52-3d0e-4f57-9a51-7d1e6c0b9a11")
QTY_STEP = Decimal("0.000000001")  # qty and notional take up to 9 decimals
OPEN_STATUSES = ("new", "accepted", "pending_new", "partially_filled")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("day", "gtc", "opg", "cls", "ioc", "fok")


def asset_id(symbol: str) -> str:
    return str(uuid.uuid5(NS, f"asset/{symbol}"))


def dec(value: Any) -> Decimal:
    """Numbers arrive as JSON numbers from alpaca-py and as strings from REST users."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return d


def fmt(d: Decimal | None) -> str | None:
    """Decimal -> plain string without exponent or trailing zeros ("100000", "0.5")."""
    if d is None:
        return None
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def ts_text(ns: int | None, tz: str = "UTC") -> str | None:
    """RFC-3339 with nanoseconds, like the live API (``2023-12-12T22:31:24.668464435Z``)."""
    if ns is None:
        return None
    ts = pd.Timestamp(int(ns), unit="ns", tz="UTC")
    frac = f"{int(ns) % 1_000_000_000:09d}"
    if tz == "UTC":
        return f"{ts.strftime('%Y-%m-%dT%H:%M:%S')}.{frac}Z"
    local = ts.tz_convert(tz)
    off = local.strftime("%z")
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{frac}{off[:3]}:{off[3:]}"


def _err(status: int, code: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"code": code, "message": message, **extra})


@dataclass
class Order:
    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    extended_hours: bool
    submitted_at: int
    status: str
    seq: int
    reserved: Decimal = Decimal(0)  # buying power held by an open buy
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: int | None = None
    canceled_at: int | None = None
    updated_at: int = 0
    replaced_at: int | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts_text(self.submitted_at),
            "updated_at": ts_text(self.updated_at or self.submitted_at),
            "submitted_at": ts_text(self.submitted_at),
            "filled_at": ts_text(self.filled_at),
            "expired_at": None,
            "canceled_at": ts_text(self.canceled_at),
            "failed_at": None,
            "replaced_at": ts_text(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": asset_id(self.symbol),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": fmt(self.notional),
            "qty": fmt(self.qty),
            "filled_qty": fmt(self.filled_qty),
            "filled_avg_price": fmt(self.filled_avg_price),
            "order_class": "",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": "buy_to_open" if self.side == "buy" else "sell_to_close",
            "time_in_force": self.time_in_force,
            "limit_price": fmt(self.limit_price),
            "stop_price": None,
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": None,
        }


class Broker:
    """State of one paper account. Not thread-safe by itself: the server serialises calls."""

    def __init__(
        self, dataset: Dataset, clock: Callable[[], int], initial_cash: float | str = 100_000
    ) -> None:
        self.dataset = dataset
        self.clock = clock
        self.initial_cash = dec(initial_cash)
        self.account_id = str(uuid.uuid5(NS, "account"))
        self.created_at = clock()
        self.reset()

    def reset(self) -> None:
        self.cash = self.initial_cash
        self.positions: dict[str, Decimal] = {}
        self.cost: dict[str, Decimal] = {}
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.marks: dict[str, Decimal] = {}
        self._seq = 0

    # ---- prices -------------------------------------------------------------------------------

    def price(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """(current, previous close): explicit marks first, then the dataset without lookahead."""
        known = self.dataset.price_at(symbol, self.clock())
        prev = Decimal(str(known[1])) if known and known[1] is not None else None
        if symbol in self.marks:
            return self.marks[symbol], prev
        if known is not None:
            return Decimal(str(known[0])), prev
        return None, prev

    def _reference_price(self, symbol: str) -> Decimal | None:
        cur, _ = self.price(symbol)
        if cur is not None:
            return cur
        nxt = self.dataset.open_on_or_after(symbol, self.clock())
        return Decimal(str(nxt[1])) if nxt else None

    # ---- account ------------------------------------------------------------------------------

    def buying_power(self) -> Decimal:
        held = sum((o.reserved for o in self.orders.values() if o.is_open), Decimal(0))
        return max(self.cash - held, Decimal(0))

    def long_market_value(self) -> tuple[Decimal, Decimal]:
        """(market value now, market value at the previous close)."""
        now_v, last_v = Decimal(0), Decimal(0)
        for sym, q in self.positions.items():
            cur, prev = self.price(sym)
            avg = self.cost[sym] / q if q else Decimal(0)
            now_v += q * (cur if cur is not None else avg)
            last_v += q * (prev if prev is not None else (cur if cur is not None else avg))
        return now_v, last_v

    def account_json(self) -> dict[str, Any]:
        lmv, last_lmv = self.long_market_value()
        equity = self.cash + lmv
        bp = self.buying_power()
        today = pd.Timestamp(self.clock(), unit="ns", tz="UTC").tz_convert(NY)
        return {
            "id": self.account_id,
            "admin_configurations": {},
            "user_configurations": None,
            "account_number": "PA3EMULATOR1",
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "options_approved_level": 0,
            "options_trading_level": 0,
            "currency": "USD",
            "buying_power": fmt(bp),
            "regt_buying_power": fmt(bp),
            "daytrading_buying_power": "0",
            "effective_buying_power": fmt(bp),
            "non_marginable_buying_power": fmt(bp),
            "options_buying_power": fmt(bp),
            "bod_dtbp": "0",
            "cash": fmt(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": fmt(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": ts_text(self.created_at),
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": False,
            "equity": fmt(equity),
            "last_equity": fmt(self.cash + last_lmv),
            "long_market_value": fmt(lmv),
            "short_market_value": "0",
            "position_market_value": fmt(lmv),
            "initial_margin": fmt(lmv),
            "maintenance_margin": fmt(lmv * Decimal("0.3")),
            "last_maintenance_margin": fmt(last_lmv * Decimal("0.3")),
            "sma": "0",
            "daytrade_count": 0,
            "balance_asof": today.strftime("%Y-%m-%d"),
            "crypto_tier": 0,
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
        }

    # ---- assets -------------------------------------------------------------------------------

    def _resolve_symbol(self, symbol_or_id: str) -> str | None:
        base = symbol_or_id.split(":")[0]
        if base in self.dataset.assets:
            return base
        for sym in self.dataset.assets:
            if asset_id(sym) == symbol_or_id:
                return sym
        return None

    def asset_json(self, symbol: str) -> dict[str, Any]:
        meta = self.dataset.assets[symbol]
        return {
            "id": asset_id(symbol),
            "class": "us_equity",
            "exchange": meta.get("exchange", "NASDAQ"),
            "symbol": symbol,
            "name": meta.get("name", symbol),
            "status": meta.get("status", "active"),
            "tradable": bool(meta.get("tradable", True)),
            "marginable": bool(meta.get("marginable", True)),
            "maintenance_margin_requirement": 30,
            "margin_requirement_long": "30",
            "margin_requirement_short": "100",
            "shortable": bool(meta.get("shortable", True)),
            "easy_to_borrow": bool(meta.get("easy_to_borrow", True)),
            "fractionable": bool(meta.get("fractionable", True)),
            "attributes": list(meta.get("attributes", [])),
        }

    def list_assets(self, query: dict[str, list[str]]) -> Reply:
        status = first(query, "status")
        asset_class = first(query, "asset_class")
        exchange = first(query, "exchange")
        out = []
        for sym in self.dataset.symbols:
            a = self.asset_json(sym)
            if status and a["status"] != status:
                continue
            if asset_class and asset_class != "us_equity":
                continue
            if exchange and a["exchange"] != exchange:
                continue
            out.append(a)
        return Reply(200, out)

    def get_asset(self, symbol_or_id: str) -> Reply:
        sym = self._resolve_symbol(symbol_or_id)
        if sym is None:
            return _err(404, 40410000, "asset not found")
        return Reply(200, self.asset_json(sym))

    # ---- positions ----------------------------------------------------------------------------

    def _held_for_sells(self, symbol: str) -> Decimal:
        held = Decimal(0)
        for o in self.orders.values():
            if o.is_open and o.side == "sell" and o.symbol == symbol:
                held += o.qty if o.qty is not None else Decimal(0)
        return held

    def position_json(self, symbol: str) -> dict[str, Any]:
        q = self.positions[symbol]
        cost = self.cost[symbol]
        avg = cost / q
        cur, prev = self.price(symbol)
        cur = cur if cur is not None else avg
        prev = prev if prev is not None else cur
        mv = q * cur
        pl = mv - cost
        intraday_pl = q * (cur - prev)
        last_mv = q * prev

        def ratio(a: Decimal, b: Decimal) -> str:
            return fmt((a / b).quantize(Decimal("1E-16"))) if b else "0"

        meta = self.dataset.assets.get(symbol, {})
        return {
            "asset_id": asset_id(symbol),
            "symbol": symbol,
            "exchange": meta.get("exchange", "NASDAQ"),
            "asset_class": "us_equity",
            "asset_marginable": bool(meta.get("marginable", True)),
            "qty": fmt(q),
            "qty_available": fmt(max(q - self._held_for_sells(symbol), Decimal(0))),
            "avg_entry_price": fmt(avg.quantize(Decimal("1E-9"))),
            "side": "long",
            "market_value": fmt(mv),
            "cost_basis": fmt(cost),
            "unrealized_pl": fmt(pl),
            "unrealized_plpc": ratio(pl, cost),
            "unrealized_intraday_pl": fmt(intraday_pl),
            "unrealized_intraday_plpc": ratio(intraday_pl, last_mv),
            "current_price": fmt(cur),
            "lastday_price": fmt(prev),
            "change_today": ratio(cur - prev, prev),
        }

    def list_positions(self) -> Reply:
        return Reply(200, [self.position_json(s) for s in sorted(self.positions)])

    def get_position(self, symbol_or_id: str) -> Reply:
        sym = self._resolve_symbol(symbol_or_id)
        if sym is None or sym not in self.positions:
            return _err(404, 40410000, "position does not exist")
        return Reply(200, self.position_json(sym))

    def close_position(self, symbol_or_id: str, query: dict[str, list[str]]) -> Reply:
        sym = self._resolve_symbol(symbol_or_id)
        if sym is None or sym not in self.positions:
            return _err(404, 40410000, "position does not exist")
        qty_text, pct_text = first(query, "qty"), first(query, "percentage")
        if qty_text and pct_text:
            return _err(422, 40010001, "qty and percentage are mutually exclusive")
        pos = self.positions[sym]
        try:
            if qty_text:
                qty = dec(qty_text)
            elif pct_text:
                pct = dec(pct_text)
                if not Decimal(0) < pct <= Decimal(100):
                    return _err(422, 40010001, "percentage must be in (0, 100]")
                qty = (pos * pct / 100).quantize(QTY_STEP, rounding=ROUND_DOWN)
                if pos == pos.to_integral_value():  # whole-share positions sell whole shares
                    qty = qty.to_integral_value(rounding=ROUND_DOWN)
            else:
                qty = pos
        except ValueError as exc:
            return _err(422, 40010001, str(exc))
        return self.submit_order(
            {
                "symbol": sym,
                "qty": fmt(qty),
                "side": "sell",
                "type": "market",
                "time_in_force": "day",
            }
        )

    def close_all_positions(self, query: dict[str, list[str]]) -> Reply:
        if is_true(first(query, "cancel_orders")):
            self.cancel_all()
        out = []
        for sym in sorted(self.positions):
            available = self.positions[sym] - self._held_for_sells(sym)
            if available <= 0:
                body = {
                    "code": 40310000,
                    "message": "insufficient qty available for order",
                    "available": 0.0,
                    "existing_qty": float(self.positions[sym]),
                    "held_for_orders": float(self._held_for_sells(sym)),
                    "symbol": sym,
                }
                out.append({"symbol": sym, "status": 403, "body": body})
                continue
            r = self.submit_order(
                {
                    "symbol": sym,
                    "qty": fmt(available),
                    "side": "sell",
                    "type": "market",
                    "time_in_force": "day",
                }
            )
            out.append({"symbol": sym, "status": r.status, "body": r.body})
        return Reply(207, out)

    # ---- orders -------------------------------------------------------------------------------

    def submit_order(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return _err(422, 40010001, "request body format is invalid")
        symbol = body.get("symbol")
        side, otype, tif = body.get("side"), body.get("type"), body.get("time_in_force")
        if not symbol:
            return _err(422, 40010001, "symbol is required")
        if side not in ("buy", "sell"):
            return _err(422, 40010001, "invalid side")
        if otype not in ORDER_TYPES:
            return _err(422, 40010001, "invalid order type")
        if tif not in TIFS:
            return _err(422, 40010001, "invalid time_in_force")
        if body.get("order_class") not in (None, "", "simple"):
            return _err(422, 42210000, "the emulator supports simple orders only")
        if otype not in ("market", "limit"):
            return _err(422, 42210000, "the emulator supports market and limit orders only")
        sym = self._resolve_symbol(str(symbol))
        if sym is None:
            return _err(422, 42210000, f'asset "{symbol}" not found')
        asset = self.asset_json(sym)
        if not asset["tradable"]:
            return _err(422, 42210000, f"asset {sym} is not tradable")
        has_qty = body.get("qty") not in (None, "")
        has_notional = body.get("notional") not in (None, "")
        if has_qty and has_notional:
            return _err(422, 40010001, "qty and notional cannot both be specified")
        if not (has_qty or has_notional):
            return _err(422, 40010001, "qty or notional is required")
        try:
            qty = dec(body["qty"]) if has_qty else None
            notional = dec(body["notional"]) if has_notional else None
            limit_price = (
                dec(body["limit_price"]) if body.get("limit_price") not in (None, "") else None
            )
        except ValueError as exc:
            return _err(422, 40010001, str(exc))
        for name, val in (("qty", qty), ("notional", notional)):
            if val is not None and val != val.quantize(QTY_STEP, rounding=ROUND_DOWN):
                return _err(422, 40010001, f"{name} must have at most 9 decimal places")
        if qty is not None and qty <= 0:
            return _err(422, 40010001, "qty must be > 0")
        if notional is not None and notional < 1:
            return _err(422, 42210000, "notional must be >= 1.00")
        if otype == "limit" and limit_price is None:
            return _err(422, 40010001, "limit_price is required for limit orders")
        if otype == "market" and limit_price is not None:
            return _err(422, 40010001, "limit_price must not be set for market orders")
        if limit_price is not None and limit_price <= 0:
            return _err(422, 40010001, "limit_price must be > 0")
        fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
        if fractional:
            if not asset["fractionable"]:
                return _err(422, 42210000, "requested asset is not fractionable")
            if tif != "day":
                return _err(422, 42210000, "fractional orders must be DAY orders")
            if notional is not None and otype != "market":
                return _err(422, 42210000, "notional orders must be market orders")
        extended = is_true(str(body.get("extended_hours", False)))
        if extended and not (otype == "limit" and tif == "day"):
            return _err(422, 42210000, "extended hours order must be DAY limit orders")
        coid = body.get("client_order_id")
        if coid in (None, ""):
            coid = str(uuid.uuid4())
        coid = str(coid)
        if len(coid) > 128:
            return _err(422, 40010001, "client_order_id must be no more than 128 characters")
        if coid in self.by_client_id:
            return _err(422, 40010001, "client_order_id must be unique")

        reserved = Decimal(0)
        ref = limit_price if limit_price is not None else self._reference_price(sym)
        if side == "buy":
            est = notional if notional is not None else (qty * ref if ref is not None else None)
            if est is not None:
                bp = self.buying_power()
                if est > bp:
                    return _err(
                        403,
                        40310000,
                        "insufficient buying power",
                        buying_power=fmt(bp),
                        cost_basis=fmt(est),
                    )
                reserved = est
        else:
            want = qty
            if want is None:
                want = (notional / ref).quantize(QTY_STEP, rounding=ROUND_DOWN) if ref else None
            have = self.positions.get(sym, Decimal(0))
            held = self._held_for_sells(sym)
            available = have - held
            if want is None or want > available:
                return _err(
                    403,
                    40310000,
                    f"insufficient qty available for order (requested: {fmt(want)}, "
                    f"available: {fmt(available)})",
                    available=fmt(available),
                    existing_qty=fmt(have),
                    held_for_orders=fmt(held),
                    symbol=sym,
                )

        now = self.clock()
        self._seq += 1
        order = Order(
            id=str(uuid.uuid4()),
            client_order_id=coid,
            symbol=sym,
            side=side,
            type=otype,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            extended_hours=extended,
            submitted_at=now,
            updated_at=now,
            status="new" if self.is_open(now) else "accepted",
            seq=self._seq,
            reserved=reserved,
        )
        self.orders[order.id] = order
        self.by_client_id[coid] = order.id
        return Reply(200, order.to_json())

    def list_orders(self, query: dict[str, list[str]]) -> Reply:
        status = first(query, "status", "open")
        if status not in ("open", "closed", "all"):
            return _err(422, 40010001, "invalid status")
        try:
            limit = int(first(query, "limit", "50") or 50)
        except ValueError:
            return _err(422, 40010001, "invalid limit")
        limit = max(1, min(limit, 500))
        direction = first(query, "direction", "desc")
        symbols = {s for s in (first(query, "symbols", "") or "").split(",") if s}
        side = first(query, "side")
        try:
            after = (
                parse_bound(first(query, "after"), is_end=True) if first(query, "after") else None
            )
            until = (
                parse_bound(first(query, "until"), is_end=False) if first(query, "until") else None
            )
        except ValueError as exc:
            return _err(422, 40010001, str(exc))
        picked = []
        for o in self.orders.values():
            if (status == "open" and not o.is_open) or (status == "closed" and o.is_open):
                continue
            if symbols and o.symbol not in symbols:
                continue
            if side and o.side != side:
                continue
            # after/until are exclusive bounds on submission time
            if after is not None and o.submitted_at <= after:
                continue
            if until is not None and o.submitted_at >= until:
                continue
            picked.append(o)
        picked.sort(key=lambda o: (o.submitted_at, o.seq), reverse=(direction != "asc"))
        return Reply(200, [o.to_json() for o in picked[:limit]])

    def _find(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    def get_order(self, order_id: str) -> Reply:
        o = self._find(order_id)
        if o is None:
            return _err(404, 40410000, f"order not found for {order_id}")
        return Reply(200, o.to_json())

    def get_by_client_id(self, query: dict[str, list[str]]) -> Reply:
        coid = first(query, "client_order_id")
        oid = self.by_client_id.get(coid or "")
        if oid is None:
            return _err(404, 40410000, "order not found")
        return Reply(200, self.orders[oid].to_json())

    def _cancel(self, o: Order) -> None:
        now = self.clock()
        o.status, o.canceled_at, o.updated_at, o.reserved = "canceled", now, now, Decimal(0)

    def cancel_order(self, order_id: str) -> Reply:
        o = self._find(order_id)
        if o is None:
            return _err(404, 40410000, f"order not found for {order_id}")
        if not o.is_open:
            return _err(422, 42210000, f"order is not cancelable (status: {o.status})")
        self._cancel(o)
        return Reply(204)

    def cancel_all(self) -> Reply:
        out = []
        for o in sorted(self.orders.values(), key=lambda o: o.seq):
            if o.is_open:
                self._cancel(o)
                out.append({"id": o.id, "status": 200})
        return Reply(207, out)

    def replace_order(self, order_id: str, body: Any) -> Reply:
        o = self._find(order_id)
        if o is None:
            return _err(404, 40410000, f"order not found for {order_id}")
        if not o.is_open:
            return _err(422, 42210000, f"order is not replaceable (status: {o.status})")
        body = body if isinstance(body, dict) else {}
        new = {
            "symbol": o.symbol,
            "side": o.side,
            "type": o.type,
            "time_in_force": body.get("time_in_force") or o.time_in_force,
            "limit_price": body.get("limit_price", fmt(o.limit_price)),
            "client_order_id": body.get("client_order_id"),
        }
        if body.get("qty") not in (None, ""):
            new["qty"] = body["qty"]
        elif o.qty is not None:
            new["qty"] = fmt(o.qty)
        else:
            new["notional"] = fmt(o.notional)
        reserved, o.reserved = o.reserved, Decimal(0)
        old_status, o.status = o.status, "pending_replace"
        r = self.submit_order(new)
        if r.status != 200:
            o.reserved, o.status = reserved, old_status
            return r
        now = self.clock()
        o.status, o.replaced_at, o.updated_at = "replaced", now, now
        o.replaced_by = r.body["id"]
        fresh = self.orders[r.body["id"]]
        fresh.replaces = o.id
        return Reply(200, fresh.to_json())

    # ---- fills --------------------------------------------------------------------------------

    def fill_open_orders(
        self,
        prices: Mapping[str, float | str] | None = None,
        session: Any = None,
        *,
        partial: Mapping[str, float] | None = None,
        reject: Any = None,
    ) -> list[dict[str, Any]]:
        """Fill every open order; returns the filled (and rejected) orders' JSON.

        Price per order: ``prices[symbol]`` when given (filled now), else the open of ``session``
        when given, else the open of the first session opening at/after the submission time,
        from the dataset's daily bars. Orders without a price, and limit orders whose limit is
        not met, stay open. ``partial`` {symbol: fraction in (0, 1)}: that share of the order
        fills (whole shares for whole-share orders) and the rest is canceled at the open, as an
        opening auction that could not match it all; ``reject`` [symbols]: the orders of those
        symbols are rejected at the open."""
        filled = []
        partial = {str(k): float(v) for k, v in (partial or {}).items()}
        rejected = {str(x) for x in (reject or [])}
        for o in sorted(self.orders.values(), key=lambda o: o.seq):
            if not o.is_open:
                continue
            if o.symbol in rejected:
                now = self.clock()
                o.status, o.updated_at, o.reserved = "rejected", now, Decimal(0)
                filled.append(o.to_json())
                continue
            if prices is not None and o.symbol in prices:
                when, px = self.clock(), dec(prices[o.symbol])
            else:
                got = (
                    self.dataset.session_open(o.symbol, session)
                    if session is not None
                    else self.dataset.open_on_or_after(o.symbol, o.submitted_at)
                )
                if got is None:
                    continue
                when, px = got[0], Decimal(str(got[1]))
            if o.limit_price is not None and (
                (o.side == "buy" and px > o.limit_price)
                or (o.side == "sell" and px < o.limit_price)
            ):
                continue
            self._execute(o, px, max(when, o.submitted_at), partial.get(o.symbol))
            filled.append(o.to_json())
        return filled

    def _execute(self, o: Order, px: Decimal, when: int, fraction: float | None = None) -> None:
        if o.qty is not None:
            q = o.qty
        else:
            q = (o.notional / px).quantize(QTY_STEP, rounding=ROUND_DOWN)
        if fraction is not None:
            part = q * Decimal(str(fraction))
            whole = q == q.to_integral_value()
            q = part.to_integral_value(ROUND_DOWN) if whole else part.quantize(QTY_STEP, ROUND_DOWN)
        o.reserved = Decimal(0)
        if o.side == "sell":
            have = self.positions.get(o.symbol, Decimal(0))
            q = min(q, have)
            if q <= 0:
                self._cancel(o)
                return
            self.cost[o.symbol] -= self.cost[o.symbol] * q / have
            self.positions[o.symbol] = have - q
            self.cash += q * px
            if self.positions[o.symbol] == 0:
                del self.positions[o.symbol], self.cost[o.symbol]
        else:
            self.positions[o.symbol] = self.positions.get(o.symbol, Decimal(0)) + q
            self.cost[o.symbol] = self.cost.get(o.symbol, Decimal(0)) + q * px
            self.cash -= q * px
        o.filled_qty, o.filled_avg_price = q, px
        o.status, o.filled_at, o.updated_at = "filled", when, when
        if fraction is not None:
            # The rest did not match at the open: the order ends partly filled and canceled.
            o.status, o.canceled_at = "canceled", when

    # ---- clock and calendar -------------------------------------------------------------------

    @staticmethod
    def is_open(ns: int) -> bool:
        cal = nyse_calendar()
        ts = pd.Timestamp(int(ns), unit="ns", tz="UTC")
        try:
            return bool(cal.is_open_on_minute(ts.floor("min")))
        except Exception:  # outside the calendar's bounds
            return False

    def clock_json(self) -> dict[str, Any]:
        cal = nyse_calendar()
        now = self.clock()
        ts = pd.Timestamp(now, unit="ns", tz="UTC").floor("min")
        return {
            "timestamp": ts_text(now, NY),
            "is_open": self.is_open(now),
            "next_open": ts_text(int(cal.next_open(ts).value), NY),
            "next_close": ts_text(int(cal.next_close(ts).value), NY),
        }

    def calendar_json(self, query: dict[str, list[str]]) -> Reply:
        cal = nyse_calendar()
        try:
            start = pd.Timestamp((first(query, "start") or str(cal.first_session.date()))[:10])
            end = pd.Timestamp((first(query, "end") or str(cal.last_session.date()))[:10])
        except ValueError as exc:
            return _err(422, 40010001, f"invalid date: {exc}")
        sched = cal.schedule
        all_sessions = sched.index
        lo, hi = all_sessions.searchsorted(start), all_sessions.searchsorted(end, side="right")
        out = []
        opens = sched["open"].dt.tz_convert(NY).dt.strftime("%H:%M").to_numpy()
        closes = sched["close"].dt.tz_convert(NY).dt.strftime("%H:%M").to_numpy()
        dates = all_sessions.strftime("%Y-%m-%d").to_numpy()
        t1 = pd.Timestamp("2024-05-28")  # US equities moved from T+2 to T+1 settlement
        for i in range(lo, hi):
            lag = 1 if all_sessions[i] >= t1 else 2
            j = min(i + lag, len(all_sessions) - 1)
            out.append(
                {
                    "date": dates[i],
                    "open": opens[i],
                    "close": closes[i],
                    "session_open": "0400",
                    "session_close": "2000",
                    "settlement_date": dates[j],
                }
            )
        return Reply(200, out)


def summarize_positions(broker: Broker) -> dict[str, float]:
    """symbol -> qty as floats, for test assertions."""
    return {s: float(q) for s, q in broker.positions.items()}
