"""The documented run on real data: DOW30 and SP100 agents, 3 seeds, test window vs the baselines.

Steps (each printed as it goes; nothing here is needed at run time by the project):

1. a warehouse database on ``--server-url`` (created and migrated when missing or ``--fresh``),
   the shipped universes, the real Yahoo bars of ``--data`` through ``tradewind ingest csv`` and
   ``tradewind features build``;
2. a check of every agent before any training: its test window must be 2019-01-01..2020-09-30
   (the design's), and a point-in-time universe must have recorded membership from its train
   start. The shipped SP100 membership starts on 2020-01-01, so ``sp100_ppo`` cannot be point in
   time over 2008-2018; with ``--survivorship-fallback`` it trains instead on the symbols that were
   members at some point of the recorded history up to the test end and have bars (an explicit
   symbol list held fixed over 2008-2020: survivorship-biased, said so in every table, picture
   and the JSON); without it the script stops with the reason;
3. for every agent and seed, ``run_training`` with that agent's ``--timesteps`` env steps, which
   ends with the registry's ``after_training``: candidate version, evaluations of the model and of
   the baselines (1/N, buy & hold, minimum variance, momentum) on the validation and test windows
   with the same cost model, gate;
4. per agent, a table of the validation and test figures of every seed and of every baseline, read
   back from ``ml.evaluations`` (baselines matched on the same window, symbols and costs), with
   where each seed stands (Sharpe minus 1/N's, how many baselines it beats on Sharpe), the
   crash return (decisions 2020-02-19..2020-03-20, from ``ml.evaluation_daily``), the run's
   ``code_version``, budget and env-steps/s; and a PNG per agent under ``docs/img/``
   (``train_shared_<agent>.png``): the test-window equity curves of the seeds against 1/N and
   buy & hold.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_shared.py \\
        [--agents dow30_ppo,sp100_ppo] [--seeds 0,1,2] [--timesteps 50000 | dow30_ppo=N,sp100_ppo=M]
    .venv/bin/python benchmarks/train_shared.py --report-only   # tables and PNGs of stored runs

``--report-only`` trains nothing: it reports, per agent and seed, the newest succeeded and
registered run in the warehouse (with ``--timesteps``, only runs of that budget). The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/sp100_daily_yahoo_2000_2020")
TEST_WINDOW = (dt.date(2019, 1, 1), dt.date(2020, 9, 30))
# Decision sessions of the February-March 2020 fall (S&P 500 peak 2020-02-19, trough 2020-03-23;
# a decision at T earns open(T+1) -> open(T+2)).
CRASH = (dt.date(2020, 2, 19), dt.date(2020, 3, 20))
METRICS = ("annual_return", "sharpe_ratio", "max_drawdown", "turnover")
# The registry's baseline policy names (tradewind.rl.evaluation.BASELINES; 1/N is stored as "1/N").
EQUAL_WEIGHT = "1/N"
BASELINE_ORDER = (EQUAL_WEIGHT, "buy_and_hold", "min_variance", "momentum")
LABEL = {EQUAL_WEIGHT: "1/N", "buy_and_hold": "buy & hold", "min_variance": "min variance",
         "momentum": "momentum"}  # fmt: skip


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


def parse_timesteps(text: str, agents: list[str]) -> dict[str, int | None]:
    """``"50000"`` for every agent, or ``"dow30_ppo=40960,sp100_ppo=20480"``."""
    if not text:
        return dict.fromkeys(agents)
    if "=" not in text:
        return dict.fromkeys(agents, int(text))
    out: dict[str, int | None] = dict.fromkeys(agents)
    for part in text.split(","):
        name, _, n = part.partition("=")
        if name.strip() not in out:
            raise SystemExit(f"--timesteps names {name.strip()!r}, not one of --agents")
        out[name.strip()] = int(n)
    return out


def check_agent(url: str, name: str, fallback: bool) -> tuple[dict, str]:
    """Overrides that make ``name`` trainable on this data (``{}`` when none), and a note on
    its universe. Stops with one line when the windows are not the design's or the universe
    cannot be point in time and ``fallback`` is off."""
    from tradewind.rl.agents import load_agent
    from tradewind.training.data import resolve_universe
    from tradewind.universes import history_start, members_between

    cfg = load_agent(name)
    test = (cfg.windows.test.start, cfg.windows.test.end)
    if test != TEST_WINDOW:
        raise SystemExit(f"{name}: test window {test[0]}..{test[1]}, not {TEST_WINDOW[0]}.."
                         f"{TEST_WINDOW[1]}")  # fmt: skip
    if not isinstance(cfg.universe, str):
        return {}, f"symbol list ({len(cfg.universe)})"
    try:
        symbols = resolve_universe(cfg)
    except ValueError as exc:
        if not fallback:
            raise SystemExit(f"{name}: {exc}") from None
        first = history_start(cfg.universe)
        with psycopg.connect(url) as c:
            have = {r[0] for r in c.execute(
                "select distinct symbol from raw.bars_daily where symbol = any(%s)",
                [members_between(cfg.universe, first, cfg.windows.test.end)],
            )}  # fmt: skip
        listed = sorted(have)
        note = (f"{cfg.universe} members {first}..{cfg.windows.test.end} with bars "
                f"({len(listed)}), held fixed over 2008-2020: NOT point in time, "
                f"survivorship-biased ({exc.args[0].split(';')[0]})")  # fmt: skip
        print(f"!! {name}: {note}", flush=True)
        return {"universe": listed, "point_in_time": False}, note
    with psycopg.connect(url) as c:
        have = {r[0] for r in c.execute(
            "select distinct symbol from raw.bars_daily where symbol = any(%s)", [symbols])}  # fmt: skip
    missing = sorted(set(symbols) - have)
    note = (f"{cfg.universe} point in time ({'' if cfg.point_in_time else 'NOT '}masked daily): "
            f"{len(symbols)} members over train+validation, no bars for {', '.join(missing) or '-'}")  # fmt: skip
    print(f"   {name}: {note}", flush=True)
    return {}, note


def _crash_return(cur, evaluation_id) -> float | None:
    cur.execute(
        "select net_return from ml.evaluation_daily where evaluation_id = %s "
        "and session between %s and %s order by session", [evaluation_id, *CRASH],
    )  # fmt: skip
    r = [row["net_return"] for row in cur.fetchall()]
    return float(np.prod(1.0 + np.asarray(r)) - 1.0) if r else None


def _curve(cur, evaluation_id) -> tuple[list[dt.date], np.ndarray]:
    cur.execute(
        "select session, net_return from ml.evaluation_daily where evaluation_id = %s "
        "order by session", [evaluation_id],
    )  # fmt: skip
    rows = cur.fetchall()
    return [r["session"] for r in rows], np.cumprod(1.0 + np.array([r["net_return"] for r in rows]))


def pick_runs(cur, agent: str, seeds: list[int], timesteps: int | None) -> list[dict]:
    """The newest succeeded, registered run of ``agent`` per seed (of that budget if given)."""
    out = []
    for seed in seeds:
        cur.execute(
            """select r.run_id, r.seed, r.code_version, r.timings, r.progress, r.config,
                      r.started_at, r.finished_at, v.version
               from ml.training_runs r join ml.model_versions v
                 on v.run_id = r.run_id and v.model_name = r.agent
               where r.agent = %s and r.seed = %s and r.status = 'succeeded'
                 and (%s::bigint is null or (r.config->'budget'->>'timesteps')::bigint = %s)
               order by r.started_at desc limit 1""",
            [agent, seed, timesteps, timesteps],
        )
        row = cur.fetchone()
        if row is None:
            print(f"!! {agent} seed {seed}: no succeeded registered run", flush=True)
        else:
            out.append(row)
    return out


def report_agent(cur, agent: str, runs: list[dict], note: str, img_dir: Path) -> dict:
    rows, curves = [], {}
    baselines: dict[tuple[str, str], dict] = {}
    for run in runs:
        cur.execute(
            """select evaluation_id, window_name, start_session, end_session, symbols, costs,
                      metrics from ml.evaluations where model_name = %s and model_version = %s""",
            [agent, run["version"]],
        )
        for ev in cur.fetchall():
            w = ev["window_name"]
            cur.execute(
                """select evaluation_id, policy, metrics from ml.evaluations
                   where policy is not null and window_name = %s and start_session = %s
                     and end_session = %s and symbols = %s and costs = %s""",
                [w, ev["start_session"], ev["end_session"], ev["symbols"], Jsonb(ev["costs"])],
            )  # fmt: skip
            base = {b["policy"]: b for b in cur.fetchall()}
            for p, b in base.items():
                if (p, w) not in baselines:
                    baselines[(p, w)] = {
                        "policy": p, "window": w,
                        "metrics": {k: b["metrics"].get(k) for k in METRICS},
                        "crash_return": _crash_return(cur, b["evaluation_id"]) if w == "test" else None,
                        "evaluation_id": str(b["evaluation_id"]),
                    }  # fmt: skip
                    if w == "test" and p in (EQUAL_WEIGHT, "buy_and_hold"):
                        curves[LABEL[p]] = _curve(cur, b["evaluation_id"])
            m = {k: ev["metrics"].get(k) for k in METRICS}
            ew = base.get(EQUAL_WEIGHT, {}).get("metrics", {})
            beats = sum(
                1 for b in base.values()
                if m["sharpe_ratio"] is not None and b["metrics"].get("sharpe_ratio") is not None
                and m["sharpe_ratio"] > b["metrics"]["sharpe_ratio"]
            )  # fmt: skip
            prog, timings = run["progress"] or {}, run["timings"] or {}
            rows.append({
                "agent": agent, "seed": run["seed"], "run_id": str(run["run_id"]),
                "version": run["version"], "window": w, "code_version": run["code_version"],
                "timesteps": prog.get("timesteps"),
                "budget": (run["config"].get("budget") or {}).get("timesteps"),
                "steps_per_s": prog.get("steps_per_s"),
                "train_minutes": round(timings.get("train_s", 0) / 60, 1),
                "total_minutes": round((run["finished_at"] - run["started_at"]).total_seconds() / 60, 1),
                "model": m,
                "crash_return": _crash_return(cur, ev["evaluation_id"]) if w == "test" else None,
                "sharpe_minus_1n": (None if m["sharpe_ratio"] is None or ew.get("sharpe_ratio") is None
                                    else m["sharpe_ratio"] - ew["sharpe_ratio"]),
                "beats_baselines_on_sharpe": f"{beats}/{len(base)}",
                "sessions": ev["metrics"].get("sessions"),
            })  # fmt: skip
            if w == "test":
                curves[f"seed {run['seed']}"] = _curve(cur, ev["evaluation_id"])
    rows.sort(key=lambda r: (r["window"] != "validation", r["seed"]))
    base_rows = sorted(baselines.values(), key=lambda b: (b["window"] != "validation",
                                                           BASELINE_ORDER.index(b["policy"])
                                                           if b["policy"] in BASELINE_ORDER else 9))  # fmt: skip
    _print_table(agent, note, rows, base_rows)
    png = _plot(agent, note, curves, img_dir) if curves else None
    return {"agent": agent, "universe": note, "runs": rows, "baselines": base_rows,
            "png": None if png is None else _rel(png)}  # fmt: skip


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _f(v, pct=False):
    return "n/a" if v is None else (f"{v:+.1%}" if pct else f"{v:.3f}")


def _print_table(agent: str, note: str, rows: list[dict], base_rows: list[dict]) -> None:
    print(f"\n### {agent}: {note}\n")
    print("| who | window | annual return | Sharpe | max DD | turnover/day | crash return | "
          "Sharpe - 1/N | beats (Sharpe) | env steps | steps/s | code |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for window in ("validation", "test"):
        for r in (r for r in rows if r["window"] == window):
            m = r["model"]
            print(f"| seed {r['seed']} | {window} | {_f(m['annual_return'], True)} | "
                  f"{_f(m['sharpe_ratio'])} | {_f(m['max_drawdown'], True)} | {_f(m['turnover'])} | "
                  f"{_f(r['crash_return'], True)} | {_f(r['sharpe_minus_1n'])} | "
                  f"{r['beats_baselines_on_sharpe']} | {r['timesteps'] or 0:,} | "
                  f"{r['steps_per_s'] or 0:.0f} | {(r['code_version'] or '?')[:7]}"
                  f"{'+dirty' if (r['code_version'] or '').endswith('+dirty') else ''} |")  # fmt: skip
        for b in (b for b in base_rows if b["window"] == window):
            m = b["metrics"]
            print(f"| {LABEL.get(b['policy'], b['policy'])} | {window} | "
                  f"{_f(m['annual_return'], True)} | {_f(m['sharpe_ratio'])} | "
                  f"{_f(m['max_drawdown'], True)} | {_f(m['turnover'])} | "
                  f"{_f(b['crash_return'], True)} | | | | | |")  # fmt: skip


def _plot(agent: str, note: str, curves: dict, img_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    for label, (days, eq) in curves.items():
        base = not label.startswith("seed")
        ax.plot(days, eq, label=label, lw=2.4 if base else 1.2,
                color={"1/N": "black", "buy & hold": "grey"}.get(label),
                ls="--" if label == "buy & hold" else "-")  # fmt: skip
    ax.axvspan(CRASH[0], CRASH[1], color="red", alpha=0.08, label="Feb-Mar 2020 fall")
    ax.set_title(f"{agent}: test window {TEST_WINDOW[0]}..{TEST_WINDOW[1]}, net of 10 bp costs\n"
                 f"{note[:110]}", fontsize=9)  # fmt: skip
    ax.set_ylabel("equity (start = 1)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    img_dir.mkdir(parents=True, exist_ok=True)
    path = img_dir / f"train_shared_{agent}.png"
    fig.savefig(path)
    plt.close(fig)
    print(f"picture: {_rel(path)}", flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql://tradewind@127.0.0.1:54339/postgres")
    parser.add_argument("--db", default="tw_train_shared")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--agents", default="dow30_ppo,sp100_ppo")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--timesteps", default="50000",
                        help="N for every agent, or agent=N,agent=M ('' = the agent files')")  # fmt: skip
    parser.add_argument("--home", type=Path, default=Path("var/train-shared"))
    parser.add_argument("--fresh", action="store_true", help="Rebuild the warehouse database.")
    parser.add_argument("--report-only", action="store_true", help="Train nothing; report.")
    parser.add_argument("--survivorship-fallback", action="store_true",
                        help="Train a universe without point-in-time history on its recorded "
                             "members up to the test end (survivorship-biased, labelled so).")  # fmt: skip
    parser.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()

    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    budgets = parse_timesteps(args.timesteps, agents)
    home = args.home.resolve()
    url = prepare(args.server_url, args.db, args.data, home, args.fresh and not args.report_only)
    os.environ["DATABASE_URL"] = url
    os.environ["TRADEWIND_HOME"] = str(home)
    from tradewind.settings import reset_settings_cache

    reset_settings_cache()
    checked = {a: check_agent(url, a, args.survivorship_fallback) for a in agents}
    if not args.report_only:
        from tradewind.training.service import run_training

        for agent in agents:
            overrides, _ = checked[agent]
            for seed in seeds:
                t = time.monotonic()
                budget = budgets[agent]
                print(f"== {agent} seed {seed}: {budget or 'agent file'} env steps "
                      f"({dt.datetime.now(dt.UTC):%H:%M:%S} UTC)", flush=True)  # fmt: skip
                outcome = run_training(
                    url, agent, seed=seed, timesteps=budget, overrides=overrides,
                    progress=lambda r: print("  " + r.line(), flush=True),
                    registry_progress=lambda line: print("  " + line, flush=True),
                )  # fmt: skip
                print(f"  run {outcome.run_id}: {(time.monotonic() - t) / 60:.1f} min", flush=True)
                if outcome.after_error:
                    print(f"  registry: {outcome.after_error}", flush=True)

    reports = []
    with psycopg.connect(url) as c, c.cursor(row_factory=dict_row) as cur:
        for agent in agents:
            runs = pick_runs(cur, agent, seeds, budgets[agent])
            if runs:
                reports.append(report_agent(cur, agent, runs, checked[agent][1], args.img_dir))
    print(json.dumps({"benchmark": "train_shared", "id": uuid.uuid4().hex[:8],
                      "timesteps": budgets, "seeds": seeds, "agents": reports}, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
