"""Benchmark: what the bars' change capture (migration 060: statement-level triggers on
raw.bars_daily appending to ops.bar_changes) costs a load, next to the same statement with the
triggers disabled, in the same run.

    .venv/bin/python benchmarks/bar_change_capture.py [--data /work/shared/data/sp100_daily_yahoo_2000_2020] [--reps 3]

Uses a scratch database `tw_bench_capture` on the warehouse server (DATABASE_URL or the embedded
one; dropped at the end). Each round, in alternating order (with, without; then without, with):
1. `copy`: binary-free text COPY of every bar of the set (491,669 rows) into an empty
   raw.bars_daily, committed (the loader's new-data path is a COPY straight into the table);
2. `reload`: INSERT ... SELECT ... ON CONFLICT DO UPDATE of every bar with new values (every row
   changed: the update trigger's worst case, both transition tables compared), committed;
3. `reload_same`: the same upsert with unchanged values (the trigger finds nothing to log).
Timed: the statement and its commit (wall clock, client side). Without = `alter table ...
disable trigger` of the four capture triggers. Ratios: with / without, per step (medians).
The LAST line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tradewind.db import warehouse_url
from tradewind.db.migrate import migrate
from tradewind.settings import get_settings

DEFAULT_DATA = Path("/work/shared/data/sp100_daily_yahoo_2000_2020")
BENCH_DB = "tw_bench_capture"
TRIGGERS = ("tw_log_bar_insert", "tw_log_bar_update", "tw_log_bar_delete", "tw_log_bar_truncate")
COLS = "source, symbol, session, open, high, low, close, volume"


def _with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + db))


def read_csv_text(folder: Path) -> tuple[str, int]:
    """The set as COPY text (csv), the bars the warehouse accepts (as benchmarks/features.py)."""
    import pandas as pd

    frames = []
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path)
        df.columns = [c.lower() for c in df.columns]
        frames.append(df.assign(source="csv", symbol=path.stem, session=df["date"]))
    bars = pd.concat(frames, ignore_index=True)[COLS.split(", ")]
    # raw.bars_daily's CHECK refuses a bar whose low/high do not bracket open and close.
    body = bars[["open", "close"]]
    bars = bars[(bars["low"] <= body.min(axis=1)) & (bars["high"] >= body.max(axis=1))]
    buf = io.StringIO()
    bars.to_csv(buf, index=False, header=False, float_format="%.17g")
    return buf.getvalue(), len(bars)


def set_capture(conn: psycopg.Connection, on: bool) -> None:
    verb = "enable always" if on else "disable"
    for t in TRIGGERS:
        conn.execute(f"alter table raw.bars_daily {verb} trigger {t}")
    conn.commit()


def timed(conn: psycopg.Connection, fn) -> float:
    t0 = time.perf_counter()
    fn()
    conn.commit()
    return time.perf_counter() - t0


def one_round(conn: psycopg.Connection, text: str, on: bool) -> dict[str, float]:
    conn.execute("truncate raw.bars_daily")
    conn.commit()
    set_capture(conn, on)

    def copy():
        with conn.cursor() as cur, cur.copy(f"copy raw.bars_daily ({COLS}) from stdin (format csv)") as cp:  # fmt: skip
            cp.write(text)

    out = {"copy": timed(conn, copy)}
    upsert = (
        f"insert into raw.bars_daily as b ({COLS}) select source, symbol, session, {{p}}open, "
        f"{{p}}high, {{p}}low, {{p}}close, volume from raw.bars_daily "
        "on conflict (source, symbol, session) do update set open = excluded.open, "
        "high = excluded.high, low = excluded.low, close = excluded.close, ingested_at = now()"
    )
    out["reload"] = timed(conn, lambda: conn.execute(upsert.format(p="1.01 * ")))
    out["reload_same"] = timed(conn, lambda: conn.execute(upsert.format(p="")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    settings = get_settings()
    server = warehouse_url(settings)
    admin, url = _with_db(server, "postgres"), _with_db(server, BENCH_DB)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
        c.execute(f'create database "{BENCH_DB}"')
    figures: dict = {
        "benchmark": "bar_change_capture",
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 1),
    }
    try:
        migrate(url, settings.sql_dir, False)
        text, n = read_csv_text(args.data)
        figures["rows"] = n
        runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        with psycopg.connect(url) as conn:
            if not conn.execute("select ops.bar_capture_intact()").fetchone()[0]:
                raise SystemExit("the change capture is not installed (hypertable? not superuser?)")
            for r in range(args.reps):
                for on in (True, False) if r % 2 == 0 else (False, True):
                    res = one_round(conn, text, on)
                    runs[on].append(res)
                    print(f"round {r + 1} capture={'on' if on else 'off'}: "
                          + ", ".join(f"{k} {v:.2f}s" for k, v in res.items()), flush=True)  # fmt: skip
            set_capture(conn, True)
            figures["log_entries_per_copy"] = n_symbols = conn.execute(
                "select count(distinct symbol) from raw.bars_daily"
            ).fetchone()[0]
            figures["symbols"] = n_symbols
        for step in ("copy", "reload", "reload_same"):
            on = statistics.median(x[step] for x in runs[True])
            off = statistics.median(x[step] for x in runs[False])
            figures[f"{step}_with_capture_s"] = round(on, 2)
            figures[f"{step}_without_capture_s"] = round(off, 2)
            figures[f"{step}_with_vs_without"] = round(on / off, 2)
        figures["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
