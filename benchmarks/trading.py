"""Rebalancing speed: the simulated broker's day-by-day backtest and the idempotent Alpaca path.

1. Backtest: 30 assets x 250 decision sessions of random daily target weights, 10 bp + 0.1 x
   volatility costs. Timed: ``broker_backtest`` (planner + SimBroker, one rebalance per session,
   continuous quantities) against the reference ``env_backtest`` (``PortfolioEnv`` +
   ``run_policy`` on the same bars and weights), both on the same prepared ``Bars`` (the env's
   arrays are built once, timed apart as the shared set-up).
   Their daily returns must agree to 1e-9 (checked and printed).
2. Orders: one 30-order rebalance through ``AlpacaBroker.submit`` (lookup by client order id,
   then POST) against the project's emulator over loopback HTTP, against the reference of the
   same 30 orders sent with bare ``TradingClient.submit_order`` calls (no lookup). The ratio is
   the price of idempotency; a re-run of the rebalance (30 lookups, nothing sent) is timed too.

    .venv/bin/python benchmarks/trading.py [--sessions 250] [--repeats 3]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np
import pandas as pd

from tradewind.emulator import MarketEmulator, make_dataset
from tradewind.rl.core import CostConfig
from tradewind.settings import Settings
from tradewind.trading.alpaca_broker import AlpacaBroker
from tradewind.trading.ids import client_order_id
from tradewind.trading.model import OrderIntent
from tradewind.trading.parity import broker_backtest, env_backtest
from tradewind.trading.sim_broker import Bars

N_ASSETS = 30
COSTS = CostConfig(fixed_bps=10.0, slippage_coef=0.1)


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def backtest_part(sessions: int, repeats: int) -> dict:
    symbols = [f"S{i:02d}" for i in range(N_ASSETS)]
    ds = make_dataset(symbols, "2014-01-02", "2015-06-30", seed=5, minute=False, actions=False)
    frame = ds.daily
    days = sorted(set(pd.to_datetime(frame["session"]).dt.date))[25 : 25 + sessions]
    w = np.random.default_rng(1).dirichlet(np.ones(N_ASSETS + 1), size=len(days))[:, :-1]
    weights = pd.DataFrame(w, index=pd.to_datetime(days), columns=symbols)
    t0 = time.perf_counter()
    bars = Bars(frame)
    bars.volatility()  # shared set-up: the env's arrays of the bars (MarketData.from_bars)
    t_setup = time.perf_counter() - t0
    t_sim, sim = best(lambda: broker_backtest(bars, weights, costs=COSTS), repeats)
    t_env, env = best(lambda: env_backtest(bars, weights, costs=COSTS), repeats)
    diff = float((sim["return"] - env["return"].reindex(sim.index)).abs().max())
    print(
        f"backtest {len(days)} sessions x {N_ASSETS} assets: broker {t_sim:.3f}s "
        f"({len(days) / t_sim:,.0f} rebalances/s), env {t_env:.3f}s; broker/env time "
        f"{t_sim / t_env:.1f}x; max |return diff| {diff:.2e} (shared set-up {t_setup:.2f}s)"
    )
    return {
        "sessions": len(days),
        "assets": N_ASSETS,
        "setup_s": round(t_setup, 3),
        "broker_backtest_s": round(t_sim, 4),
        "env_backtest_s": round(t_env, 4),
        "broker_vs_env_time_ratio": round(t_sim / t_env, 2),
        "broker_rebalances_per_s": round(len(days) / t_sim, 1),
        "max_abs_return_diff": diff,
    }


def orders_part(repeats: int) -> dict:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.requests import MarketOrderRequest

    symbols = [f"S{i:02d}" for i in range(N_ASSETS)]
    ds = make_dataset(symbols, "2015-01-02", "2015-03-31", seed=5, minute=False, actions=False)
    t_idem, t_bare, t_rerun = [], [], []
    with MarketEmulator(ds, initial_cash=10_000_000) as emu:
        settings = Settings(_env_file=None, alpaca_trading_url=emu.alpaca_trading_url,
                            alpaca_api_key_id="bench", alpaca_api_secret_key="bench")  # fmt: skip
        for r in range(repeats):
            emu.reset()
            emu.set_time("2015-03-26 16:05")
            broker = AlpacaBroker(settings)
            intents = [
                OrderIntent(s, "buy", 10.0, "opg",
                            client_order_id(broker.account_id, date(2015, 3, 26), f"b{r}", s, "buy"))
                for s in symbols
            ]  # fmt: skip
            t0 = time.perf_counter()
            for i in intents:
                broker.submit(i)
            t_idem.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in intents:
                broker.submit(i)  # the re-run: every order is found, nothing sent
            t_rerun.append(time.perf_counter() - t0)
            bare = TradingClient("bench", "bench", paper=True, url_override=emu.alpaca_trading_url)
            t0 = time.perf_counter()
            for s in symbols:
                bare.submit_order(
                    MarketOrderRequest(symbol=s, qty=10, side="buy", time_in_force="opg")
                )
            t_bare.append(time.perf_counter() - t0)
            posts = [
                q for q in emu.requests_for("alpaca_trading", "/v2/orders") if q.method == "POST"
            ]
            assert len(posts) == 2 * N_ASSETS, len(posts)  # the re-run sent nothing
    ti, tb, tr = min(t_idem), min(t_bare), min(t_rerun)
    print(
        f"orders x{N_ASSETS} over loopback HTTP: idempotent submit {ti * 1000:.0f} ms, bare "
        f"submit_order {tb * 1000:.0f} ms ({ti / tb:.2f}x), re-run (lookups only) {tr * 1000:.0f} ms"
    )
    return {
        "orders": N_ASSETS,
        "idempotent_submit_ms": round(ti * 1000, 1),
        "bare_submit_ms": round(tb * 1000, 1),
        "idempotent_vs_bare_ratio": round(ti / tb, 2),
        "rerun_lookups_ms": round(tr * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    out = {"benchmark": "trading"}
    out.update(backtest_part(args.sessions, args.repeats))
    out.update(orders_part(args.repeats))
    out.update(python=platform.python_version(), numpy=np.__version__, pandas=pd.__version__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
