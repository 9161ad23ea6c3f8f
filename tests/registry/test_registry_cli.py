"""``tradewind models list|show|promote|archive`` and ``tradewind evaluate`` through the real
CLI against a real warehouse; ``evaluate`` on a really trained tiny agent (load_policy)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row
from registry_helpers import SYMBOLS, WINDOWS, HoldOne
from typer.testing import CliRunner

from tradewind.cli import app
from tradewind.registry import evaluate_model, register_candidate

pytestmark = pytest.mark.integration


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(url: str, sql: str, params=None) -> list[dict]:
    with psycopg.connect(url) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def test_models_list_show_promote_archive(warehouse: str) -> None:
    loader = {"mem://a": HoldOne("KO"), "mem://b": HoldOne("XOM")}.__getitem__
    v1 = register_candidate(warehouse, "picker", "mem://a")
    register_candidate(warehouse, "picker", "mem://b")
    evaluate_model(warehouse, "picker", v1.version, ["validation"], loader=loader, reports=False)

    out = run("models", "list")
    assert out.exit_code == 0, out.output
    assert "picker" in out.output and "candidate" in out.output

    out = run("models", "promote", "picker@1", "--reason", "best on validation", "--by", "alice")
    assert out.exit_code == 0, out.output
    assert "picker@1: candidate -> production by alice: best on validation" in out.output
    out = run("models", "promote", "picker@2", "--reason", "try XOM")
    assert out.exit_code == 0, out.output
    assert "picker@1: production -> archived" in out.output
    prod = rows(warehouse, "select version, promotion_note from ml.model_versions "
                           "where stage = 'production'")  # fmt: skip
    assert prod == [{"version": 2, "promotion_note": "try XOM"}]
    history = rows(warehouse, "select version, from_stage, to_stage, changed_by, reason "
                              "from ml.model_stage_changes order by change_id")  # fmt: skip
    assert [(h["version"], h["to_stage"], h["changed_by"]) for h in history[2:]] == [
        (1, "production", "alice"), (1, "archived", history[-1]["changed_by"]),
        (2, "production", history[-1]["changed_by"]),
    ]  # fmt: skip
    assert history[2]["reason"] == "best on validation"

    out = run("models", "show", "picker")  # the production version
    assert out.exit_code == 0, out.output
    assert "picker@2" in out.output and "promotion: try XOM" in out.output
    out = run("models", "show", "picker@1")
    assert out.exit_code == 0, out.output
    assert "validation" in out.output and "2010-03-01" in out.output  # its evaluation
    assert "candidate -> production by alice: best on validation" in out.output

    out = run("models", "archive", "picker@2", "--reason", "retired")
    assert out.exit_code == 0, out.output
    assert rows(warehouse, "select count(*) as n from ml.model_versions "
                           "where stage = 'production'")[0]["n"] == 0  # fmt: skip
    out = run("models", "list", "--stage", "archived")
    assert out.exit_code == 0 and out.output.count("archived") >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "nosuch"], "no model named 'nosuch'"),
        (["models", "promote", "picker"], "needs a version"),
        (["models", "promote", "picker@9"], "picker has no version 9"),
        (["models", "show", "picker"], "picker has no production version"),
        (["models", "archive", "bad name!"], "not a model reference"),
        (["models", "list", "--stage", "live"], "stage must be one of"),
        (["evaluate", "picker@1", "--window", "nosuch"], "unknown window 'nosuch'"),
    ],
)
def test_cli_errors_are_one_line(warehouse: str, args, message) -> None:
    register_candidate(warehouse, "picker", "mem://a")
    out = run(*args)
    assert out.exit_code == 1
    assert message in out.output
    assert "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1


def write_tiny_agent(path: Path) -> Path:
    """A tiny PPO agent over the fixture symbols (seconds of training)."""
    data = {
        "name": path.stem,
        "description": "tiny registry test agent",
        "algorithm": {"name": "PPO", "lr": 0.001, "gamma": 0.9, "lambda": 0.9,
                      "train_batch_size": 256, "minibatch_size": 128, "num_epochs": 1},
        "model": {"hidden": 4, "head_hidden": 8, "vf_hidden": 8},
        "universe": ["AAPL", "JPM", "KO", "MSFT", "WMT", "XOM"],
        "window": 8,
        "episode_length": 32,
        "windows": {k: {"start": a, "end": b} for k, (a, b) in WINDOWS.items()},
        "seed": 1,
        "budget": {"timesteps": 256},
        "runners": {"num_env_runners": 0, "num_envs_per_env_runner": 4},
        "checkpoint": {"every_iterations": 1},
        "early_stopping": {"eval_every": 1},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_trained_agent_is_evaluated_and_re_evaluated_in_place(
    warehouse: str, tmp_path: Path
) -> None:
    out = run("train", str(write_tiny_agent(tmp_path / "tiny.yaml")))
    assert out.exit_code == 0, out.output
    assert "registered tiny@1" in out.output and "gate: " in out.output
    evals = rows(
        warehouse,
        "select evaluation_id, window_name, metrics, report_uri "
        "from ml.evaluations where model_name = 'tiny' order by window_name",
    )
    assert [e["window_name"] for e in evals] == ["test", "validation"]
    assert all(Path(e["report_uri"]).is_file() for e in evals)
    artifact = rows(warehouse, "select artifact_uri from ml.model_versions")[0]["artifact_uri"]
    manifest = json.loads((Path(artifact) / "manifest.json").read_text())
    assert manifest["symbols"] == ["AAPL", "JPM", "KO", "MSFT", "WMT", "XOM"]

    n_daily = rows(warehouse, "select count(*) as n from ml.evaluation_daily")[0]["n"]
    out = run("evaluate", "tiny@1", "--window", "test")
    assert out.exit_code == 0, out.output
    assert f"evaluation {evals[0]['evaluation_id']}" in out.output
    again = rows(warehouse, "select evaluation_id, window_name, metrics from ml.evaluations "
                            "where model_name = 'tiny' order by window_name")  # fmt: skip
    assert [e["evaluation_id"] for e in again] == [e["evaluation_id"] for e in evals]
    assert again[0]["metrics"] == evals[0]["metrics"]  # deterministic policy, same numbers
    assert rows(warehouse, "select count(*) as n from ml.evaluation_daily")[0]["n"] == n_daily
    assert set(SYMBOLS) >= set(manifest["symbols"])

    # The same artifact under another name, judged from the command line.
    register_candidate(warehouse, "tiny_b", artifact)
    out = run("models", "gate", "tiny_b@1")
    assert out.exit_code == 0, out.output
    (decision,) = rows(warehouse, "select decision, reason from ml.gate_decisions "
                                  "where model_name = 'tiny_b'")  # fmt: skip
    assert f"tiny_b@1: {decision['decision']}: {decision['reason']}" in out.output
