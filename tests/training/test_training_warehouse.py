"""``tradewind train`` against a real warehouse (real bars, real dbt marts, real RLlib).

- a tiny agent trains from the feature marts end to end: the ``ml.training_runs`` row from
  ``running`` to ``succeeded`` with code version, data fingerprint, windows, timings and the
  artifact folder; checkpoint and manifest on disk; then the registry's candidate version and
  its evaluations (validation and test) exist;
- the data fingerprint changes when a feature row the run used changes, and does not when a
  row of the test window (never read by training) changes;
- a run that cannot load its data is recorded ``failed`` with the error line;
- a wrong agent file is one error line naming the key and the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from training_helpers import write_agent
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


def _run_rows(url: str) -> list[dict]:
    with psycopg.connect(url) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from ml.training_runs order by started_at")
        return cur.fetchall()


def test_train_end_to_end_from_warehouse_features(warehouse: str, tmp_path: Path) -> None:
    from tradewind.cli import app

    agent_file = write_agent(tmp_path / "tiny.yaml")
    result = CliRunner().invoke(app, ["train", str(agent_file), "--seed", "5"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "iter    1" in out and "steps/s" in out and "eta" in out
    assert "training run" in out  # the summary table

    [row] = _run_rows(warehouse)
    assert row["status"] == "succeeded" and row["error"] is None
    assert row["agent"] == "tiny" and row["seed"] == 5
    assert row["config"]["seed"] == 5 and row["config"]["universe"][0] == "AAPL"
    assert row["code_version"] and row["code_version"] != "unknown"
    assert row["data_fingerprint"].startswith("sha256:")
    assert row["windows"]["test"] == ["2010-08-02", "2010-12-28"]
    assert str(row["train_start"]) == "2009-11-02" and str(row["eval_end"]) == "2010-07-30"
    assert row["finished_at"] >= row["started_at"]
    assert row["timings"]["train_s"] > 0 and row["timings"]["load_data_s"] > 0
    assert row["progress"]["timesteps"] == 1024 and row["progress"]["iteration"] == 2
    assert row["metrics"]["timesteps"] == 1024
    assert len(row["metrics"]["validation_history"]) == 2

    run_dir = Path(row["artifact_uri"])
    assert run_dir.parts[-3:] == ("artifacts", "tiny", str(row["run_id"]))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run_id"] == str(row["run_id"])
    assert manifest["data_fingerprint"] == row["data_fingerprint"]
    assert manifest["code_version"] == row["code_version"]
    assert (run_dir / manifest["selected_checkpoint"]).is_file()
    assert (run_dir / manifest["last_checkpoint"] / "rllib_checkpoint.json").is_file()

    # The registry part: a candidate version of the model named after the agent, evaluated on
    # both windows, with the baselines.
    with psycopg.connect(warehouse) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from ml.model_versions")
        versions = cur.fetchall()
        cur.execute(
            "select model_name, policy, window_name from ml.evaluations order by window_name"
        )
        evaluations = cur.fetchall()
    assert [(v["model_name"], v["version"], str(v["run_id"])) for v in versions] == [
        ("tiny", 1, str(row["run_id"]))
    ]
    model_windows = {e["window_name"] for e in evaluations if e["model_name"] == "tiny"}
    assert model_windows == {"validation", "test"}
    assert any(e["policy"] for e in evaluations)  # baselines evaluated too
    assert "registered tiny@1" in out


def test_fingerprint_sees_used_rows_only(warehouse: str) -> None:
    from tradewind.rl.agents import parse_agent
    from tradewind.training.data import data_fingerprint, load_training_data

    agent = parse_agent(_agent_dict(), name="fp")
    before = data_fingerprint(load_training_data(warehouse, agent))
    assert data_fingerprint(load_training_data(warehouse, agent)) == before  # stable

    with psycopg.connect(warehouse) as c:
        # A test-window row: training never reads it.
        c.execute("update features.daily_features set lr_close = lr_close + 0.5 "
                  "where symbol = 'KO' and session = '2010-10-01'")  # fmt: skip
    assert data_fingerprint(load_training_data(warehouse, agent)) == before
    with psycopg.connect(warehouse) as c:
        c.execute("update features.forward_returns set fwd_open_lr = fwd_open_lr + 0.01 "
                  "where symbol = 'KO' and session = '2010-01-15'")  # fmt: skip
    assert data_fingerprint(load_training_data(warehouse, agent)) != before


def _agent_dict() -> dict:
    from training_helpers import YAHOO_SYMBOLS, YAHOO_WINDOWS

    return {"universe": YAHOO_SYMBOLS, "window": 8, "windows": YAHOO_WINDOWS}


def test_failed_run_is_recorded_failed(warehouse: str, tmp_path: Path) -> None:
    from tradewind.cli import app

    # No feature rows for these symbols: loading fails after the run row exists.
    agent_file = write_agent(tmp_path / "nodata.yaml", universe=["ZZZZ", "QQQQ"])
    result = CliRunner().invoke(app, ["train", str(agent_file)])
    assert result.exit_code == 1
    assert "error: no feature rows" in result.output and "Traceback" not in result.output
    [row] = _run_rows(warehouse)
    assert row["status"] == "failed"
    assert "no feature rows" in row["error"]
    assert row["finished_at"] is not None


def test_wrong_agent_file_is_one_line(warehouse: str, tmp_path: Path) -> None:
    from tradewind.cli import app

    agent_file = write_agent(tmp_path / "typo.yaml", **{"algorithm.learning_rate": 0.1})
    result = CliRunner().invoke(app, ["train", str(agent_file)])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[-1].startswith("error:")
    assert "typo.yaml" in lines[-1] and "algorithm.learning_rate" in lines[-1]
    assert "Traceback" not in result.output
    assert _run_rows(warehouse) == []  # nothing recorded for a file that never validated
    result = CliRunner().invoke(app, ["train", "no_such_agent"])
    assert result.exit_code == 1 and "known agents: demo" in result.output
