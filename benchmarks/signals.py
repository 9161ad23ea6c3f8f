"""Benchmark: a one-year DOW30 signal backfill in one batched call, next to the same year done
one session per call, in the same run on the same warehouse.

    .venv/bin/python benchmarks/signals.py [--year 2019] [--timesteps 512] [--profile]

Setup (not timed): a scratch database `tw_bench_signals` on the warehouse server (DATABASE_URL
or the embedded one; dropped at the end); the DOW30 universes and synthetic DOW30-like bars of
the 30 2019 members from mid-2017 through January of the year after, ingested through the
quality gate; the dbt feature marts; one small agent trained by the training code
(`tradewind.rl.train.train`, the demo agent with a short budget: its speed of inference, not
its skill, is measured) and registered as the production version of `bench_dow30`.

Timed, each from a clean state (no signals stored, empty weights folder):

- **backfill**: ``tradewind.signals.generate(start=<first session>, end=<last session>)`` for
  every NYSE session of the year: one warehouse read per mart, one policy load, the policy's
  encoder over all the sessions' windows in one batch and its head over the sessions in order
  (each decision sees the previous one), one transaction writing rows (one COPY), records and
  files (in threads);
- **per session**: ``generate(date=T)`` once for each session of the year, in order: the
  function ``tradewind signals generate --date T --model bench_dow30`` calls, in this warm
  process (the command would add a Python start and the imports, some seconds, to every
  call: left out, so the reference is the fastest honest one). Each call resolves the model,
  loads its policy, reads the features of its window, runs the policy once and writes its
  rows, file, history file and records in its own transaction.

Both must produce the same weights and byte-identical files (checked). Reported: wall seconds of
each, the ratio (goal >= 20x) and the backfill's seconds (goal < 10 s). The LAST line printed is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

BENCH_DB = "tw_bench_signals"
MODEL = "bench_dow30"


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.csv")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(
            "select as_of_session, symbol, weight from signals.target_weights order by 1, 2"
        ).fetchall()


def _reset(url: str, folder: Path) -> None:
    with psycopg.connect(url) as c:
        c.execute("delete from signals.target_weights")
        c.execute("delete from signals.generations")
    shutil.rmtree(folder, ignore_errors=True)


def setup(url: str, year: int, timesteps: int, work: Path) -> None:
    from tradewind.features import run_dbt
    from tradewind.ingest.pipeline import run_ingest
    from tradewind.ingest.universe_load import load_universe_members
    from tradewind.registry import register_candidate, set_stage
    from tradewind.rl.agents import load_agent
    from tradewind.rl.data import load_market_data
    from tradewind.rl.train import train
    from tradewind.universes import members

    symbols = members("DOW30", dt.date(year, 6, 28))
    load_universe_members(url)
    _say(f"ingesting synthetic bars of {len(symbols)} DOW30 members ...")
    run_ingest("synthetic", symbols, f"{year - 2}-06-01", f"{year + 1}-01-31", "1Day",
               as_of=dt.datetime(year + 1, 2, 3, tzinfo=dt.UTC), url=url)  # fmt: skip
    _say("building the feature marts with dbt ...")
    run_dbt(["build", "--select", "+daily_features", "+forward_returns",
             "--resource-type", "model", "--resource-type", "seed"],
            url=url, target_path=work / "dbt-target")  # fmt: skip
    windows = {
        "train": {"start": f"{year - 2}-09-01", "end": f"{year - 1}-06-29"},
        "validation": {"start": f"{year - 1}-07-02", "end": f"{year - 1}-12-31"},
        "test": {"start": f"{year}-01-02", "end": f"{year}-12-31"},
    }
    agent = load_agent("demo").with_overrides(
        **{"name": MODEL, "windows": windows, "budget.timesteps": timesteps,
           "algorithm.train_batch_size": 512, "algorithm.minibatch_size": 128,
           "algorithm.num_epochs": 1, "checkpoint.every_iterations": 1,
           "early_stopping.eval_every": 1}
    )  # fmt: skip
    data = load_market_data(url, symbols, windows["train"]["start"], windows["validation"]["end"],
                            agent.features, warmup_sessions=agent.window)  # fmt: skip
    _say(f"training a small agent ({timesteps} steps) ...")
    run_id = str(uuid.uuid4())
    train(agent, data, work / "artifacts" / run_id, run_id=run_id)
    mv = register_candidate(url, MODEL, str(work / "artifacts" / run_id))
    set_stage(url, MODEL, mv.version, "production", by="benchmark", reason="benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2019)
    parser.add_argument("--timesteps", type=int, default=512)
    parser.add_argument("--profile", action="store_true", help="cProfile the backfill (stderr).")
    args = parser.parse_args()

    from tradewind.calendar import sessions
    from tradewind.db import warehouse_url
    from tradewind.db.migrate import migrate
    from tradewind.settings import get_settings, reset_settings_cache
    from tradewind.signals import generate

    server = warehouse_url(get_settings())
    with psycopg.connect(_with_db(server, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
        c.execute(f'create database "{BENCH_DB}"')
    url = _with_db(server, BENCH_DB)
    work = Path(tempfile.mkdtemp(prefix="tw-bench-signals-"))
    try:
        migrate(url, get_settings().sql_dir, use_timescale=False)
        setup(url, args.year, args.timesteps, work)
        # Settings for generate(): this database, and no ensembles (only the model is timed).
        os.environ["DATABASE_URL"] = url
        os.environ["TRADEWIND_ENSEMBLES_DIR"] = str(work / "no-ensembles")
        reset_settings_cache()
        days = sessions(dt.date(args.year, 1, 1), dt.date(args.year, 12, 31))
        batch_dir, single_dir = work / "w-batch", work / "w-single"

        _say(f"backfill of {len(days)} sessions in one call ...")
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        (res,) = generate(start=days[0], end=days[-1], model=MODEL, weights_dir=str(batch_dir))
        t_batch = time.perf_counter() - t0
        if profiler is not None:
            import pstats

            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(25)
            # Where the time goes by phase: the project's own functions, cumulative.
            stats.sort_stats("cumulative").print_stats(r"tradewind/|/rl/", 30)
        assert res.status == "written" and len(res.sessions) == len(days)
        batch_rows, batch_files = _rows(url), _digest(batch_dir)

        _reset(url, single_dir)
        _say(f"the same {len(days)} sessions one call each ...")
        t0 = time.perf_counter()
        for i, day in enumerate(days):
            generate(date=day, model=MODEL, weights_dir=str(single_dir))
            if (i + 1) % 50 == 0:
                _say(f"  {i + 1}/{len(days)} sessions, {time.perf_counter() - t0:.1f}s")
        t_single = time.perf_counter() - t0
        single_rows, single_files = _rows(url), _digest(single_dir)

        same_rows = single_rows == batch_rows
        same_files = single_files == batch_files
        ratio = t_single / t_batch
        print(
            f"backfill, one call:       {t_batch:8.2f} s  ({len(days) / t_batch:7.1f} sessions/s)"
        )
        print(
            f"one session per call:     {t_single:8.2f} s  ({len(days) / t_single:7.1f} sessions/s)"
        )
        print(f"speed-up:                 {ratio:8.1f}x  (goal >= 20x; backfill goal < 10 s)")
        print(f"same weights: {same_rows}; byte-identical files: {same_files}")
        print(
            json.dumps(
                {
                    "benchmark": "signals",
                    "sessions": len(days),
                    "symbols": len({r[1] for r in batch_rows}),
                    "backfill_s": round(t_batch, 3),
                    "per_session_calls_s": round(t_single, 3),
                    "speedup": round(ratio, 1),
                    "backfill_sessions_per_s": round(len(days) / t_batch, 1),
                    "same_weights": same_rows,
                    "identical_files": same_files,
                    "python": platform.python_version(),
                }
            )
        )
        if not (same_rows and same_files):
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(_with_db(server, "postgres"), autocommit=True) as c:
            c.execute(f'drop database if exists "{BENCH_DB}" with (force)')


if __name__ == "__main__":
    main()
