"""Rebalancing the emulated Alpaca paper account through the official TradingClient.

Every test drives ``tradewind.trading.service`` with ``AlpacaBroker`` (alpaca-py over loopback
HTTP to the project's emulator); expected orders are computed here from the raw bars."""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest
from trading_helpers import (
    KEY_ID,
    SECRET,
    SYMBOLS,
    T1,
    WEIGHTS,
    T,
    bar,
    dataset,
    insert_targets,
    order_posts,
    start_emulator,
)

from tradewind.settings import get_settings, reset_settings_cache
from tradewind.trading.alpaca_broker import AlpacaBroker
from tradewind.trading.errors import BrokerError, LiveTradingRefused, RiskBreach
from tradewind.trading.service import rebalance, reconcile


def client(emu) -> TradingClient:
    return TradingClient(KEY_ID, SECRET, paper=True, url_override=emu.alpaca_trading_url)


def all_orders(emu) -> list:
    return client(emu).get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))


def expected_qty(db_url: str, symbol: str, equity=100_000.0, buffer=0.01) -> float:
    px = bar(db_url, symbol, T, "close")
    return math.floor(WEIGHTS[symbol] * equity * (1 - buffer) / px * 1e9 + 1e-6) / 1e9


def assert_one_order_per_symbol(emu, db_url) -> None:
    orders = all_orders(emu)
    assert sorted(o.symbol for o in orders) == sorted(WEIGHTS)
    assert len({o.client_order_id for o in orders}) == len(orders)
    for o in orders:
        assert float(o.qty) == pytest.approx(expected_qty(db_url, o.symbol), abs=1e-9)


def test_full_rebalance_then_reconcile_matches_the_broker(emu, warehouse):
    res = rebalance(T, "alpaca")
    assert res.sent == 4 and res.found == 0 and not res.errors
    assert_one_order_per_symbol(emu, warehouse)
    assert len(order_posts(emu)) == 4
    for o in all_orders(emu):
        assert o.side.value == "buy"
        assert o.time_in_force.value == ("opg" if float(o.qty).is_integer() else "day")
        assert o.client_order_id.startswith("tw-20150326-" + o.symbol + "-b-")

    emu.fill_open_orders(session=str(T1))
    emu.set_time("2015-03-27 10:00")
    rec = reconcile(T, "alpaca")
    tc = client(emu)
    broker_pos = {p.symbol: Decimal(p.qty) for p in tc.get_all_positions()}
    with psycopg.connect(warehouse) as c:
        rows = c.execute(
            "select symbol, qty from broker.positions where broker = 'alpaca' and session = %s",
            (T1,),
        ).fetchall()
        fills = c.execute("select symbol, qty, price from broker.fills order by symbol").fetchall()
        cash, equity = c.execute(
            "select cash, equity from broker.account_snapshots where session = %s", (T1,)
        ).fetchone()
        statuses = c.execute("select distinct status from broker.orders").fetchall()
    assert {s: Decimal(q) for s, q in rows} == broker_pos  # exactly the broker's positions
    acct = tc.get_account()
    assert Decimal(cash) == Decimal(acct.cash) and Decimal(equity) == Decimal(acct.equity)
    assert statuses == [("filled",)]
    for sym, qty, price in fills:  # fills at the open of T+1 from the raw bars
        assert float(price) == pytest.approx(bar(warehouse, sym, T1, "open"))
        assert float(qty) == pytest.approx(expected_qty(warehouse, sym), abs=1e-9)
    r = rec.report
    assert r["unfilled"] == [] and len(r["fills"]) == 4
    for ln in r["weights"]:  # achieved vs target: off only by the buffer and the overnight move
        assert abs(ln["difference"]) < 0.03
    assert all(abs(f["slippage_bps"]) < 1e-6 for f in r["fills"])  # filled exactly at the open


def test_rerun_places_zero_orders(emu, warehouse):
    rebalance(T, "alpaca")
    again = rebalance(T, "alpaca")
    assert again.sent == 0 and again.found == 4
    assert len(order_posts(emu)) == 4
    assert_one_order_per_symbol(emu, warehouse)


class CrashAfterSend(AlpacaBroker):
    """The process dies right after the broker accepted the 2nd order, before recording it."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.count = 0

    def submit(self, intent):
        res = super().submit(intent)
        self.count += 1
        if self.count == 2:
            raise SystemExit("killed between sending and recording")
        return res


def test_crash_between_sending_and_recording_then_rerun(emu, warehouse):
    with pytest.raises(SystemExit):
        rebalance(T, "alpaca", broker_obj=CrashAfterSend(get_settings()))
    with psycopg.connect(warehouse) as c:
        pending = c.execute(
            "select symbol from broker.orders where status = 'pending_submit'"
        ).fetchall()
    assert len(pending) == 1  # sent, never recorded
    assert len(all_orders(emu)) == 2
    again = rebalance(T, "alpaca")
    assert again.sent == 2 and again.found == 2
    assert len(order_posts(emu)) == 4  # the crashed order was found, not sent again
    assert_one_order_per_symbol(emu, warehouse)
    with psycopg.connect(warehouse) as c:
        ids = c.execute("select broker_order_id, status from broker.orders").fetchall()
    assert {o.id.hex for o in all_orders(emu)} == {b.replace("-", "") for b, _ in ids} and all(
        s == "accepted" for _, s in ids
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 0])
def test_error_after_the_broker_accepted_then_retry_no_duplicate(emu, warehouse, status):
    # The first two orders' replies are lost (504: alpaca-py itself retries, 3 s each time).
    emu.faults.set(accept_then_fail=[status] * 2, target="alpaca_trading")
    res = rebalance(T, "alpaca")
    assert not res.errors
    assert_one_order_per_symbol(emu, warehouse)  # each exists once
    lost = [r for r in order_posts(emu) if r.fault == "accept_then_fail"]
    assert len(lost) == 2


@pytest.mark.parametrize(
    "fault",
    [
        {"server_errors": [500, 502, 503]},
        {"server_errors": [504]},
        {"drop": 2},
        {"rate_limit": 1},
        {"latency": 0.05},
    ],
    ids=["5xx", "504", "drop", "429", "latency"],
)
def test_each_fault_mode_during_the_orders(emu, warehouse, fault):
    armed = []

    def arm(msg):  # after the first order: the next lookups/POSTs meet the fault
        if not armed:
            armed.append(msg)
            emu.faults.set(**fault, target="alpaca_trading")

    res = rebalance(T, "alpaca", progress=arm)
    assert not res.errors and res.sent == 4
    assert_one_order_per_symbol(emu, warehouse)
    faulted = [r for r in emu.requests_for("alpaca_trading") if r.fault or r.extra]
    assert faulted, "the fault never met a request"


def test_insufficient_buying_power_is_reported_and_recorded(emu, warehouse):
    # The broker values the buys 35% above the close we planned with (80% invested * 1.35 > 1):
    # the last ones bounce.
    for s in SYMBOLS:
        emu.broker.marks[s] = Decimal(str(bar(warehouse, s, T, "close") * 1.35))
    res = rebalance(T, "alpaca")
    assert res.errors and all("insufficient buying power" in e for e in res.errors)
    refused = {e.split()[0] for e in res.errors}
    with psycopg.connect(warehouse) as c:
        rows = dict(c.execute("select symbol, status from broker.orders").fetchall())
        run = c.execute("select status, message from broker.rebalance_runs").fetchone()
    assert {s for s, st in rows.items() if st == "rejected"} == refused
    assert run[0] == "partial" and "insufficient buying power" in run[1]
    assert len(all_orders(emu)) == 4 - len(refused)


def test_buys_are_scaled_to_the_reported_buying_power(emu, warehouse):
    tc = client(emu)
    tc.submit_order(
        MarketOrderRequest(symbol="AAA", notional=60_000, side="buy", time_in_force="day")
    )
    bp = float(tc.get_account().buying_power)
    res = rebalance(T, "alpaca")
    assert not res.errors and res.plan.buy_scale < 1
    spent = sum(o.qty * bar(warehouse, o.symbol, T, "close") for o, _ in res.outcomes)
    assert spent <= bp + 1e-6 and spent > 0.95 * bp


def test_unknown_symbol_is_a_breach_and_nothing_is_sent(emu, warehouse):
    insert_targets(warehouse, T, {"ZZZZ": 0.1}, model="other")
    with pytest.raises(RiskBreach, match="unknown symbol.*ZZZZ"):
        rebalance(T, "alpaca", model="other")
    assert order_posts(emu) == []


def test_non_tradable_asset_is_held_and_the_rest_trades(warehouse, monkeypatch):
    emu = start_emulator(dataset({"DDD": {"tradable": False}}), monkeypatch)
    try:
        res = rebalance(T, "alpaca")
        assert sorted(o.symbol for o in all_orders(emu)) == ["AAA", "BBB", "CCC"]
        line = next(ln for ln in res.plan.lines if ln.symbol == "DDD")
        assert line.side is None and "not tradable" in line.note
    finally:
        emu.stop()


def test_market_holiday_is_refused_before_any_request(emu, warehouse):
    insert_targets(warehouse, T.replace(month=4, day=3), WEIGHTS)  # Good Friday 2015
    with pytest.raises(RiskBreach, match="not an NYSE session"):
        rebalance("2015-04-03", "alpaca")
    assert emu.requests_for("alpaca_trading") == []


def test_kill_switch_stops_everything(emu, warehouse, monkeypatch):
    monkeypatch.setenv("TRADEWIND_TRADING_KILL_SWITCH", "true")
    reset_settings_cache()
    with pytest.raises(RiskBreach, match="kill switch"):
        rebalance(T, "alpaca")
    assert emu.requests_for("alpaca_trading") == []
    with psycopg.connect(warehouse) as c:
        assert c.execute("select status from broker.rebalance_runs").fetchone() == ("refused",)


def test_market_open_and_stale_targets_are_breaches(emu, warehouse):
    emu.set_time("2015-03-27 11:00")  # T+1 already trading
    with pytest.raises(RiskBreach, match="market is open"):
        rebalance(T, "alpaca")
    emu.set_time("2015-03-27 16:05")
    with pytest.raises(RiskBreach, match="stale targets"):
        rebalance(T1, "alpaca")  # the newest targets are for T
    assert order_posts(emu) == []


def test_dry_run_sends_nothing(emu, warehouse):
    res = rebalance(T, "alpaca", dry_run=True)
    assert len(res.plan.orders) == 4 and res.outcomes == []
    assert order_posts(emu) == []


def test_live_url_without_opt_in_is_refused_before_any_request(tw_env, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("TRADEWIND_ALPACA_TRADING_URL", "https://api.alpaca.markets")
    reset_settings_cache()
    connects: list = []

    def audit(event, args):
        if event == "socket.connect" and args[1] and args[1][0] not in ("127.0.0.1", "::1"):
            connects.append(args[1])

    sys.addaudithook(audit)
    with pytest.raises(LiveTradingRefused, match="TRADEWIND_LIVE_TRADING=true"):
        AlpacaBroker(get_settings())
    with pytest.raises(LiveTradingRefused):
        rebalance(T, "alpaca")
    assert connects == []
    monkeypatch.setenv("TRADEWIND_LIVE_TRADING", "true")
    reset_settings_cache()
    assert AlpacaBroker(get_settings()).paper is False  # opted in: built, nothing sent yet
    assert connects == []


def test_reconcile_reports_partial_fills_and_rejections(emu, warehouse):
    rebalance(T, "alpaca")
    emu.fill_open_orders(session=str(T1), partial={"AAA": 0.5}, reject=["BBB"])
    emu.set_time("2015-03-27 10:00")
    rec = reconcile(T, "alpaca")
    unfilled = {u["symbol"]: u for u in rec.report["unfilled"]}
    assert set(unfilled) == {"AAA", "BBB"}
    assert unfilled["BBB"]["status"] == "rejected" and unfilled["BBB"]["filled_qty"] == 0
    assert unfilled["AAA"]["filled_qty"] == pytest.approx(unfilled["AAA"]["qty"] * 0.5, abs=1e-8)
    achieved = {ln["symbol"]: ln["achieved_weight"] for ln in rec.report["weights"]}
    assert achieved["BBB"] == 0 and 0 < achieved["AAA"] < WEIGHTS["AAA"] * 0.6
    broker_pos = {p.symbol: Decimal(p.qty) for p in client(emu).get_all_positions()}
    with psycopg.connect(warehouse) as c:
        rows = dict(c.execute("select symbol, qty from broker.positions").fetchall())
        statuses = dict(c.execute("select symbol, status from broker.orders").fetchall())
    assert {s: Decimal(q) for s, q in rows.items()} == broker_pos
    assert statuses == {"AAA": "canceled", "BBB": "rejected", "CCC": "filled", "DDD": "filled"}
    png = Path(rec.report["picture"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    # reconciling again changes nothing
    again = reconcile(T, "alpaca")
    assert again.report == rec.report
    with psycopg.connect(warehouse) as c:
        counts = [
            c.execute(f"select count(*) from broker.{t}").fetchone()[0]
            for t in ("fills", "positions", "account_snapshots", "reconciliations")
        ]
    assert counts == [3, 3, 1, 1]


def test_a_hung_broker_times_out_as_one_error_and_the_rerun_places_each_order_once(
    emu, warehouse, monkeypatch
):
    monkeypatch.setenv("TRADEWIND_BROKER_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("TRADEWIND_HTTP_MAX_RETRIES", "1")
    reset_settings_cache()
    armed = []

    def hang(msg):  # after the first order every request hangs past the timeout
        if msg.startswith("[1/") and not armed:
            armed.append(msg)
            emu.faults.set(latency=1.0, target="alpaca_trading")

    with pytest.raises(BrokerError, match="ReadTimeout"):
        rebalance(T, "alpaca", progress=hang)
    emu.faults.set(latency=0, target="alpaca_trading")
    import time

    time.sleep(1.2)  # requests that timed out on our side still reach the account
    again = rebalance(T, "alpaca")
    assert not again.errors
    assert_one_order_per_symbol(emu, warehouse)
    with psycopg.connect(warehouse) as c:
        runs = c.execute("select status from broker.rebalance_runs order by run_id").fetchall()
    assert runs == [("failed",), ("submitted",)]


def test_whole_share_mode_sends_opg_orders(emu, warehouse, monkeypatch):
    monkeypatch.setenv("TRADEWIND_FRACTIONAL_SHARES", "false")
    reset_settings_cache()
    res = rebalance(T, "alpaca")
    assert res.sent == 4 and not res.errors
    for o in all_orders(emu):
        assert o.time_in_force.value == "opg" and float(o.qty).is_integer()
        assert float(o.qty) == math.floor(expected_qty(warehouse, o.symbol))


def test_a_missing_close_of_t_is_a_breach(emu, warehouse):
    with psycopg.connect(warehouse) as c:
        c.execute("delete from raw.bars_daily where symbol = 'DDD' and session = %s", (T,))
    with pytest.raises(RiskBreach, match="no close price on 2015-03-26 for DDD"):
        rebalance(T, "alpaca")
    assert order_posts(emu) == []
