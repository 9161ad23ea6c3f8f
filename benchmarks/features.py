"""Benchmark: the dbt feature build on the real Yahoo set (491,669 rows, 101 symbols), next to
the same features computed by the pandas reference (tradewind.features.reference) in the same run.

    .venv/bin/python benchmarks/features.py [--data /work/shared/data/sp100_daily_yahoo_2000_2020]

Uses a scratch database `tw_bench_features` on the warehouse server (DATABASE_URL or the embedded
one; dropped at the end). Steps, each timed on its own:
1. COPY every bar the warehouse accepts except the last two sessions;
2. full `dbt build` (in process; dbt's own execution time of the daily_features model is read
   from its result);
3. COPY the second-to-last session, incremental `dbt build` in process (rows rewritten are
   counted by xmin); before it the history's ingested_at is set two days back, as on a daily
   schedule (the runner scopes the data tests from the bars ingested since the last build);
4. COPY the last session, then `tradewind features build` as a user runs it: a new Python
   process, end to end, wall clock of the process. Step 3 recorded the build plan, so this run
   replays dbt's SQL without starting dbt (tradewind.features.plan; whether it did is reported,
   with the plan's own elapsed time and slowest nodes). Then the same session on the dbt path in
   the same run: the database is put back to its state before step 4 (a template copy, under
   the same name), the session COPYed again and `tradewind features build --no-plan` run (dbt's
   start-up, partial parse with the state of the earlier runs in the same target folder, models,
   tests); dbt's own elapsed time of that run is read from its run_results.json;
5. an incremental build with nothing new (the fixed cost of a run), in process: dbt's
   (`plan=False`), then the recorded plan's;
6. `--full-refresh` of daily_features, compared with the incremental table bit for bit;
7. the pandas reference on the same bars (features, then labels), compared with the warehouse.
Ratios: the daily_features model (step 2) over the pandas features (step 7); the CLI run
(step 4) against the 3 s goal and against the dbt path of the same session. The LAST line
printed is one JSON object with the figures.

    .venv/bin/python benchmarks/features.py --ab-model /tmp/before/dbt [--reps 3]

instead times a same-run A/B of the daily_features model's full build (the item the issue's
"within 2x the pandas reference" goal names) between an older dbt project ("before") and this one
("after"): one base database with every bar, a full build per project (each in a copy of it), then
`--reps` rounds in alternating order, each `tradewind features build --full-refresh --select
daily_features,resource_type:model` (a new process; the runner's buildable indirect selection
adds the model's own tests) per project, reading the model node's own execution time from
run_results.json, and the pandas reference
(reference.daily_features on the same bars) once per round. The last line: median seconds of each,
after/before, and each over the median pandas time.

    .venv/bin/python benchmarks/features.py --floor [--reps 3]

instead measures how far below the "within 2x the pandas reference" goal a PostgreSQL model of
these features can get at all: the work of the daily_features full build that no formulation of
the model can skip, next to the model's full build and the pandas reference in the same run. One
database with every bar and a full build; then `--reps` rounds, each: the pandas reference
(reference.daily_features, as above), the model's full build (as in --ab-model: the model node's
own execution time) and, with the model's session settings (var feature_work_mem, jit as the
server has it), three statements timed on their own:
  read  - every row of the model's input (int_series_bars, the bars joined to int_daily_bars),
          produced by the executor and discarded (`explain (analyze, timing off)`);
  write - the model's rows (its own finished table, same columns and types) written as a new
          table (`create table as`), and the model's two indexes built on it;
  xs    - the model's cross-sectional columns alone (its last CTE and final select, taken from
          the compiled model, over a table of just (symbol, session) and the xs_columns),
          produced and discarded as `read`.
Their sum is a lower bound of the model's full build; the last line gives each figure over the
median pandas time, and what the 2x goal would leave for everything else (log changes, windows,
series choice): 2 * pandas - floor. A fourth statement times how much of that the log changes
alone take:
  changes - the model's own first passes (its compiled CTEs up to `changes`: the input read,
          keyed, sorted into series order, lagged, the 8 log changes), produced and discarded;
          changes_floor_s = changes + write + xs (it includes the read).
And two that time the rolling windows alone (the windows of dbt_project.yml's vars: a sample sd
of the log close change per return window, a mean close per moving-average window, the mean
volume, the RSI's two sums; each with the count that says whether the window is full), over a
narrow table of just their inputs (series keys, bar_index, lr_close, close, volume), in the two
formulations SQL has for them, produced and discarded:
  windows_frames - PostgreSQL's own aggregates over a moving frame (`rows between n - 1
          preceding and current row`, float8: re-aggregated on every row);
  windows_exact  - the model's formulation: running exact numeric sums, each window the
          difference of two of them (macro trailing_sum), cast to float8.
windows_floor_s = floor + the faster of the two: reading, writing, the cross-section and the
rolling windows on the narrowest input any model can give them.

    .venv/bin/python benchmarks/features.py --ab-before /tmp/before/dbt [--reps 3]

instead times a same-run A/B of the one-session incremental `tradewind features build` (new
process, end to end: the wall clock of the process) between an older dbt project ("before", e.g.
`git archive <commit> dbt | tar -x -C /tmp/before`) and this one ("after"): one base database
with every bar but the last session, a full build per project (each copied as a snapshot, then
one no-op run so dbt's partial-parse state is warm, as in daily use), then `--reps` rounds in
alternating order, each copying the snapshot, COPYing the last session and running the CLI. The
warm-up run records each project's build plan, so the rounds replay it (the SQL of each project
without dbt's start-up); --no-plan times both through dbt. The last line: median seconds of each
and their ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg

from tradewind.db import warehouse_url
from tradewind.db.migrate import migrate
from tradewind.features import build, reference
from tradewind.settings import get_settings

DEFAULT_DATA = Path("/work/shared/data/sp100_daily_yahoo_2000_2020")
BENCH_DB = "tw_bench_features"
COLS = ["symbol", "session", "open", "high", "low", "close", "volume"]


def _with_db(url: str, db: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def read_yahoo(folder: Path) -> tuple[pd.DataFrame, int]:
    parts = []
    for path in sorted(folder.glob("*.csv")):
        # pandas 3's default parser reads each decimal to the nearest float8, as the warehouse does.
        df = pd.read_csv(path)
        df.columns = [c.lower() for c in df.columns]
        df = df.rename(columns={"date": "session"})
        df["symbol"] = path.stem
        parts.append(df[COLS])
    bars = pd.concat(parts, ignore_index=True)
    total = len(bars)
    body = bars[["open", "close"]]
    # raw.bars_daily's CHECK refuses a bar whose low/high do not bracket open and close (one
    # partial FB bar of 2020-10-28); the ingestion gate would quarantine it too.
    ok = (bars["low"] <= body.min(axis=1)) & (bars["high"] >= body.max(axis=1))
    bars = bars[ok].reset_index(drop=True)
    bars["session"] = pd.to_datetime(bars["session"]).dt.date
    return bars, total


def copy_bars(url: str, bars: pd.DataFrame) -> None:
    buf = io.StringIO()
    out = bars[COLS].assign(source="csv", adjustment="split")
    out.to_csv(buf, index=False, header=False, float_format="%.17g")
    with psycopg.connect(url) as c, c.cursor() as cur:
        cols = ", ".join(out.columns)
        with cur.copy(f"copy raw.bars_daily ({cols}) from stdin with (format csv)") as cp:
            cp.write(buf.getvalue())
        cur.execute("analyze raw.bars_daily")


def query(url: str, sql: str) -> pd.DataFrame:
    with psycopg.connect(url) as c, c.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def node_time(result, name: str) -> float | None:
    for n in result.nodes:
        if n["name"] == name and n["resource_type"].endswith("model"):
            return round(float(n["execution_time"]), 3)
    return None


def seconds_by_type(result) -> dict[str, float]:
    """dbt's execution time summed per resource type (model, test, seed, unit_test)."""
    out: dict[str, float] = {}
    for n in result.nodes:
        kind = n["resource_type"].split(".")[-1].lower()
        out[kind] = round(out.get(kind, 0.0) + float(n["execution_time"] or 0.0), 2)
    return out


def plan_figures(stdout: str) -> dict:
    """From the replay's progress lines: its own elapsed seconds and its slowest nodes."""
    done = re.search(r"Finished \d+ of \d+ nodes from the plan in ([\d.]+)s", stdout)
    nodes = re.findall(r" \d+ of \d+ \w+ (?:\S+ model |test )?(\S+) \.+ \[([\d.]+)s\]", stdout)
    slowest = sorted(nodes, key=lambda n: -float(n[1]))[:8]
    return {
        "cli_incremental_plan_elapsed_s": float(done.group(1)) if done else None,
        "cli_incremental_plan_slowest_nodes": {n: float(s) for n, s in slowest},
    }


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _clone(admin: str, name: str, template: str) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}" template "{template}"')


def _drop_databases(admin: str, names: list[str]) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        for name in names:
            c.execute(f'drop database if exists "{name}" with (force)')


def _bars_database(admin: str, server: str, name: str, bars: pd.DataFrame) -> str:
    """A new database `name` on the server, migrated, holding `bars`; its URL."""
    _clone(admin, name, "template0")
    url = _with_db(server, name)
    settings = get_settings()
    migrate(url, settings.sql_dir, settings.use_timescale)
    copy_bars(url, bars)
    return url


def _sessions(url: str) -> list:
    """The warehouse's session calendar (int_sessions), as the pandas reference takes it."""
    return list(query(url, "select session from features_intermediate.int_sessions")["session"])


# `tradewind features build` of the daily_features model alone (with its own tests).
MODEL_ONLY = ("--select", "daily_features,resource_type:model")


def _median_by_project(rows: list[dict], key: str, projects: dict) -> dict[str, float]:
    """Median of one figure per project ("before", "after") over the A/B's rounds."""
    return {
        w: round(float(np.median([r[key] for r in rows if r["which"] == w])), 2) for w in projects
    }


def _full_build_model_s(url: str, project: Path, target: Path, *extra: str) -> float:
    """`tradewind features build --full-refresh` (dbt, a new process) of `project` into `url`:
    the daily_features model node's own execution time, from run_results.json."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TRADEWIND_DBT_PROJECT_DIR": str(project),
        "DBT_TARGET_PATH": str(target),
    }
    cmd = [sys.executable, "-m", "tradewind", "features", "build", "--full-refresh", "--no-plan"]
    proc = subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{project}: tradewind features build failed: {proc.stderr[-500:]}")
    run = json.loads((target / "run_results.json").read_text())
    node = [r for r in run["results"] if r["unique_id"].endswith(".daily_features")]
    return float(node[0]["execution_time"]) if node else float("nan")


def ab_incremental(data: Path, before: Path, reps: int, no_plan: bool = False) -> None:
    """The --ab-before mode (module docstring)."""
    plan_flag = ["--no-plan"] if no_plan else []
    settings = get_settings()
    server = warehouse_url(settings)
    admin = _with_db(server, "postgres")
    projects = {"before": before.resolve(), "after": settings.dbt_project_dir}
    bars, _ = read_yahoo(data)
    last = max(bars["session"])
    names = ["tw_bench_ab_base"] + [
        f"tw_bench_ab_{w}_{k}" for w in projects for k in ("snap", "work")
    ]

    def cli(url: str, which: str, *extra: str) -> float:
        env = {**os.environ, "DATABASE_URL": url, "TRADEWIND_DBT_PROJECT_DIR": str(projects[which]),
               "DBT_TARGET_PATH": str(settings.home / f"bench-ab-target-{which}")}  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "tradewind", "features", "build", *extra,
                               *plan_flag], env=env, capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(
                f"{which}: tradewind features build failed: {proc.stderr.strip()[-500:]}"
            )
        return time.monotonic() - t0

    rows = []
    try:
        _bars_database(admin, server, names[0], bars[bars["session"] < last])
        for which in projects:
            work = _with_db(server, f"tw_bench_ab_{which}_work")
            _clone(admin, f"tw_bench_ab_{which}_work", names[0])
            t = cli(work, which, "--full-refresh")
            print(f"{which}: full build {t:.1f} s", flush=True)
            with psycopg.connect(work) as c:  # history two days old, as on a daily schedule
                c.execute("update raw.bars_daily set ingested_at = ingested_at - interval '2 days'")
            cli(work, which)  # warm: dbt's partial-parse state, as a daily run has it
            _clone(admin, f"tw_bench_ab_{which}_snap", f"tw_bench_ab_{which}_work")
        for rep in range(reps):
            for which in ("before", "after") if rep % 2 == 0 else ("after", "before"):
                work = _with_db(server, f"tw_bench_ab_{which}_work")
                _clone(admin, f"tw_bench_ab_{which}_work", f"tw_bench_ab_{which}_snap")
                copy_bars(work, bars[bars["session"] == last])
                load = os.getloadavg()[0]
                t = cli(work, which)
                run = json.loads(
                    (settings.home / f"bench-ab-target-{which}" / "run_results.json").read_text()
                )
                slowest = sorted(run["results"], key=lambda r: -float(r["execution_time"]))[:4]
                row = {"rep": rep + 1, "which": which, "cli_s": round(t, 2),
                       "dbt_elapsed_s": round(float(run["elapsed_time"]), 2),
                       "load_1m": [round(load, 1), round(os.getloadavg()[0], 1)],
                       "slowest": {r["unique_id"].split(".")[2]: round(float(r["execution_time"]), 2)
                                   for r in slowest}}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        _drop_databases(admin, names)
    median = _median_by_project(rows, "cli_s", projects)
    print(json.dumps({"benchmark": "features_incremental_ab", "before": str(projects["before"]),
                      "reps": reps, "median_cli_s": median,
                      "after_vs_before": round(median["after"] / median["before"], 2)}))  # fmt: skip


def ab_model(data: Path, before: Path, reps: int) -> None:
    """The --ab-model mode (module docstring)."""
    settings = get_settings()
    server = warehouse_url(settings)
    admin = _with_db(server, "postgres")
    projects = {"before": before.resolve(), "after": settings.dbt_project_dir}
    bars, _ = read_yahoo(data)
    names = ["tw_bench_ab_base"] + [f"tw_bench_ab_{w}_work" for w in projects]

    def model_s(url: str, which: str, *extra: str) -> float:
        target = settings.home / f"bench-ab-target-{which}"
        return _full_build_model_s(url, projects[which], target, *extra)

    rows = []
    try:
        _bars_database(admin, server, names[0], bars)
        for which in projects:
            _clone(admin, f"tw_bench_ab_{which}_work", names[0])
            t = model_s(_with_db(server, f"tw_bench_ab_{which}_work"), which)
            print(f"{which}: full dbt build done (daily_features model {t:.1f} s)", flush=True)
        cal = _sessions(_with_db(server, "tw_bench_ab_after_work"))
        for rep in range(reps):
            _, pandas_s = timed(lambda: reference.daily_features(bars, cal))
            for which in ("before", "after") if rep % 2 == 0 else ("after", "before"):
                load = os.getloadavg()[0]
                work = _with_db(server, f"tw_bench_ab_{which}_work")
                t = model_s(work, which, *MODEL_ONLY)
                row = {
                    "rep": rep + 1,
                    "which": which,
                    "model_s": round(t, 2),
                    "pandas_s": round(pandas_s, 2),
                    "load_1m": [round(load, 1), round(os.getloadavg()[0], 1)],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        _drop_databases(admin, names)
    median = _median_by_project(rows, "model_s", projects)
    pandas_median = round(float(np.median([r["pandas_s"] for r in rows])), 2)
    print(
        json.dumps(
            {
                "benchmark": "daily_features_model_ab",
                "before": str(projects["before"]),
                "reps": reps,
                "median_model_s": median,
                "median_pandas_s": pandas_median,
                "after_vs_before": round(median["after"] / median["before"], 2),
                "vs_pandas": {w: round(m / pandas_median, 2) for w, m in median.items()},
            }
        )
    )


def _window_statements(windows: dict) -> dict[str, str]:
    """The --floor mode's two rolling-window statements (module docstring) over
    bench_floor.window_input, for the windows in `windows` (dbt_project.yml's vars)."""
    ret, ma = windows["return_windows"], windows["ma_windows"]
    vol_n, rsi_n = windows["volume_ma_window"], windows["rsi_window"]
    series = "partition by symbol_no, series_no order by bar_index"
    frames = [f"stddev_samp(lr_close) over w{n}, count(lr_close) over w{n}" for n in ret]
    frames += [f"avg(close) over w{n}, count(close) over w{n}" for n in ma]
    frames += [f"avg(volume) over w{vol_n}, count(volume) over w{vol_n}"]
    frames += [
        f"sum(lr_close) over w{rsi_n}, sum(abs(lr_close)) over w{rsi_n},"
        f" count(lr_close) over w{rsi_n}"
    ]
    lengths = sorted({*ret, *ma, vol_n, rsi_n})
    named = ", ".join(
        f"w{n} as (s rows between {n - 1} preceding and current row)" for n in lengths
    )
    frames_sql = (
        f"select {', '.join(frames)} from bench_floor.window_input window s as ({series}), {named}"
    )

    def diff(cum: str, n: int) -> str:
        return f"({cum} - coalesce(lag({cum}, {n}) over s, 0))"

    exact = [
        f"{diff('x_lr', n)}::float8, {diff('x_sq', n)}::float8, {diff('n_lr', n)}" for n in ret
    ]
    exact += [f"{diff('x_close', n)}::float8, {diff('n_close', n)}" for n in ma]
    exact += [f"{diff('x_volume', vol_n)}::float8, {diff('n_volume', vol_n)}"]
    exact += [
        f"{diff('x_lr', rsi_n)}::float8, {diff('x_abs', rsi_n)}::float8, {diff('n_lr', rsi_n)}"
    ]
    running = ", ".join(
        f"{agg} over u as {name}"
        for name, agg in [
            ("x_lr", "sum(lr_x)"),
            ("x_sq", "sum(lr_x * lr_x)"),
            ("x_abs", "sum(abs(lr_x))"),
            ("n_lr", "count(lr_x)"),
            ("x_close", "sum(close_x)"),
            ("n_close", "count(close_x)"),
            ("x_volume", "sum(volume_x)"),
            ("n_volume", "count(volume_x)"),
        ]
    )
    # Shortest round-trip text into numeric, as the model's CTE exact does.
    inputs = (
        "select *, lr_close::text::numeric as lr_x, close::text::numeric as close_x,"
        " volume::text::numeric as volume_x from bench_floor.window_input"
    )
    exact_sql = (
        f"select {', '.join(exact)} from (select i.*, {running} from ({inputs}) as i"
        f" window u as ({series} rows between unbounded preceding and current row)) as c"
        f" window s as ({series})"
    )
    return {
        "windows_frames": f"explain (analyze, timing off) {frames_sql}",
        "windows_exact": f"explain (analyze, timing off) {exact_sql}",
    }


def _floor_statements(
    url: str, compiled_model: str, work_mem: str, windows: dict
) -> dict[str, float]:
    """The --floor mode's statements (module docstring), each timed on its own."""
    # The model's cross-section: its last CTE (xs_groups, macro cross_section_groups) and final
    # select, over the narrow copy in place of the model's rows (CTE in_scope).
    xs_sql = (
        "with in_scope as (select * from bench_floor.xs_input), "
        + compiled_model[compiled_model.rindex("xs_groups as (") :]
    )
    # The model's own first passes, up to its log changes (CTE changes: the input read, keyed,
    # sorted into series order, lagged), then nothing more.
    changes_at = compiled_model.index("\nchanges as (")
    changes_sql = compiled_model[: compiled_model.index("\n)", changes_at) + 2]
    steps = {
        "read": [
            "explain (analyze, timing off) select * from features_intermediate.int_series_bars"
        ],
        "changes": [f"explain (analyze, timing off) {changes_sql} select * from changes"],
        "write": [
            "create table bench_floor.written as select * from features.daily_features",
            "create unique index on bench_floor.written (symbol, session)",
            "create index on bench_floor.written (session)",
        ],
        "xs": [f"explain (analyze, timing off) {xs_sql}"],
        **{name: [sql] for name, sql in _window_statements(windows).items()},
    }
    out = {}
    with psycopg.connect(url) as c:
        for name, statements in steps.items():
            with c.transaction():
                c.execute(f"set local work_mem = '{work_mem}'")
                c.execute("set local extra_float_digits = 1")
                t0 = time.perf_counter()
                for sql in statements:
                    c.execute(sql)
                out[f"{name}_s"] = round(time.perf_counter() - t0, 2)
        c.execute("drop table bench_floor.written")
    return out


def floor(data: Path, reps: int, keep: bool = False) -> None:
    """The --floor mode (module docstring)."""
    import yaml

    settings = get_settings()
    server = warehouse_url(settings)
    admin = _with_db(server, "postgres")
    name = "tw_bench_floor"
    target = settings.home / "bench-floor-target"
    project = settings.dbt_project_dir
    dbt_vars = yaml.safe_load((project / "dbt_project.yml").read_text())["vars"]
    work_mem = dbt_vars["feature_work_mem"]
    bars, _ = read_yahoo(data)
    rows = []
    try:
        url = _bars_database(admin, server, name, bars)
        t = _full_build_model_s(url, project, target)
        print(f"full dbt build done (daily_features model {t:.1f} s)", flush=True)
        compiled = (target / "compiled/tradewind/models/marts/daily_features.sql").read_text()
        with psycopg.connect(url) as c:
            xs_cols = [
                r[0][len("xs_z_") :]
                for r in c.execute(
                    "select column_name from information_schema.columns where table_schema ="
                    " 'features' and table_name = 'daily_features' and column_name like 'xs_z_%'"
                    " order by ordinal_position"
                )
            ]
            c.execute("create schema bench_floor")
            c.execute(
                "create table bench_floor.xs_input as select symbol, session, "
                + ", ".join(xs_cols)
                + " from features.daily_features"
            )
            c.execute("analyze bench_floor.xs_input")
            # The rolling windows' inputs, one series per symbol (the shared set has one source):
            # integer keys as the model's (symbol_no, series_no, bar_index).
            c.execute(
                "create table bench_floor.window_input as select"
                " dense_rank() over (order by symbol) as symbol_no, 1 as series_no,"
                " row_number() over (partition by symbol order by session) as bar_index,"
                " lr_close, close, volume from features.daily_features"
            )
            c.execute("analyze bench_floor.window_input")
        cal = _sessions(url)
        for rep in range(reps):
            load = os.getloadavg()[0]
            _, pandas_s = timed(lambda: reference.daily_features(bars, cal))
            row: dict = {"rep": rep + 1, "pandas_s": round(pandas_s, 2)}
            # Alternating order: neither side always runs on the other's warm caches.
            if rep % 2 == 0:
                row["model_s"] = round(_full_build_model_s(url, project, target, *MODEL_ONLY), 2)
                row.update(_floor_statements(url, compiled, work_mem, dbt_vars))
            else:
                row.update(_floor_statements(url, compiled, work_mem, dbt_vars))
                row["model_s"] = round(_full_build_model_s(url, project, target, *MODEL_ONLY), 2)
            row["floor_s"] = round(row["read_s"] + row["write_s"] + row["xs_s"], 2)
            row["changes_floor_s"] = round(row["changes_s"] + row["write_s"] + row["xs_s"], 2)
            row["windows_floor_s"] = round(
                row["floor_s"] + min(row["windows_frames_s"], row["windows_exact_s"]), 2
            )
            row["load_1m"] = [round(load, 1), round(os.getloadavg()[0], 1)]
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if not keep:
            _drop_databases(admin, [name])
    med = {
        k: round(float(np.median([r[k] for r in rows])), 2)
        for k in (
            "pandas_s",
            "model_s",
            "read_s",
            "write_s",
            "xs_s",
            "floor_s",
            "changes_s",
            "changes_floor_s",
            "windows_frames_s",
            "windows_exact_s",
            "windows_floor_s",
        )
    }
    left = 2 * med["pandas_s"] - med["floor_s"]
    print(
        json.dumps(
            {
                "benchmark": "daily_features_floor",
                "reps": reps,
                "rows": len(bars),
                "median": med,
                "model_vs_pandas": round(med["model_s"] / med["pandas_s"], 2),
                "floor_vs_pandas": round(med["floor_s"] / med["pandas_s"], 2),
                "floor_share_of_model": round(med["floor_s"] / med["model_s"], 2),
                "changes_floor_vs_pandas": round(med["changes_floor_s"] / med["pandas_s"], 2),
                "windows_floor_vs_pandas": round(med["windows_floor_s"] / med["pandas_s"], 2),
                "left_under_2x_s": round(left, 2),
                "left_under_2x_us_per_row": round(left / len(bars) * 1e6, 2),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    ap.add_argument(
        "--ab-before", type=Path, help="A/B the incremental CLI build against this dbt project."
    )
    ap.add_argument(
        "--ab-model", type=Path, help="A/B the daily_features model's full build against this."
    )
    ap.add_argument(
        "--floor", action="store_true", help="The model's unavoidable work against pandas."
    )
    ap.add_argument("--reps", type=int, default=3, help="Rounds of the A/B or of --floor.")
    ap.add_argument(
        "--no-plan", action="store_true", help="--ab-before through dbt, not the recorded plan."
    )
    args = ap.parse_args()
    if args.floor:
        floor(args.data, args.reps, args.keep)
        return
    if args.ab_model is not None:
        ab_model(args.data, args.ab_model, args.reps)
        return
    if args.ab_before is not None:
        ab_incremental(args.data, args.ab_before, args.reps, args.no_plan)
        return

    settings = get_settings()
    server = warehouse_url(settings)
    admin = _with_db(server, "postgres")
    url = _with_db(server, BENCH_DB)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
        c.execute(f'create database "{BENCH_DB}"')
    report = migrate(url, settings.sql_dir, settings.use_timescale)
    target = settings.home / "bench-dbt-target"
    figures: dict = {
        "benchmark": "features",
        "postgres_timescale": report.timescale,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        # The machine is shared: the load says how far the seconds are from an idle machine's.
        "load_average_1m_at_start": round(os.getloadavg()[0], 1),
        # The dbt project measured (TRADEWIND_DBT_PROJECT_DIR: e.g. an older copy, for "before").
        "dbt_project": str(settings.dbt_project_dir),
    }
    try:
        bars, total = read_yahoo(args.data)
        days = sorted(set(bars["session"]))
        last, second = days[-1], days[-2]
        history = bars[bars["session"] < second]
        penultimate, newest = bars[bars["session"] == second], bars[bars["session"] == last]
        figures.update(
            rows_in_files=total,
            rows_loaded=len(bars),
            symbols=int(bars["symbol"].nunique()),
            last_session=last.isoformat(),
            rows_new_session=len(newest),
        )
        _, t = timed(lambda: copy_bars(url, history))
        figures["copy_load_s"] = round(t, 2)

        full, t = timed(lambda: build(url=url, full_refresh=True, target_path=target))
        figures["dbt_full_build_s"] = round(t, 2)
        figures["dbt_full_daily_features_model_s"] = node_time(full, "daily_features")
        figures["dbt_full_forward_returns_model_s"] = node_time(full, "forward_returns")
        figures["dbt_full_nodes"] = len(full.nodes)

        figures["dbt_full_seconds_by_type"] = seconds_by_type(full)

        with psycopg.connect(url) as c:
            c.execute("update raw.bars_daily set ingested_at = ingested_at - interval '2 days'")
        before = query(url, "select symbol, session, xmin::text as x from features.daily_features")
        copy_bars(url, penultimate)
        inc, t = timed(lambda: build(url=url, target_path=target))
        figures["dbt_incremental_build_s"] = round(t, 2)
        figures["dbt_incremental_daily_features_model_s"] = node_time(inc, "daily_features")
        figures["dbt_incremental_forward_returns_model_s"] = node_time(inc, "forward_returns")
        after = query(url, "select symbol, session, xmin::text as x from features.daily_features")
        m = after.merge(before, on=["symbol", "session"], how="left", suffixes=("", "_b"))
        figures["incremental_rows_written"] = int((m["x"] != m["x_b"]).sum())
        figures["dbt_incremental_seconds_by_type"] = seconds_by_type(inc)

        snapshot = f"{BENCH_DB}_before_cli"
        _clone(admin, snapshot, BENCH_DB)
        copy_bars(url, newest)
        env = {**os.environ, "DATABASE_URL": url, "DBT_TARGET_PATH": str(target)}
        cli = [sys.executable, "-m", "tradewind", "features", "build"]

        def run_cli(*extra: str):
            proc, t = timed(lambda: subprocess.run([*cli, *extra], env=env, capture_output=True,
                                                   text=True))  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"tradewind features build failed: {proc.stderr.strip()[-500:]}")
            return proc, t

        proc, t = run_cli()
        figures["cli_incremental_build_s"] = round(t, 2)
        figures["cli_incremental_plan_used"] = "(recorded plan, dbt not started)" in proc.stdout
        figures.update(plan_figures(proc.stdout))
        # The dbt path of the same session, from the same state, in the same run.
        _clone(admin, BENCH_DB, snapshot)
        copy_bars(url, newest)
        proc, t = run_cli("--no-plan")
        figures["cli_incremental_no_plan_s"] = round(t, 2)
        figures["cli_incremental_plan_vs_no_plan"] = round(
            figures["cli_incremental_build_s"] / figures["cli_incremental_no_plan_s"], 2
        )
        run = json.loads((target / "run_results.json").read_text())
        figures["cli_incremental_dbt_elapsed_s"] = round(float(run["elapsed_time"]), 2)
        figures["cli_incremental_dbt_nodes"] = len(run["results"])
        # Where dbt's part of the daily run goes: its slowest nodes, seconds each.
        slowest = sorted(run["results"], key=lambda r: -float(r["execution_time"]))[:8]
        figures["cli_incremental_slowest_nodes"] = {
            r["unique_id"].split(".", 2)[-1]: round(float(r["execution_time"]), 2) for r in slowest
        }
        figures["cli_incremental_partial_parse"] = "Unable to do partial parsing" not in proc.stdout
        # Start-up alone: the same process up to the command's help (imports, no dbt run).
        help_cli = [*cli, "--help"]
        _, t = timed(lambda: subprocess.run(help_cli, env=env, capture_output=True, text=True))
        figures["cli_startup_help_s"] = round(t, 2)
        figures["cli_incremental_vs_3s_goal"] = round(figures["cli_incremental_build_s"] / 3.0, 2)
        figures["daily_features_rows"] = int(
            query(url, "select count(*) as n from features.daily_features")["n"][0]
        )
        # Nothing new: the fixed cost of a run (dbt start-up and parse, seed, tests, diffs).
        noop, t = timed(lambda: build(url=url, target_path=target, plan=False))
        figures["dbt_noop_build_s"] = round(t, 2)
        figures["dbt_noop_seconds_by_type"] = seconds_by_type(noop)
        noop, t = timed(lambda: build(url=url, target_path=target))
        figures["plan_noop_build_s"] = round(t, 2)
        figures["plan_noop_used"] = noop.replayed
        figures["plan_noop_seconds_by_type"] = seconds_by_type(noop)

        with psycopg.connect(url, autocommit=True) as c:
            c.execute("create schema if not exists scratch")
            c.execute("create table scratch.inc as select * from features.daily_features")
        _, t = timed(
            lambda: build(url=url, full_refresh=True, target_path=target, select=["daily_features"])
        )
        figures["dbt_full_refresh_daily_features_only_s"] = round(t, 2)
        diff = query(
            url,
            "select count(*) as n from ((select * from scratch.inc except all "
            "select * from features.daily_features) union all (select * from "
            "features.daily_features except all select * from scratch.inc)) d",
        )
        figures["incremental_vs_full_refresh_rows_differing"] = int(diff["n"][0])

        cal = _sessions(url)
        expected, t = timed(lambda: reference.daily_features(bars, cal))
        figures["pandas_features_s"] = round(t, 2)
        _, t = timed(lambda: reference.forward_returns(bars, cal))
        figures["pandas_labels_s"] = round(t, 2)
        model_s = figures["dbt_full_daily_features_model_s"]
        figures["daily_features_model_vs_pandas"] = round(model_s / figures["pandas_features_s"], 2)

        actual = query(url, "select * from features.daily_features order by symbol, session")
        exp = expected.sort_values(["symbol", "session"]).reset_index(drop=True)
        worst, nulls = 0.0, 0
        for col in exp.columns:
            if col in ("symbol", "session"):
                continue
            a = pd.to_numeric(actual[col], errors="coerce").astype(float).to_numpy()
            e = pd.to_numeric(exp[col], errors="coerce").astype(float).to_numpy()
            nulls += int((np.isnan(a) != np.isnan(e)).sum())
            both = ~np.isnan(a) & ~np.isnan(e)
            if both.any():
                worst = max(worst, float(np.abs(a[both] - e[both]).max()))
        figures["sql_vs_pandas_max_abs_diff"] = worst
        figures["sql_vs_pandas_null_mismatches"] = nulls
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database if exists "{BENCH_DB}_before_cli" with (force)')
            if not args.keep:
                c.execute(f'drop database if exists "{BENCH_DB}" with (force)')
    figures["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
