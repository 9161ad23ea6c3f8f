"""Benchmark: server render time of every dashboard page on a warehouse with a year of paper
trading and 50 training runs.

    .venv/bin/python benchmarks/dashboard.py [--repeat 7]

Setup (not timed): a scratch database `tw_bench_dashboard` on the warehouse server
(DATABASE_URL or the embedded one; dropped at the end), migrated, filled by
``tradewind.dashboard.sample.write_sample`` (30 symbols, two years of bars, 252 sessions of
signals for two production models, one paper account with its orders, fills, positions and
snapshots, 50 training runs with per-iteration histories, validation and test evaluations of
every version and of the four baselines with their daily rows).

Timed, in-process through FastAPI's TestClient (so: routing, the read-only snapshot, every SQL
query of the page, templating or JSON encoding; not the network, not the browser's drawing):
each HTML page and each ``/api/…`` route, the median of ``--repeat`` requests after one warm-up.

References measured in the same run:
- **floor**: a read-only snapshot with ``select 1`` through the same connection code (what any
  page pays before its own work);
- **Python loops** for the model page's heaviest parts (equity and drawdown curves of the
  version's and the baselines' evaluations, the weights grid of its last 250 sessions): rows
  fetched evaluation by evaluation and aggregated in Python loops, against the dashboard's way
  of producing the same two parts (``models._evaluations`` + ``models._curves``: one query
  gathering each evaluation's series into arrays, compounded with numpy; and
  ``common.weights_grid``: one query, densified with numpy).

The goal is every page well under one second. The LAST line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

BENCH_DB = "tw_bench_dashboard"
PAGES = ["/", "/models", "/models/dow30_ppo", "/signals", "/portfolio", "/data"]
APIS = ["/api/overview", "/api/models", "/api/models/dow30_ppo", "/api/signals",
        "/api/portfolio", "/api/data"]  # fmt: skip


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _median(fn, repeat: int) -> float:
    fn()  # warm-up: first connection, template compilation, calendar load
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _python_aggregation(url: str, name: str, version: int) -> None:
    """The model page's curves and weights grid from raw rows, aggregated in Python loops."""
    with psycopg.connect(url) as c:
        ids = [r[0] for r in c.execute(
            "select evaluation_id from ml.evaluations where (model_name = %s and model_version = %s)"
            " or policy is not null", (name, version)).fetchall()]  # fmt: skip
        assert len(ids) == 10, ids  # 2 windows x (the version + 4 baselines), as the page shows
        curves = {}
        for eid in ids:
            rows = c.execute(
                "select session, net_return, turnover from ml.evaluation_daily"
                " where evaluation_id = %s order by session", (eid,)).fetchall()  # fmt: skip
            eq, peak, out = 1.0, 1.0, []
            for session, r, _ in rows:
                eq *= 1 + r
                peak = max(peak, eq)
                out.append((session, eq, eq / peak - 1))
            curves[eid] = out
        rows = c.execute(
            "select as_of_session, symbol, weight from signals.target_weights"
            " where model_name = %s and model_version = %s", (name, version)).fetchall()  # fmt: skip
        sessions = sorted({r[0] for r in rows})[-250:]
        symbols = sorted({r[1] for r in rows})
        cell = {(r[1], r[0]): r[2] for r in rows}
        _ = [[cell.get((s, d), 0.0) for d in sessions] for s in symbols]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from tradewind import calendar
    from tradewind.dashboard.app import create_app
    from tradewind.dashboard.queries import models as models_q
    from tradewind.dashboard.queries.common import weights_grid
    from tradewind.dashboard.sample import write_sample
    from tradewind.dashboard.warehouse import ReadOnlyWarehouse
    from tradewind.db import warehouse_url
    from tradewind.db.migrate import migrate
    from tradewind.settings import get_settings

    s = get_settings()
    server = warehouse_url(s)
    with psycopg.connect(_with_db(server, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
        c.execute(f'create database "{BENCH_DB}"')
    url = _with_db(server, BENCH_DB)
    try:
        migrate(url, s.sql_dir, use_timescale=False)
        end = calendar.last_closed_session(datetime.now(UTC))
        t = time.perf_counter()
        sample = write_sample(url, end=end)
        _say(f"sample warehouse written in {time.perf_counter() - t:.1f}s")
        with psycopg.connect(url) as c:
            counts = {
                t: c.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("raw.bars_daily", "signals.target_weights", "broker.orders",
                          "broker.fills", "broker.account_snapshots", "ml.training_runs",
                          "ml.model_versions", "ml.evaluations", "ml.evaluation_daily")
            }  # fmt: skip
        _say("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        now = calendar.session_close_utc(end) + timedelta(hours=2)
        client = TestClient(create_app(url, settings=s, now=lambda: now))

        wh = ReadOnlyWarehouse(url)

        def floor() -> None:
            with wh.snapshot() as r:
                r.rows("select 1 as one")

        floor_s = _median(floor, args.repeat)
        results = {}
        for path in PAGES + APIS:
            headers = {"accept": "text/html"} if not path.startswith("/api") else {}

            def get(path=path, headers=headers) -> None:
                r = client.get(path, headers=headers)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])

            results[path] = _median(get, args.repeat)
            size = len(client.get(path, headers=headers).content)
            _say(f"{path:28s} {results[path] * 1000:7.1f} ms  ({results[path] / floor_s:5.1f}x floor,"
                 f" {size / 1024:,.0f} KiB)")  # fmt: skip
        version = sample.models["dow30_ppo"]

        def sql_detail() -> None:
            with wh.snapshot() as r:
                evals = models_q._evaluations(r, "dow30_ppo", version)
                assert len(evals) == 10
                models_q._curves(r, [e["evaluation_id"] for e in evals])
                weights_grid(r, "dow30_ppo", version, 250)

        sql_s = _median(sql_detail, args.repeat)
        py_s = _median(lambda: _python_aggregation(url, "dow30_ppo", version), args.repeat)
        _say(f"floor (snapshot + select 1)   {floor_s * 1000:7.1f} ms")
        _say(f"model page curves + weights, dashboard {sql_s * 1000:7.1f} ms vs Python loops "
             f"{py_s * 1000:7.1f} ms ({py_s / sql_s:.1f}x)")  # fmt: skip
        worst = max(results, key=results.get)
        out = {
            "benchmark": "dashboard",
            "rows": counts,
            "repeat": args.repeat,
            "ms": {k: round(v * 1000, 1) for k, v in results.items()},
            "floor_ms": round(floor_s * 1000, 2),
            "vs_floor": {k: round(v / floor_s, 1) for k, v in results.items()},
            "slowest": worst,
            "slowest_ms": round(results[worst] * 1000, 1),
            "goal_under_1s": results[worst] < 1.0,
            "curves_and_grid_dashboard_ms": round(sql_s * 1000, 1),
            "curves_and_grid_python_loops_ms": round(py_s * 1000, 1),
            "dashboard_vs_python_loops_speedup": round(py_s / sql_s, 2),
            "python": platform.python_version(),
        }
        print(json.dumps(out))
    finally:
        with psycopg.connect(_with_db(server, "postgres"), autocommit=True) as c:
            c.execute(f'drop database if exists "{BENCH_DB}" with (force)')


if __name__ == "__main__":
    main()
