"""The second algorithm and the sweep scheduler, end to end through ``tradewind train|tune``.

- APPO (``algorithm.name: APPO``, as in ``rl/agents/dow30_appo.yaml``) trains a tiny agent from
  the warehouse's feature marts through the same ``tradewind train`` entry point as PPO, with a
  remote env runner (APPO samples asynchronously); ``load_policy`` on the run's artifact folder
  gives the trained APPO module's policy: compared with RLlib's own checkpoint of the module
  (``RLModule.from_checkpoint`` and the softmax score -> weight rule in numpy), off the uniform
  start and within the few asynchronous updates between the validation check and the checkpoint.
- ASHA (``scheduler: {type: asha}``) stops a trial that cannot do well early: a two-point grid,
  run one trial after the other, over the cost rate. The first trial pays 10 bp; the second pays
  500 bp (5 % of every unit of turnover), so its first validation check, which starts from cash,
  loses 5 % on the first day whatever the network learned: its validation Sharpe is far below
  the first trial's (a deterministic gap, not a matter of which learning rate got lucky on a
  few months of data). At its first rung ASHA compares it with the first trial's score there
  and stops it: recorded ``aborted`` ("stopped early by the asha scheduler"), with fewer
  iterations than the best trial, which ran to the end of its budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
import yaml
from psycopg.rows import dict_row
from training_helpers import checkpoint_reference, write_agent
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


def _runs(url: str) -> list[dict]:
    with psycopg.connect(url) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from ml.training_runs order by started_at")
        return cur.fetchall()


@pytest.mark.slow  # ~1 min: APPO starts a remote env runner actor
def test_appo_trains_end_to_end_and_loads_as_a_policy(warehouse: str, tmp_path: Path) -> None:
    import torch

    from tradewind.cli import app
    from tradewind.rl.artifacts import load_policy
    from tradewind.rl.data import MarketData
    from tradewind.rl.model import EIIEAPPOModule

    agent_file = write_agent(
        tmp_path / "tiny_appo.yaml",
        **{"algorithm.name": "APPO", "algorithm.clip_param": 0.2,
           "runners.num_env_runners": 1, "runners.rollout_fragment_length": 16,
           "early_stopping.eval_every": 100},  # one validation check, at the end
    )  # fmt: skip
    result = CliRunner().invoke(app, ["train", str(agent_file), "--no-register"])
    assert result.exit_code == 0, result.output
    assert "iter    1" in result.output and "steps/s" in result.output

    [row] = _runs(warehouse)
    assert row["status"] == "succeeded" and row["error"] is None
    assert row["config"]["algorithm"]["name"] == "APPO"
    assert row["progress"]["timesteps"] >= 1024
    out = Path(row["artifact_uri"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["algorithm"] == "APPO" and manifest["selected_checkpoint"] == "policy/best.pt"

    policy = load_policy(out)
    assert list(policy.symbols) == manifest["symbols"]
    data = MarketData.load(out / "data.npz")
    window = policy.agent.env_config("validation")
    # RLlib's checkpoint of the learner's APPO module at the end of training: APPO's learner
    # keeps updating asynchronously after the validation check that chose best.pt, so the end
    # state is not the selected policy; it only shows that training moved the weights.
    batch, reference, at_end = checkpoint_reference(out, data, window, 30, 5.0)
    assert isinstance(reference, EIIEAPPOModule)
    n = len(data.symbols)
    uniform = np.full_like(at_end, 1.0 / (n + 1))
    # The score head starts at zero: an untrained module gives exactly 1/(n+1) everywhere.
    assert np.abs(at_end - uniform).max() > 1e-3
    # The reference for the loaded policy: best.pt's weights in RLlib's own APPO module class,
    # the weight rule in numpy (not tradewind's loader or its module class).
    selected = torch.load(out / "policy" / "best.pt", map_location="cpu", weights_only=True)
    _, _, expected = checkpoint_reference(out, data, window, 30, 5.0, state=selected)
    got = policy.batch(batch)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # ... and best.pt is a trained module, not the initial one.
    assert np.abs(got - uniform).max() > 1e-4
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


def test_asha_stops_a_hopeless_trial_early(warehouse: str, tmp_path: Path) -> None:
    from tradewind.cli import app

    agent_file = write_agent(
        tmp_path / "asha.yaml",
        **{"algorithm.lr": 0.0003, "budget.timesteps": 3072, "early_stopping.eval_every": 2,
           "checkpoint.every_iterations": 2},  # 6 iterations of 512 steps: 3 validation checks
    )  # fmt: skip
    good, bad = 10, 500
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "agent": str(agent_file),
        "metric": "sharpe",
        "num_samples": 1,
        "max_concurrent": 1,  # one after the other, in grid order: 10 bp first
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
        "register_best": False,
        "space": {"costs.fixed_bps": {"grid": [good, bad]}},
    }))  # fmt: skip
    result = CliRunner().invoke(app, ["tune", str(sweep_file)])
    assert result.exit_code == 0, result.output

    rows = {r["config"]["costs"]["fixed_bps"]: r for r in _runs(warehouse)}
    assert set(rows) == {good, bad}
    learner, stuck = rows[good], rows[bad]
    assert learner["status"] == "succeeded"
    assert learner["progress"]["timesteps"] == 3072
    good_checks = learner["metrics"]["validation_history"]
    assert len(good_checks) == 3

    assert stuck["status"] == "aborted", result.output
    assert "stopped early by the asha scheduler" in stuck["error"]
    # Stopped at its first rung (one validation check), before the budget ran out.
    assert stuck["progress"]["timesteps"] < 3072
    assert stuck["progress"]["iteration"] < learner["progress"]["iteration"]
    # Why: at that rung its validation score was below the learner's first-check score.
    # (its progress record of the checked iteration: an aborted run stores no final metrics)
    assert stuck["progress"]["iteration"] == 2 and stuck["progress"]["validation"] is not None
    assert stuck["progress"]["validation"] < good_checks[0]["score"]
    assert f"best trial: run {learner['run_id']}" in result.output
