"""Wall time of ``tradewind demo`` (what ``make demo`` runs after the install): a first run in a
fresh folder and database, then a second run in the same folder, whose ratio to the first is the
reuse (same trained run, version, signals and orders).

Times exactly the two ``tradewind demo`` processes (start to exit, including Python start-up);
the per-step seconds are the demo's own summary table. Also reports the machine's load average
at the start and end, since the machine is shared, and whether the second run really reused the
first run's training (the demo reuses a run only for the same code version: a commit landing in
the checkout between the two runs makes the second one retrain, and its time is then no reuse
figure).

    DATABASE_URL=postgresql://tradewind@127.0.0.1:54339/postgres .venv/bin/python benchmarks/demo.py

Uses a scratch database ``tw_bench_demo`` (dropped afterwards) and a temporary TRADEWIND_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def _steps(out: str) -> dict[str, float]:
    steps = {}
    for name in ("warehouse", "ingest", "features", "train", "registry", "signals", "rebalance"):
        m = re.search(rf"✓ {name}: .*\((\d+\.\d)s\)", out)
        if m:
            steps[name] = float(m.group(1))
    return steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.environ.get("DATABASE_URL"))
    args = ap.parse_args()
    if not args.server:
        sys.exit("set DATABASE_URL (a role with CREATEDB) or --server")
    db = "tw_bench_demo"
    with psycopg.connect(_with_db(args.server, "postgres"), autocommit=True) as c:
        c.execute(f"drop database if exists {db} with (force)")
        c.execute(f"create database {db}")
    load_start = os.getloadavg()
    runs = []
    try:
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWIND_", "APCA_"))}
            env.update(DATABASE_URL=_with_db(args.server, db), TRADEWIND_HOME=home)
            for i in (1, 2):
                t0 = time.monotonic()
                proc = subprocess.run(
                    [sys.executable, "-m", "tradewind", "demo"], cwd=home, env=env,
                    capture_output=True, text=True,
                )  # fmt: skip
                wall = time.monotonic() - t0
                if proc.returncode != 0:
                    sys.exit(f"run {i} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
                runs.append({"wall_s": round(wall, 1), "steps_s": _steps(proc.stdout),
                             "reused_training": "reused run " in proc.stdout})  # fmt: skip
                print(f"run {i}: {wall:.1f}s  {runs[-1]['steps_s']}", flush=True)
    finally:
        with psycopg.connect(_with_db(args.server, "postgres"), autocommit=True) as c:
            c.execute(f"drop database if exists {db} with (force)")
    first, second = runs[0]["wall_s"], runs[1]["wall_s"]
    print(f"second run / first run: {second / first:.3f}")
    if not runs[1]["reused_training"]:
        print("!! the second run retrained (the code version changed between the runs?): "
              "its time is not a reuse figure", flush=True)  # fmt: skip
    print(json.dumps({
        "benchmark": "demo", "first_s": first, "second_s": second,
        "second_vs_first": round(second / first, 3),
        "second_reused_training": runs[1]["reused_training"], "runs": runs, "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 1) for x in load_start],
        "loadavg_end": [round(x, 1) for x in os.getloadavg()],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
