"""Benchmark: evaluation of the baselines on the real Yahoo set for the default DOW30 agent
(point-in-time members, window 32, 10 bps), next to a compact numpy 1/N backtest on the same
arrays measured in the same run.

    DATABASE_URL=... .venv/bin/python benchmarks/evaluate.py [--data /work/shared/data/sp100_daily_yahoo_2000_2020]

Setup (not timed): a scratch database `tw_bench_evaluate` on the warehouse server (dropped at the
end), the bars of the agent's symbols COPYed into raw.bars_daily, `dbt build` of the marts.
Timed, each on its own (best of --repeat):
1. `load`: reading the test window's arrays from the feature marts, with the agent's
   point-in-time membership applied (`tradewind.registry.evaluation._load_data`);
2. `env_1n`: the 1/N backtest through the environment (`tradewind.rl.evaluation.backtest`,
   metrics included) over the test window;
3. `numpy_1n` (the reference): the same 1/N backtest as a compact numpy loop over the same
   arrays (targets, drift, turnover, cost), no environment; its returns must equal 2.'s;
4. `baselines`: all four baselines through the environment over the test window;
5. `report`: one report page and its five PNGs (`tradewind.rl.evaluate.write_report`);
6. `evaluate_policy`: the whole thing as `tradewind train` runs it for the baselines: both
   windows (validation 2017-2018, test 2019-01..2020-09), four baselines each, stored, with eight
   reports (run once).
Ratio: `env_1n / numpy_1n` (what the environment's generality costs per backtest). It also
prints the baselines' metrics on both windows: the bar a DOW30 agent has to clear. The LAST line
printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg

DEFAULT_DATA = Path("/work/shared/data/sp100_daily_yahoo_2000_2020")
BENCH_DB = "tw_bench_evaluate"
COLS = ["symbol", "session", "open", "high", "low", "close", "volume"]


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def read_bars(folder: Path, symbols: list[str]) -> pd.DataFrame:
    parts = []
    for sym in symbols:
        path = folder / f"{sym}.csv"
        if not path.is_file():
            continue
        df = pd.read_csv(path)
        df.columns = [c.lower() for c in df.columns]
        df = df.rename(columns={"date": "session"})
        df["symbol"] = sym
        parts.append(df[COLS])
    bars = pd.concat(parts, ignore_index=True)
    body = bars[["open", "close"]]
    # raw.bars_daily's CHECK refuses a bar whose low/high do not bracket open and close.
    ok = (bars["low"] <= body.min(axis=1)) & (bars["high"] >= body.max(axis=1))
    bars = bars[ok & (bars["session"] < "2020-10-28")].reset_index(drop=True)  # partial bar
    bars["session"] = pd.to_datetime(bars["session"]).dt.date
    return bars


def copy_bars(url: str, bars: pd.DataFrame) -> None:
    buf = io.StringIO()
    bars[COLS].assign(source="csv", adjustment="split").to_csv(
        buf, index=False, header=False, float_format="%.17g"
    )
    cols = ", ".join([*COLS, "source", "adjustment"])
    with psycopg.connect(url) as c, c.cursor() as cur:
        with cur.copy(f"copy raw.bars_daily ({cols}) from stdin with (format csv)") as cp:
            cp.write(buf.getvalue())


class BaselineSubject:
    """What evaluation reads of a loaded policy (symbols, features, window, env config,
    agent, manifest), for the default DOW30 agent; the baselines need nothing more."""

    def __init__(self, agent, symbols):
        from tradewind.rl.env import EnvConfig

        self.agent = agent
        self.symbols = tuple(symbols)
        self.features = tuple(agent.features)
        self.window = agent.window
        self.env_config = EnvConfig.build(agent.env_config(None))
        self.manifest = {"windows": agent.windows.as_dict()}


def numpy_equal_weight(data, cfg, start, end) -> np.ndarray:
    """1/N from the arrays alone: targets 1/n over the available assets, bought from cash,
    drift over open(T+1)->open(T+2), cost = bps x turnover. Simple net return per session."""
    days = np.asarray(data.sessions, dtype="datetime64[D]")
    t_first = max(int(np.searchsorted(days, np.datetime64(start))), cfg.window - 1)
    t_last = int(np.searchsorted(days, np.datetime64(end), side="right")) - 1
    avail = data.available
    rel = np.where(avail, np.exp(np.where(avail, data.labels, 0.0)), 1.0)
    rate = cfg.fixed_bps * 1e-4
    held = np.zeros(data.n_assets)
    out = np.empty(t_last - t_first + 1)
    for k, t in enumerate(range(t_first, t_last + 1)):
        n = avail[t].sum()
        target = avail[t] / n if n else np.zeros(data.n_assets)
        cost = np.abs(target - held).sum() * rate
        grown = target * rel[t]
        gross = grown.sum() + (1.0 - target.sum())
        out[k] = (1.0 - cost) * gross - 1.0
        held = grown / gross
    return out


def best_of(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = ap.parse_args()

    from tradewind.db import warehouse_url
    from tradewind.db.migrate import migrate
    from tradewind.features import run_dbt
    from tradewind.registry.evaluation import _env_config, _load_data, evaluate_policy
    from tradewind.rl.agents import load_agent
    from tradewind.rl.baselines import EqualWeight
    from tradewind.rl.evaluate import write_report
    from tradewind.rl.evaluation import backtest, baseline_backtests
    from tradewind.settings import get_settings
    from tradewind.training.data import resolve_universe

    settings = get_settings()
    server = warehouse_url(settings)
    admin = _with_db(server, "postgres")
    url = _with_db(server, BENCH_DB)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
        c.execute(f'create database "{BENCH_DB}"')
    try:
        agent = load_agent("dow30_ppo")
        symbols = resolve_universe(agent)
        print(f"setup: {len(symbols)} DOW30 symbols (members 2008-2018), migrate, COPY, dbt build")
        migrate(url, settings.sql_dir, use_timescale=False)
        bars = read_bars(args.data, symbols)
        copy_bars(url, bars)
        os.environ.setdefault("DBT_LOG_LEVEL", "warn")
        run_dbt(["build", "--exclude-resource-type", "test", "--exclude-resource-type",
                 "unit_test", "--quiet"], url=url)  # fmt: skip
        subject = BaselineSubject(agent, symbols)
        cfg = _env_config(subject)
        windows = agent.windows.as_dict()
        start, end = (pd.Timestamp(d).date() for d in windows["test"])

        data, t_load = best_of(lambda: _load_data(url, subject, start, end), args.repeat)
        env_bt, t_env = best_of(
            lambda: backtest(data, cfg, EqualWeight(), name="1/N", window_name="test",
                             start=start, end=end),
            args.repeat,
        )  # fmt: skip
        ref, t_np = best_of(lambda: numpy_equal_weight(data, cfg, start, end), args.repeat)
        diff = float(np.max(np.abs(env_bt.daily["net_return"].to_numpy() - ref)))
        runs, t_baselines = best_of(
            lambda: baseline_backtests(data, cfg, window_name="test", start=start, end=end),
            args.repeat,
        )
        out_dir = settings.home / "bench-evaluate-report"
        _, t_report = best_of(
            lambda: write_report(runs["1/N"], runs, out_dir, title="1/N bench"), args.repeat
        )
        t0 = time.perf_counter()
        results = evaluate_policy(url, subject, ["validation", "test"], progress=print)
        t_all = time.perf_counter() - t0

        with psycopg.connect(url) as c:
            stored = c.execute(
                "select window_name, policy, start_session, end_session, sessions, metrics "
                "from ml.evaluations order by window_name desc, policy"
            ).fetchall()
        print(f"\n{'window':<11}{'policy':<14}{'sessions':>9}{'ann. ret':>10}{'vol':>8}"
              f"{'Sharpe':>8}{'max DD':>9}{'turnover':>10}")  # fmt: skip
        figures = {}
        for window, policy, _s0, _s1, n, m in stored:
            print(f"{window:<11}{policy:<14}{n:>9}{m['annual_return']:>+10.1%}"
                  f"{m['annual_volatility']:>8.1%}{m['sharpe_ratio']:>8.2f}"
                  f"{m['max_drawdown']:>9.1%}{m['turnover']:>10.4f}")  # fmt: skip
            figures[f"{window}:{policy}"] = {
                k: round(m[k], 4) for k in ("annual_return", "sharpe_ratio", "max_drawdown",
                                            "turnover")
            }  # fmt: skip
        test_rows = [r for r in stored if r[0] == "test"]
        listed = int(data.listed[data.index_range(start, end)[0]].sum())
        print(
            f"\ntest window {test_rows[0][2]}..{test_rows[0][3]}: {listed} of "
            f"{len(symbols)} symbols listed as members on its first session"
        )
        print(f"env 1/N backtest {t_env * 1e3:.1f} ms vs numpy {t_np * 1e3:.1f} ms "
              f"({t_env / t_np:.1f}x); returns differ by at most {diff:.1e}")  # fmt: skip
        summary = {
            "benchmark": "evaluate",
            "agent": "dow30_ppo",
            "symbols": len(symbols),
            "test_sessions": len(env_bt.daily),
            "load_s": round(t_load, 3),
            "env_1n_s": round(t_env, 4),
            "numpy_1n_s": round(t_np, 4),
            "env_vs_numpy": round(t_env / t_np, 2),
            "max_abs_return_diff": diff,
            "baselines_s": round(t_baselines, 3),
            "report_s": round(t_report, 3),
            "evaluate_policy_s": round(t_all, 2),
            "evaluations": sum(len(r.baseline_evaluation_ids) for r in results),
            "metrics": figures,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
    print(json.dumps(summary, sort_keys=False))


if __name__ == "__main__":
    main()
