"""A realistic sample warehouse for the dashboard's tests and benchmark: a year of paper
trading and 50 training runs, written with plain INSERT/COPY into the tables the model layer
fills (the dashboard's input contract).

``write_sample(db_url)`` fills an *empty, migrated* database (it refuses one holding bars) and
returns a ``Sample`` with the raw arrays it wrote, so tests can compute expectations from the
inputs themselves (numpy), never through the dashboard's SQL. Tables that dbt owns
(``features.daily_features``, ``features.forward_returns``) are created with the mart's
columns the dashboard reads when they do not exist; tables of migrations not yet applied are
skipped.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from tradewind import calendar
from tradewind.db import connect

PAPER_SESSIONS = 252
BASELINES = ("1/N", "buy_and_hold", "min_variance", "momentum")
WINDOWS = {
    "validation": (date(2017, 1, 1), date(2018, 12, 31)),
    "test": (date(2019, 1, 1), date(2020, 9, 30)),
}
ACCOUNT = ("sim", "PAPER-1")


@dataclass
class Sample:
    symbols: list[str]
    sessions: list[date]  # sessions with bars (paper year plus one year before)
    opens: np.ndarray  # [sessions, symbols], nan where a bar is missing
    paper_sessions: list[date]  # decision sessions of the paper year
    models: dict[str, int]  # production model -> version
    weights: dict[str, np.ndarray]  # production model -> [paper sessions, symbols]
    runs: int = 0
    evaluations: int = 0
    daily: dict[str, np.ndarray] = field(default_factory=dict)  # evaluation_id -> net returns
    eval_meta: dict[str, dict] = field(default_factory=dict)


def _copy(cur, table: str, columns: list[str], rows) -> None:
    with cur.copy(f"copy {table} ({', '.join(columns)}) from stdin") as cp:
        for row in rows:
            cp.write_row(row)


def _has(cur, relation: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return bool(cur.fetchone()[0])


def _columns(cur, relation: str) -> set[str]:
    schema, _, name = relation.partition(".")
    cur.execute(
        "select column_name from information_schema.columns"
        " where table_schema = %s and table_name = %s",
        (schema, name),
    )
    return {r[0] for r in cur.fetchall()}


def write_sample(
    db_url: str,
    *,
    end: date | None = None,
    n_symbols: int = 30,
    runs: int = 50,
    seed: int = 0,
    model_names: tuple[str, ...] = ("dow30_ppo", "sp100_ppo", "demo"),
) -> Sample:
    rng = np.random.default_rng(seed)
    end = calendar.session_on_or_before(end or calendar.last_closed_session(datetime.now(UTC)))
    # Weights and orders up to `end`; the returns of the last two are not known yet (they need
    # the opens of T+1 and T+2), as on a live warehouse the evening after the close.
    paper = calendar.sessions(calendar.session_offset(end, -(PAPER_SESSIONS - 1)), end)
    sessions = calendar.sessions(calendar.session_offset(paper[0], -252), end)
    symbols = [f"S{i:02d}" for i in range(n_symbols)]
    n_s, n_a = len(sessions), len(symbols)

    # Prices: geometric random walk per symbol; one symbol has a 10-session gap.
    lr = rng.normal(0.0003, 0.015, size=(n_s, n_a))
    opens = 50.0 * np.exp(np.cumsum(lr, axis=0)) * rng.uniform(0.5, 3.0, size=n_a)
    opens[100:110, 3] = np.nan
    closes = opens * np.exp(rng.normal(0, 0.01, size=(n_s, n_a)))
    highs = np.maximum(opens, closes) * (1 + rng.uniform(0, 0.01, size=(n_s, n_a)))
    lows = np.minimum(opens, closes) * (1 - rng.uniform(0, 0.01, size=(n_s, n_a)))
    volume = rng.integers(100_000, 5_000_000, size=(n_s, n_a)).astype(float)

    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.bars_daily")
        if cur.fetchone()[0]:
            raise ValueError("write_sample fills an empty warehouse only: raw.bars_daily has rows")
        bar_cols = _columns(cur, "raw.bars_daily")
        # Ingest runs: one a session, a few failed or rejected.
        cur.execute(
            "insert into ops.ingest_runs (source, timeframe, status, started_at, finished_at,"
            " rows_in, rows_new, rows_quarantined, message)"
            " select 'alpaca', '1Day', case when g %% 50 = 7 then 'failed' else 'succeeded' end,"
            " d + interval '21 hours', d + interval '21 hours 2 minutes', 30, 30,"
            " case when g %% 40 = 3 then 2 else 0 end,"
            " case when g %% 50 = 7 then 'HTTP 503 from data.alpaca.markets after 5 retries' end"
            " from unnest(%s::date[]) with ordinality as t (d, g) returning run_id",
            (sessions,),
        )
        run_ids = [r[0] for r in cur.fetchall()]
        # Bars of session i belong to run i. One symbol restated (history_version 2).
        hv = "history_version" in bar_cols
        cols = ["source", "symbol", "session", "open", "high", "low", "close", "volume",
                "adjustment", "run_id"] + (["history_version"] if hv else [])  # fmt: skip
        rows = []
        for i, d in enumerate(sessions):
            for j, s in enumerate(symbols):
                if np.isnan(opens[i, j]):
                    continue
                row = ["alpaca", s, d, opens[i, j], highs[i, j], lows[i, j], closes[i, j],
                       volume[i, j], "all", run_ids[i]]  # fmt: skip
                if hv:
                    row.append(2 if s == "S05" else 1)
                rows.append(row)
        _copy(cur, "raw.bars_daily", cols, rows)
        _features(cur, symbols, sessions, opens)
        _quality(cur, rng, run_ids, symbols, sessions)
        sample = Sample(symbols, sessions, opens, paper, {}, {})
        _ml(cur, rng, sample, runs, model_names)
        _signals(cur, rng, sample)
        _broker(cur, rng, sample)
        conn.commit()
    # Statistics, as autovacuum would gather them on a warehouse that filled over a year.
    with connect(db_url, autocommit=True) as conn:
        conn.execute("analyze")
    return sample


def _features(cur, symbols, sessions, opens) -> None:
    cur.execute("create schema if not exists features")  # dbt creates it on a real warehouse
    if not _has(cur, "features.daily_features"):
        cur.execute(
            "create table features.daily_features (symbol text, session date, source text,"
            " open double precision, primary key (symbol, session))"
        )
        rows = [
            (s, d, "alpaca", opens[i, j])
            for i, d in enumerate(sessions)
            for j, s in enumerate(symbols)
            if not np.isnan(opens[i, j])
        ]
        _copy(cur, "features.daily_features", ["symbol", "session", "source", "open"], rows)
    if not _has(cur, "features.forward_returns"):
        cur.execute(
            "create table features.forward_returns (symbol text, session date, open float8,"
            " next_session date, next_open float8, next2_session date, next2_open float8,"
            " fwd_open_lr float8, primary key (symbol, session))"
        )
        rows = []
        for i, d in enumerate(sessions):
            for j, s in enumerate(symbols):
                if np.isnan(opens[i, j]):
                    continue
                n1 = opens[i + 1, j] if i + 1 < len(sessions) else np.nan
                n2 = opens[i + 2, j] if i + 2 < len(sessions) else np.nan
                fwd = float(np.log(n2 / n1)) if np.isfinite(n1) and np.isfinite(n2) else None
                rows.append((
                    s, d, opens[i, j],
                    calendar.session_offset(d, 1), None if np.isnan(n1) else n1,
                    calendar.session_offset(d, 2), None if np.isnan(n2) else n2, fwd,
                ))  # fmt: skip
        _copy(
            cur,
            "features.forward_returns",
            ["symbol", "session", "open", "next_session", "next_open", "next2_session",
             "next2_open", "fwd_open_lr"],
            rows,
        )  # fmt: skip


def _quality(cur, rng, run_ids, symbols, sessions) -> None:
    reasons = [["ohlc_inconsistent"], ["non_positive_price"], ["session_not_closed"],
               ["ohlc_inconsistent", "duplicate_key"]]  # fmt: skip
    q = []
    for k in range(40):
        i = int(rng.integers(0, len(sessions)))
        s = symbols[int(rng.integers(0, len(symbols)))]
        payload = {"symbol": s, "session": sessions[i].isoformat(), "open": 10.0, "high": 9.0}
        q.append((run_ids[i], "alpaca", "1Day", s, sessions[i].isoformat(),
                  reasons[k % len(reasons)], json.dumps(payload)))  # fmt: skip
    _copy(cur, "ops.quarantine",
          ["run_id", "source", "timeframe", "symbol", "bar_time", "reasons", "payload"], q)  # fmt: skip
    w = []
    for k in range(60):
        i = int(rng.integers(0, len(sessions)))
        w.append((run_ids[i], "alpaca", "1Day", symbols[k % len(symbols)],
                  sessions[i].isoformat(), ("zero_volume", "large_jump")[k % 2],
                  "close moved 23% in one session"))  # fmt: skip
    _copy(cur, "ops.data_warnings",
          ["run_id", "source", "timeframe", "symbol", "bar_time", "kind", "detail"], w)  # fmt: skip


def _curve(rng, window: str, drift: float) -> tuple[list[date], np.ndarray, np.ndarray]:
    days = calendar.sessions(*WINDOWS[window])
    r = rng.normal(drift, 0.011, size=len(days))
    return days, r, rng.uniform(0.0, 0.3, size=len(days))


def _ml(cur, rng, sample: Sample, runs: int, model_names) -> None:
    run_cols = _columns(cur, "ml.training_runs")
    base = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    versions: dict[str, int] = {}
    has_eval = _has(cur, "ml.evaluations")
    eval_rows, daily_rows = [], []

    def add_eval(model, version, policy, window, drift):
        days, r, turn = _curve(rng, window, drift)
        eid = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        metrics = {
            "annual_return": float(np.prod(1 + r) ** (252 / len(r)) - 1),
            "sharpe_ratio": float(r.mean() / r.std() * np.sqrt(252)),
            "annual_volatility": float(r.std() * np.sqrt(252)),
            "max_drawdown": float(np.min(np.cumprod(1 + r) / np.maximum.accumulate(np.cumprod(1 + r)) - 1)),
            "turnover": float(turn.mean()),
            "hit_rate": float((r > 0).mean()),
        }  # fmt: skip
        key = f"{model or policy}|{version}|{window}"
        eval_rows.append((eid, key, model, version, policy, window, days[0], days[-1],
                          sample.symbols, json.dumps({"fixed_bps": 10.0}), len(days),
                          json.dumps(metrics)))  # fmt: skip
        daily_rows.extend((eid, d, float(x), float(t), float(t) * 0.001)
                          for d, x, t in zip(days, r, turn, strict=True))  # fmt: skip
        sample.daily[eid] = r
        sample.eval_meta[eid] = {"model": model, "version": version, "policy": policy,
                                 "window": window, "sessions": days}  # fmt: skip

    for k in range(runs):
        agent = model_names[k % len(model_names)]
        status = "failed" if k % 17 == 5 else "running" if k == runs - 1 else "succeeded"
        run_id = uuid.UUID(bytes=rng.bytes(16), version=4)
        started = base + timedelta(hours=7 * k)
        finished = (
            started + timedelta(minutes=float(rng.uniform(3, 90))) if status != "running" else None
        )
        # As tradewind.training records a run: validation checks per iteration, the last
        # iteration's progress, stage timings.
        checks = [{"iteration": 5 * (i + 1), "timesteps": 4096 * (i + 1),
                   "score": float(0.3 * np.log1p(i) + rng.normal(0, 0.08))} for i in range(25)]  # fmt: skip
        metrics = {"validation": {"sharpe_ratio": checks[-1]["score"]},
                   "selection_metric": "sharpe_ratio", "stop_reason": "budget",
                   "timesteps": 4096 * 25, "iterations": 125, "validation_history": checks}  # fmt: skip
        progress = {"phase": "real", "iteration": 125, "timesteps": 4096 * 25,
                    "episode_return_mean": float(rng.normal(0.05, 0.02)),
                    "steps_per_s": float(rng.uniform(400, 1200))}  # fmt: skip
        row = {"run_id": run_id, "agent": agent, "config": json.dumps({"agent": agent, "seed": k}),
               "train_start": date(2008, 1, 1), "train_end": date(2016, 12, 31),
               "eval_start": date(2017, 1, 1), "eval_end": date(2018, 12, 31), "seed": k,
               "status": status, "metrics": json.dumps(metrics),
               "artifact_uri": f"var/artifacts/{agent}/{run_id}/", "started_at": started,
               "finished_at": finished,
               "error": "RayTaskError: worker died" if status == "failed" else None}  # fmt: skip
        if "code_version" in run_cols:
            row["code_version"] = "f658cfe"
        if "data_fingerprint" in run_cols:
            row["data_fingerprint"] = "sha256:" + "ab" * 8
        if "progress" in run_cols:
            row["progress"] = json.dumps(progress)
            row["timings"] = json.dumps({"load_data_s": 2.1, "train_s": 600.0 + k})
            row["windows"] = json.dumps({"train": ["2008-01-01", "2016-12-31"],
                                         "validation": ["2017-01-01", "2018-12-31"],
                                         "test": ["2019-01-01", "2020-09-30"]})  # fmt: skip
        cur.execute(
            f"insert into ml.training_runs ({', '.join(row)}) values"
            f" ({', '.join(['%s'] * len(row))})",
            list(row.values()),
        )
        if status != "succeeded":
            continue
        v = versions.get(agent, 0) + 1
        versions[agent] = v
        cur.execute(
            "insert into ml.model_versions (model_name, version, run_id, stage, artifact_uri,"
            " metrics, promotion_note, created_at, stage_changed_at)"
            " values (%s, %s, %s, 'candidate', %s, %s, %s, %s, %s)",
            (agent, v, run_id, row["artifact_uri"], json.dumps(metrics["validation"]),
             "gate: refused, validation Sharpe below production + 0.05", finished, finished),
        )  # fmt: skip
        if has_eval:
            add_eval(agent, v, None, "validation", 0.0006)
            add_eval(agent, v, None, "test", 0.0004)
    if has_eval:
        for policy in BASELINES:
            add_eval(None, None, policy, "validation", 0.0004)
            add_eval(None, None, policy, "test", 0.0003)
        _copy(cur, "ml.evaluations",
              ["evaluation_id", "eval_key", "model_name", "model_version", "policy", "window_name",
               "start_session", "end_session", "symbols", "costs", "sessions", "metrics"],
              eval_rows)  # fmt: skip
        _copy(cur, "ml.evaluation_daily",
              ["evaluation_id", "session", "net_return", "turnover", "cost"], daily_rows)  # fmt: skip
    # The latest version of the first two models is in production.
    for agent in list(versions)[:2]:
        v = versions[agent]
        cur.execute(
            "update ml.model_versions set stage = 'production', promotion_note = %s"
            " where model_name = %s and version = %s",
            ("gate: promoted, validation Sharpe beats production and 1/N", agent, v),
        )
        sample.models[agent] = v
        if _has(cur, "ml.gate_decisions"):
            cur.execute(
                "insert into ml.gate_decisions (model_name, version, decision, reason, metric,"
                " window_name, candidate_value, production_value, baseline_value, margins)"
                " values (%s, %s, 'promoted', 'beats production and 1/N', 'sharpe_ratio',"
                " 'validation', 1.1, 0.9, 0.7, '{\"vs_production\": 0.05}')",
                (agent, v),
            )
            cur.execute(
                "insert into ml.model_stage_changes (model_name, version, from_stage, to_stage,"
                " changed_by, reason) values (%s, %s, 'candidate', 'production', 'gate',"
                " 'validation Sharpe beats production and 1/N')",
                (agent, v),
            )
    sample.runs = runs
    sample.evaluations = len(eval_rows)


def _signals(cur, rng, sample: Sample) -> None:
    n = len(sample.symbols)
    gens = _has(cur, "signals.generations")
    for model, version in sample.models.items():
        w = rng.dirichlet(np.ones(n) * 0.5, size=len(sample.paper_sessions)) * 0.95
        w = np.minimum(w, 0.25)
        sample.weights[model] = w
        rows, grows = [], []
        run_id = uuid.UUID(bytes=rng.bytes(16), version=4)
        for i, d in enumerate(sample.paper_sessions):
            late = 3.0 if i % 60 == 13 else 0.0  # a few late nights
            at = calendar.session_close_utc(d) + timedelta(hours=5.5 + late, minutes=i % 7)
            rows.extend((d, model, version, s, float(w[i, j]), at)
                        for j, s in enumerate(sample.symbols))  # fmt: skip
            grows.append((run_id, model, version, "model", d, "written", "session", d, at,
                          (at - calendar.session_close_utc(d)).total_seconds(), 850.0, n,
                          float(w[i].sum()),
                          f"var/weights/{model}/weights_{d.isoformat()}.csv", "0" * 64))  # fmt: skip
        _copy(cur, "signals.target_weights",
              ["as_of_session", "model_name", "model_version", "symbol", "weight", "created_at"],
              rows)  # fmt: skip
        if gens:
            _copy(cur, "signals.generations",
                  ["run_id", "model_name", "model_version", "kind", "as_of_session", "status",
                   "mode", "features_through", "generated_at", "delay_seconds", "elapsed_ms",
                   "n_symbols", "gross_weight", "file_uri", "file_sha256"], grows)  # fmt: skip


def _broker(cur, rng, sample: Sample) -> None:
    """The paper account trades the first production model: equity follows its weights with
    small tracking noise; ten orders a session, each filled at the next open plus slippage."""
    model = next(iter(sample.models))
    w = sample.weights[model]
    idx = {d: i for i, d in enumerate(sample.sessions)}
    broker_, account = ACCOUNT
    order_cols = _columns(cur, "broker.orders")
    equity = 100_000.0
    snaps, orders, fills, positions = [], [], [], []
    for i, d in enumerate(sample.paper_sessions):
        k = idx[d]
        nan = np.full(len(sample.symbols), np.nan)
        o1 = sample.opens[k + 1] if k + 1 < len(sample.sessions) else nan
        o2 = sample.opens[k + 2] if k + 2 < len(sample.sessions) else nan
        realised = calendar.session_offset(d, 2)
        if k + 2 < len(sample.sessions):
            # The snapshot of T+2 holds the return of the weights of T (and tracking noise).
            ret = np.where(np.isfinite(o1) & np.isfinite(o2), o2 / o1 - 1, 0.0)
            equity *= 1 + float(w[i] @ ret) + float(rng.normal(0, 0.0005))
            snaps.append((broker_, account, realised, equity * 0.05, equity, equity))
        t1 = calendar.session_open_utc(calendar.session_offset(d, 1))
        for j in range(0, len(sample.symbols), 3):
            s = sample.symbols[j]
            cid = f"tw-{account}-{d.isoformat()}-{model}-{s}"
            side = "buy" if (i + j) % 2 else "sell"
            qty = float(1 + (i * j) % 40)
            price = (
                None
                if not np.isfinite(o1[j])
                else float(o1[j] * (1 + (0.0004 if side == "buy" else -0.0002)))
            )
            # No price: T+1 has not opened yet (the order waits) or the symbol had no bar.
            status = (
                "filled" if price else "accepted" if k + 1 == len(sample.sessions) else "canceled"
            )
            row = [cid, broker_, account, d, s, side, qty, "market", "opg", status,
                   qty if price else 0, price, t1 - timedelta(hours=14)]  # fmt: skip
            if "model_name" in order_cols:
                row += [model, sample.models[model]]
            orders.append(row)
            if price:
                fills.append((f"f-{cid}", cid, s, side, qty, price, t1 + timedelta(seconds=2)))
        for j, s in enumerate(sample.symbols):
            if np.isfinite(o1[j]) and k + 2 < len(sample.sessions):
                mv = equity * float(w[i, j])
                positions.append((broker_, account, realised, s, mv / o1[j], o1[j], mv))
    ocols = ["client_order_id", "broker", "account_id", "as_of_session", "symbol", "side", "qty",
             "order_type", "time_in_force", "status", "filled_qty", "filled_avg_price",
             "submitted_at"] + (["model_name", "model_version"] if "model_name" in order_cols else [])  # fmt: skip
    _copy(cur, "broker.orders", ocols, orders)
    _copy(cur, "broker.fills",
          ["fill_id", "client_order_id", "symbol", "side", "qty", "price", "filled_at"], fills)  # fmt: skip
    _copy(cur, "broker.account_snapshots",
          ["broker", "account_id", "session", "cash", "equity", "buying_power"], snaps)  # fmt: skip
    _copy(cur, "broker.positions",
          ["broker", "account_id", "session", "symbol", "qty", "avg_entry_price", "market_value"],
          positions)  # fmt: skip
    if _has(cur, "broker.reconciliations"):
        rec = [(broker_, account, d, calendar.session_offset(d, 1),
                json.dumps({"model": f"{model}@{sample.models[model]}", "equity": 100_000.0,
                            "cash": 5_000.0, "fees": 9.5, "unfilled": [],
                            "fills": [{"symbol": "S00", "slippage_bps": 3.0}] * 10,
                            "max_abs_weight_difference": 0.002, "cash_weight": 0.051,
                            "cash_target_weight": 0.05}))
               for d in sample.paper_sessions[-61:-1]]  # fmt: skip
        _copy(cur, "broker.reconciliations",
              ["broker", "account_id", "as_of_session", "fill_session", "report"], rec)  # fmt: skip
    if _has(cur, "broker.rebalance_runs"):
        cur.execute(
            "insert into broker.rebalance_runs (broker, account_id, as_of_session, model_name,"
            " model_version, dry_run, status, orders_planned, orders_sent, finished_at)"
            " select %s, %s, d, %s, %s, false, 'submitted', 10, 10, now()"
            " from unnest(%s::date[]) as d",
            (broker_, account, model, sample.models[model], sample.paper_sessions[-60:]),
        )
