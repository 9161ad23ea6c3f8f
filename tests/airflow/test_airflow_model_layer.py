"""The model-layer DAGs run for real (``dag.test()`` in an Airflow process of its own) on a
warehouse with bars, dbt features and a trained production model (the signal tests'
warehouse: real ingestion, dbt, RLlib): generate_signals for T, rebalance_paper_account for T
with the simulated broker, reconcile_paper_account after the open of T+1. Then every task of
each DAG is cleared and re-run: the warehouse tables and the weight files are unchanged
(checksums), and no order is placed twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from airflow_testlib import signals_fixtures, table_checksums

from tradewind.orchestration.connections import airflow_conn_env

# The signal tests' fixtures (the tiny production agent), shared with them.
_fixtures = signals_fixtures()
signals_warehouse = _fixtures.signals_warehouse
signals_db = _fixtures.signals_db

pytestmark = [pytest.mark.airflow, pytest.mark.integration, pytest.mark.slow]

T, T1 = "2019-06-14", "2019-06-17"  # a Friday and the Monday after
AFTER_T_CLOSE = "2019-06-14T21:00:00+00:00"  # 16:00 EDT = 20:00 UTC
AFTER_T1_CLOSE = "2019-06-17T21:30:00+00:00"

TABLES = {
    "target_weights": "select as_of_session, model_name, model_version, symbol, weight"
    " from signals.target_weights",
    "orders": "select client_order_id, broker, account_id, as_of_session, symbol, side, qty,"
    " status, filled_qty, filled_avg_price from broker.orders",
    "fills": "select * from broker.fills",
    "fills_but_time": "select fill_id, client_order_id, symbol, side, qty, price from broker.fills",
    "positions": "select broker, account_id, session, symbol, qty, avg_entry_price,"
    " market_value from broker.positions",
    "snapshots": "select broker, account_id, session, cash, equity, buying_power"
    " from broker.account_snapshots",
    "reconciliations": "select broker, account_id, as_of_session, fill_session, report"
    " from broker.reconciliations",
    "sim_accounts": "select account_id, cash, positions from broker.sim_accounts",
    "sim_orders": "select client_order_id, as_of_session, symbol, side, qty, status,"
    " filled_qty, filled_avg_price, fee, filled_session from broker.sim_orders",
}


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _ok(result: dict, dag_id: str) -> dict:
    assert result["dag_id"] == dag_id
    assert result["state"] == "success", result
    return result["tasks"]


def test_signals_rebalance_reconcile_then_clear_and_rerun(airflow, signals_db, tmp_path):
    weights_dir = tmp_path / "weights"
    (tmp_path / "ensembles").mkdir()
    airflow.env.update(airflow_conn_env(signals_db))
    airflow.env.update(
        {
            "TRADEWIND_WEIGHTS_DIR": str(weights_dir),
            "TRADEWIND_ENSEMBLES_DIR": str(tmp_path / "ensembles"),
        }
    )
    signals, rebalance, reconcile = airflow.runs(
        {"dag_id": "generate_signals", "logical_date": AFTER_T_CLOSE},
        {"dag_id": "rebalance_paper_account", "logical_date": AFTER_T_CLOSE},
        {"dag_id": "reconcile_paper_account", "logical_date": AFTER_T1_CLOSE},
    )
    assert _ok(signals, "generate_signals") == {"generate": "success"}
    assert signals["session"] == T
    assert [u.split("/", 4)[-1] for u in signals["assets"]] == ["signals/target_weights"]
    assert _ok(rebalance, "rebalance_paper_account") == {
        "risk_checks": "success",
        "place_orders": "success",
    }
    assert [u.split("/", 4)[-1] for u in rebalance["assets"]] == ["broker/orders"]
    tasks = _ok(reconcile, "reconcile_paper_account")
    assert tasks == {"fills_available": "success", "reconcile": "success", "alerts": "success"}

    with psycopg.connect(signals_db) as c:
        weights = c.execute(
            "select symbol, weight from signals.target_weights where as_of_session = %s"
            " and model_name = 'tiny'",
            (T,),
        ).fetchall()
        orders = c.execute(
            "select symbol, side, qty, status from broker.orders where as_of_session = %s", (T,)
        ).fetchall()
        (fill_session,) = c.execute(
            "select fill_session::text from broker.reconciliations where as_of_session = %s", (T,)
        ).fetchone()
    # The weights of T, a whole-share order per changed name, filled at the open of T+1.
    assert weights and abs(sum(w for _, w in weights)) <= 1.0 + 1e-9
    assert orders and {status for *_, status in orders} == {"filled"}
    assert fill_session == T1
    # The file of T holds the rows of T (one per symbol, Quantopian's date,symbol,weight).
    day_file = weights_dir / "tiny" / f"weights_{T}.csv"
    assert day_file.is_file(), sorted(str(p) for p in weights_dir.rglob("*"))
    rows = [line.split(",") for line in day_file.read_text().strip().splitlines()[1:]]
    in_file = {r[1]: float(r[2]) for r in rows}
    assert set(in_file) <= {s for s, _ in weights}
    for symbol, weight in weights:
        assert in_file.get(symbol, 0.0) == pytest.approx(weight, abs=1e-6), symbol
    assert {r[0] for r in rows} == {T}

    before = table_checksums(signals_db, TABLES), _files(weights_dir)
    # Clear and re-run each task of each DAG (each run below re-runs its whole DAG).
    again = airflow.runs(
        {"dag_id": "generate_signals", "logical_date": AFTER_T_CLOSE},
        {"dag_id": "rebalance_paper_account", "logical_date": AFTER_T_CLOSE},
        {"dag_id": "rebalance_paper_account", "logical_date": AFTER_T_CLOSE,
         "only": ["place_orders"]},
        {"dag_id": "reconcile_paper_account", "logical_date": AFTER_T1_CLOSE},
    )  # fmt: skip
    for result in again:
        _ok(result, result["dag_id"])
    after = table_checksums(signals_db, TABLES), _files(weights_dir)
    changed = {k for k, v in after[0].items() if before[0][k] != v}
    # Weights, files, orders (none sent twice), fills (their times too), positions, snapshots,
    # the reconciliation report and the simulated book: identical.
    assert changed == set(), changed
    assert after[1] == before[1]
    with psycopg.connect(signals_db) as c:
        runs = c.execute(
            "select status, orders_sent, count(*) from broker.rebalance_runs"
            " group by 1, 2 order by 1, 2"
        ).fetchall()
    # Every run is logged; only the first real one sent orders, the re-runs found them.
    sent = [(s, n, k) for s, n, k in runs if n]
    assert sent == [("submitted", len(orders), 1)], runs


def test_train_agents_two_seeds_then_clear_and_rerun(airflow, signals_db, tmp_path, monkeypatch):
    """prepare_data -> train (two mapped seeds, real RLlib, a few hundred steps) -> evaluate and
    gate -> announce; the cleared tasks again: no second training, no second version."""
    from signals_testlib import WINDOWS

    overrides = {
        "name": "tiny_airflow", "universe": "DOW30", "window": 8, "episode_length": 32,
        "windows": WINDOWS, "algorithm.train_batch_size": 128, "algorithm.minibatch_size": 64,
        "algorithm.num_epochs": 1, "budget.timesteps": 256,
        "runners.num_envs_per_env_runner": 2, "checkpoint.every_iterations": 1,
        "early_stopping.eval_every": 1,
    }  # fmt: skip
    airflow.env.update(airflow_conn_env(signals_db))
    airflow.env["TRADEWIND_ARTIFACTS_URI"] = str(tmp_path / "artifacts")
    conf = {"agent": "demo", "seeds": [1, 2], "overrides": overrides}
    when = "2019-07-01T22:00:00+00:00"
    (first,) = airflow.runs({"dag_id": "train_agents", "logical_date": when, "conf": conf})
    tasks = first["tasks"]
    assert first["state"] == "success", first
    assert tasks["prepare_data"] == "success"
    with psycopg.connect(signals_db) as c:
        runs = c.execute(
            "select run_id::text, seed, status from ml.training_runs where agent = 'tiny_airflow'"
            " order by seed"
        ).fetchall()
        versions = c.execute(
            "select version, run_id::text, stage from ml.model_versions"
            " where model_name = 'tiny_airflow' order by version"
        ).fetchall()
        decisions = c.execute(
            "select count(*) from ml.gate_decisions where model_name = 'tiny_airflow'"
        ).fetchone()[0]
    assert [(seed, status) for _, seed, status in runs] == [(1, "succeeded"), (2, "succeeded")]
    assert sorted(r for _, r, _ in versions) == sorted(r for r, _, _ in runs)
    assert decisions == 2
    promoted = any(stage == "production" for *_, stage in versions)
    assert tasks["announce_promotion"] == ("success" if promoted else "skipped")
    assert bool(first["assets"]) == promoted
    before = table_checksums(signals_db, {
        "runs": "select run_id, agent, seed, status, artifact_uri from ml.training_runs",
        "versions": "select model_name, version, run_id, stage, artifact_uri from ml.model_versions",
        "gate": "select model_name, version, decision from ml.gate_decisions",
    })  # fmt: skip
    # Clearing train and evaluate_and_gate in the UI re-runs them with the same inputs (the
    # XCom of prepare_data: agent, seed, run id). dag.test() cannot clear a task of an existing
    # run (every call is a new DAG run), so the cleared tasks' bodies run here with those inputs.
    from tradewind.orchestration import model_layer
    from tradewind.settings import reset_settings_cache

    monkeypatch.setenv("DATABASE_URL", signals_db)
    monkeypatch.setenv("TRADEWIND_ARTIFACTS_URI", str(tmp_path / "artifacts"))
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path / "home"))
    reset_settings_cache()
    try:
        for run_id, seed, _ in runs:
            spec = {"agent": "demo", "seed": seed, "timesteps": None, "overrides": overrides,
                    "run_id": run_id}  # fmt: skip
            trained = model_layer.train_one(spec)
            assert trained == {"run_id": run_id, "seed": seed, "status": "succeeded",
                               "reused": True}  # fmt: skip
            decided = model_layer.evaluate_and_gate(trained)
            assert decided["run_id"] == run_id
    finally:
        reset_settings_cache()
    after = table_checksums(signals_db, {
        "runs": "select run_id, agent, seed, status, artifact_uri from ml.training_runs",
        "versions": "select model_name, version, run_id, stage, artifact_uri from ml.model_versions",
        "gate": "select model_name, version, decision from ml.gate_decisions",
    })  # fmt: skip
    assert after == before
