"""The documented run on real data: DOW30 and SP100 agents, 3 seeds, test window vs 1/N.

Steps (each printed as it goes; nothing here is needed at run time by the project):

1. a fresh warehouse database on ``--server-url`` (migrated), the shipped universes, the real
   Yahoo bars of ``--data`` through ``tradewind ingest csv`` and ``tradewind features build``;
2. for every agent (default ``dow30_ppo,sp100_ppo``: point-in-time members, 10 bp, the design's
   windows: train 2008-2016, validation 2017-2018, test 2019-01..2020-09) and seed:
   ``run_training`` with ``--timesteps`` env steps, which ends with the registry's
   ``after_training``: candidate version, evaluations of the model and the baselines on the
   validation and test windows (same cost model), gate;
3. a table of the test-window figures of every run next to 1/N (annual return, Sharpe, max
   drawdown, turnover) read back from ``ml.evaluations``.

    .venv/bin/python benchmarks/train_shared.py [--timesteps 50000] [--seeds 0,1,2]

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

DATA = Path("/work/shared/data/sp100_daily_yahoo_2000_2020")


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def _cli(args: list[str], env: dict[str, str]) -> None:
    t = time.monotonic()
    print(f"$ tradewind {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "tradewind", *args], env=env, check=True)
    print(f"  ({time.monotonic() - t:.0f}s)", flush=True)


def prepare(server_url: str, db: str, data: Path, home: Path, fresh: bool) -> str:
    url = _with_db(server_url, db)
    with psycopg.connect(_with_db(server_url, "postgres"), autocommit=True) as c:
        exists = c.execute("select 1 from pg_database where datname = %s", [db]).fetchone()
        if exists and fresh:
            c.execute(f'drop database "{db}" with (force)')
            exists = None
        if not exists:
            c.execute(f'create database "{db}"')
    env = {**os.environ, "DATABASE_URL": url, "TRADEWIND_HOME": str(home)}
    if not exists:
        _cli(["db", "migrate"], env)
        _cli(["ingest", "universes"], env)
        _cli(["ingest", "csv", str(data), "--layout", "yahoo", "--quiet"], env)
        _cli(["features", "build"], env)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql://tradewind@127.0.0.1:54339/postgres")
    parser.add_argument("--db", default="tw_train_shared")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--agents", default="dow30_ppo,sp100_ppo")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--home", type=Path, default=Path("var/train-shared"))
    parser.add_argument("--fresh", action="store_true", help="Rebuild the warehouse database.")
    args = parser.parse_args()

    home = args.home.resolve()
    url = prepare(args.server_url, args.db, args.data, home, args.fresh)
    os.environ["DATABASE_URL"] = url
    os.environ["TRADEWIND_HOME"] = str(home)
    from tradewind.settings import reset_settings_cache
    from tradewind.training.service import run_training

    reset_settings_cache()
    runs = []
    for agent in args.agents.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            t = time.monotonic()
            print(f"== {agent} seed {seed}: {args.timesteps:,} env steps", flush=True)
            outcome = run_training(
                url, agent, seed=seed, timesteps=args.timesteps,
                progress=lambda r: print("  " + r.line(), flush=True),
                registry_progress=lambda line: print("  " + line, flush=True),
            )  # fmt: skip
            runs.append((agent, seed, outcome, time.monotonic() - t))
            if outcome.after_error:
                print(f"  registry: {outcome.after_error}", flush=True)

    rows = []
    with psycopg.connect(url) as c, c.cursor(row_factory=dict_row) as cur:
        for agent, seed, outcome, secs in runs:
            version = outcome.after.version.version if outcome.after else None
            cur.execute(
                """select coalesce(policy, model_name || '@' || model_version) as who,
                          window_name, metrics from ml.evaluations
                   where (model_name = %s and model_version = %s) or policy is not null""",
                [agent, version],
            )
            by = {(r["who"], r["window_name"]): r["metrics"] for r in cur.fetchall()}
            for window in ("validation", "test"):
                model = by.get((f"{agent}@{version}", window), {})
                base = by.get(("1/N", window), {})
                rows.append({
                    "agent": agent, "seed": seed, "run_id": outcome.run_id, "window": window,
                    "train_minutes": round(secs / 60, 1), "timesteps": outcome.result.timesteps,
                    "model": {k: model.get(k) for k in ("annual_return", "sharpe_ratio",
                              "max_drawdown", "turnover")},
                    "one_over_n": {k: base.get(k) for k in ("annual_return", "sharpe_ratio",
                                   "max_drawdown", "turnover")},
                })  # fmt: skip
    print("| agent | seed | window | annual return | Sharpe | max DD | turnover | 1/N return | "
          "1/N Sharpe | 1/N max DD |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")

    def f(v, pct=False):
        return "n/a" if v is None else (f"{v:+.1%}" if pct else f"{v:.3f}")

    for r in rows:
        m, b = r["model"], r["one_over_n"]
        print(f"| {r['agent']} | {r['seed']} | {r['window']} | {f(m['annual_return'], True)} | "
              f"{f(m['sharpe_ratio'])} | {f(m['max_drawdown'], True)} | {f(m['turnover'])} | "
              f"{f(b['annual_return'], True)} | {f(b['sharpe_ratio'])} | "
              f"{f(b['max_drawdown'], True)} |")  # fmt: skip
    print(json.dumps({"benchmark": "train_shared", "timesteps": args.timesteps,
                      "id": uuid.uuid4().hex[:8], "rows": rows}, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
