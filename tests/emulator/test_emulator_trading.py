"""The emulated Alpaca paper account, driven by the official alpaca-py TradingClient."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)
from emu_helpers import AUTH, KEY_ID, SECRET

from tradewind.emulator import MarketEmulator


@pytest.fixture
def tc(emu: MarketEmulator) -> TradingClient:
    # Friday 2015-03-27 after the close: orders queue for Monday's open.
    emu.set_time("2015-03-27 16:05")
    return TradingClient(KEY_ID, SECRET, paper=True, url_override=emu.alpaca_trading_url)


def _buy(symbol: str, coid: str | None = None, **kw) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=coid, **kw
    )


def test_full_order_cycle_fills_at_next_open(emu, dataset, tc):
    acct = tc.get_account()
    assert acct.status.value == "ACTIVE" and acct.cash == "100000" and acct.equity == "100000"
    clock = tc.get_clock()
    assert clock.is_open is False and clock.next_open.isoformat() == "2015-03-30T09:30:00-04:00"

    a = tc.submit_order(_buy("AAPL", "rebal-2015-03-27-AAPL", notional=5000))
    m = tc.submit_order(_buy("MSFT", "rebal-2015-03-27-MSFT", qty=10.5))
    assert a.status == OrderStatus.ACCEPTED and a.notional == "5000" and a.qty is None
    assert m.qty == "10.5" and m.filled_qty == "0"
    assert {o.client_order_id for o in tc.get_orders()} == {a.client_order_id, m.client_order_id}
    assert tc.get_order_by_client_id("rebal-2015-03-27-MSFT").id == m.id
    assert tc.get_all_positions() == []

    filled = emu.fill_open_orders()
    assert len(filled) == 2
    open_aapl = Decimal(
        str(dataset.daily.set_index(["symbol", "session"]).loc[("AAPL", "2015-03-30"), "open"])
    )
    open_msft = Decimal(
        str(dataset.daily.set_index(["symbol", "session"]).loc[("MSFT", "2015-03-30"), "open"])
    )
    a2 = tc.get_order_by_id(a.id)
    assert a2.status == OrderStatus.FILLED
    assert Decimal(a2.filled_avg_price) == open_aapl
    assert a2.filled_at.isoformat() == "2015-03-30T13:30:00+00:00"
    qty_aapl = (Decimal(5000) / open_aapl).quantize(Decimal("1e-9"), rounding="ROUND_DOWN")
    assert Decimal(a2.filled_qty) == qty_aapl

    positions = {p.symbol: p for p in tc.get_all_positions()}
    assert set(positions) == {"AAPL", "MSFT"}
    assert Decimal(positions["MSFT"].qty) == Decimal("10.5")
    assert Decimal(positions["AAPL"].avg_entry_price) == open_aapl
    cash = Decimal(100000) - qty_aapl * open_aapl - Decimal("10.5") * open_msft
    assert Decimal(tc.get_account().cash) == cash
    assert tc.get_orders() == []  # default status=open
    assert len(tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))) == 2

    # Sell half of MSFT, then close everything; the closing orders fill at the next open.
    half = tc.close_position("MSFT", ClosePositionRequest(percentage="50"))
    assert half.side == OrderSide.SELL and half.qty == "5.25"
    closing = tc.close_all_positions(cancel_orders=True)
    assert {c.symbol for c in closing} == {"AAPL", "MSFT"} and all(c.status == 200 for c in closing)
    assert tc.get_order_by_id(half.id).status == OrderStatus.CANCELED
    emu.fill_open_orders()
    assert tc.get_all_positions() == []
    assert Decimal(tc.get_account().equity) == Decimal(tc.get_account().cash)
    log = emu.requests_for("alpaca_trading")
    assert any(
        r.route == "/v2/positions" and r.method == "DELETE" and r.param("cancel_orders") == "True"
        for r in log
    )


def test_duplicate_client_order_id_is_422(tc):
    tc.submit_order(_buy("AAPL", "same-id", qty=1))
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("AAPL", "same-id", qty=1))
    assert err.value.status_code == 422
    assert err.value.code == 40010001 and err.value.message == "client_order_id must be unique"
    assert len(tc.get_orders()) == 1


def test_insufficient_buying_power_and_qty(tc):
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("SPY", qty=100000))
    assert err.value.status_code == 403 and err.value.code == 40310000
    assert "insufficient buying power" in err.value.message
    with pytest.raises(APIError) as err:
        tc.submit_order(
            MarketOrderRequest(
                symbol="SPY", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            )
        )
    assert err.value.status_code == 403 and err.value.code == 40310000
    # Open buy orders hold buying power.
    tc.submit_order(_buy("SPY", notional=60000))
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("AAPL", notional=50000))
    assert err.value.status_code == 403
    assert Decimal(tc.get_account().buying_power) == Decimal(40000)


def test_fractional_rules_and_unknown_asset(tc):
    with pytest.raises(APIError) as err:
        tc.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=1.5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC
            )
        )
    assert err.value.status_code == 422 and err.value.code == 42210000
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("ZZZZ", qty=1))
    assert err.value.status_code == 422 and 'asset "ZZZZ" not found' in err.value.message
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("AAPL", notional=0.5))
    assert err.value.status_code == 422


def test_cancel_replace_and_limit_orders(emu, tc):
    o = tc.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=1.0
        )
    )
    assert o.limit_price == "1"
    emu.fill_open_orders()  # a $1 limit does not fill at the open
    assert tc.get_order_by_id(o.id).status == OrderStatus.ACCEPTED
    assert tc.cancel_order_by_id(o.id) is None  # 204
    assert tc.get_order_by_id(o.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as err:
        tc.cancel_order_by_id(o.id)
    assert err.value.status_code == 422
    with pytest.raises(APIError) as err:
        tc.get_order_by_id("00000000-0000-4000-8000-000000000000")
    assert err.value.status_code == 404
    with pytest.raises(APIError) as err:
        tc.get_order_by_client_id("never-sent")
    assert err.value.status_code == 404
    tc.submit_order(_buy("AAPL", qty=1))
    tc.submit_order(_buy("MSFT", qty=1))
    cancelled = tc.cancel_orders()
    assert len(cancelled) == 2 and all(c.status == 200 for c in cancelled)
    with pytest.raises(APIError) as err:
        tc.get_open_position("AAPL")
    assert err.value.status_code == 404


def test_explicit_fill_prices(emu, tc):
    tc.submit_order(_buy("AAPL", "p1", qty=3))
    filled = emu.fill_open_orders({"AAPL": "12.34"})
    assert filled[0]["filled_avg_price"] == "12.34"
    pos = tc.get_open_position("AAPL")
    assert pos.qty == "3" and pos.cost_basis == "37.02"
    assert Decimal(tc.get_account().cash) == Decimal("100000") - Decimal("37.02")


def test_calendar_assets_and_wire_strings(emu, tc):
    cal = tc.get_calendar(GetCalendarRequest(start=date(2015, 11, 25), end=date(2015, 11, 30)))
    assert [c.date.isoformat() for c in cal] == ["2015-11-25", "2015-11-27", "2015-11-30"]
    assert cal[1].close.strftime("%H:%M") == "13:00" and cal[0].open.strftime("%H:%M") == "09:30"
    assets = {a.symbol: a for a in tc.get_all_assets()}
    assert set(assets) == {"AAPL", "MSFT", "SPY"} and assets["AAPL"].fractionable
    assert tc.get_asset("MSFT").symbol == "MSFT"
    assert tc.get_asset(str(assets["SPY"].id)).symbol == "SPY"
    raw = requests.get(emu.alpaca_trading_url + "/v2/account", headers=AUTH, timeout=10).json()
    money = ("cash", "equity", "buying_power", "portfolio_value", "long_market_value")
    assert all(isinstance(raw[k], str) for k in money)
    asset = requests.get(
        emu.alpaca_trading_url + "/v2/assets/AAPL", headers=AUTH, timeout=10
    ).json()
    assert asset["class"] == "us_equity" and "asset_class" not in asset
    r = requests.post(
        emu.alpaca_trading_url + "/v2/orders",
        headers=AUTH,
        timeout=10,
        json={
            "symbol": "AAPL",
            "qty": "2",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
        },
    )
    assert r.status_code == 200
    order = r.json()
    assert order["qty"] == "2" and order["order_class"] == "" and order["updated_at"]
    assert requests.get(emu.alpaca_trading_url + "/v2/account", timeout=10).status_code == 401


def test_accept_then_fail_places_the_order_and_loses_the_reply(emu, tc):
    emu.faults.set(accept_then_fail=[500], target="alpaca_trading")
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("AAPL", "lost-1", qty=2))
    assert err.value.status_code == 500
    placed = tc.get_order_by_client_id("lost-1")  # the account has it all the same
    assert placed.qty == "2" and placed.status == OrderStatus.ACCEPTED
    posts = [r for r in emu.requests_for("alpaca_trading", "/v2/orders") if r.method == "POST"]
    assert [(r.status, r.fault) for r in posts] == [(500, "accept_then_fail")]
    # 504 is retried by alpaca-py itself: its second POST meets the duplicate-id 422.
    emu.faults.set(accept_then_fail=[504], target="alpaca_trading")
    with pytest.raises(APIError) as err:
        tc.submit_order(_buy("MSFT", "lost-2", qty=1))
    assert err.value.status_code == 422 and "client_order_id must be unique" in str(err.value)
    assert len([o for o in tc.get_orders() if o.client_order_id == "lost-2"]) == 1
    # 0 drops the connection after the order is in the book.
    emu.faults.set(accept_then_fail=[0], target="alpaca_trading")
    with pytest.raises(requests.ConnectionError):
        tc.submit_order(_buy("SPY", "lost-3", qty=1))
    assert tc.get_order_by_client_id("lost-3").symbol == "SPY"
    # data requests are never affected, and the fault expires after N orders
    tc.submit_order(_buy("SPY", "fine", qty=1))
    assert emu.faults.snapshot()["rules"] == []


def test_partial_fills_and_rejections_at_the_open(emu, dataset, tc):
    tc.submit_order(_buy("AAPL", "part", qty=10))
    tc.submit_order(_buy("MSFT", "part-frac", qty=3.5))
    tc.submit_order(_buy("SPY", "rej", qty=1))
    out = emu.fill_open_orders(
        session="2015-03-30", partial={"AAPL": 0.35, "MSFT": 0.5}, reject=["SPY"]
    )
    assert len(out) == 3
    a, m, s = (tc.get_order_by_client_id(c) for c in ("part", "part-frac", "rej"))
    assert (a.filled_qty, a.status) == ("3", OrderStatus.CANCELED)  # whole shares: floor(3.5)
    assert (m.filled_qty, m.status) == ("1.75", OrderStatus.CANCELED)
    assert (s.filled_qty, s.status) == ("0", OrderStatus.REJECTED)
    opens = dataset.daily.set_index(["symbol", "session"])["open"]
    assert float(a.filled_avg_price) == pytest.approx(opens[("AAPL", "2015-03-30")])
    pos = {p.symbol: p.qty for p in tc.get_all_positions()}
    assert pos == {"AAPL": "3", "MSFT": "1.75"}
    # over HTTP too (a process that only knows the URL)
    tc.submit_order(_buy("SPY", "rej-http", qty=1))
    r = requests.post(
        emu.url + "/_emulator/fill", json={"session": "2015-03-31", "reject": ["SPY"]}, timeout=10
    )
    assert r.status_code == 200 and r.json()[0]["status"] == "rejected"
