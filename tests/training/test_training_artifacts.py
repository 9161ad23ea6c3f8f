"""``tradewind.rl.artifacts.load_policy``: a trained run's policy, rebuilt from its folder.

The reference is RLlib's own checkpoint of the run (``RLModule.from_checkpoint`` on the learner's
module folder), with the score -> weight rule written out here in numpy (softmax of
``score_scale * clip(score)`` over listed assets and cash), never the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_helpers import checkpoint_reference, tiny_agent

from tradewind.rl.data import MarketData


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (train() joins it instead of starting its own each time:
    a Ray start is the slowest part of a tiny run, and the flakiest on a loaded machine)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, synthetic_bars):
    from tradewind.rl.train import train

    data = MarketData.from_bars(synthetic_bars)
    agent = tiny_agent(list(data.symbols))
    out = tmp_path_factory.mktemp("run") / "tiny"
    reports = []
    result = train(agent, data, out, run_id="test-run", progress=reports.append)
    return agent, data, out, result, reports


def test_loaded_policy_reproduces_the_trained_module(tiny_run) -> None:
    from tradewind.rl.artifacts import load_policy

    agent, data, out, result, _ = tiny_run
    manifest = json.loads((out / "manifest.json").read_text())
    # One validation check at the end: the selected module is the final one, which is also
    # what the last RLlib checkpoint holds.
    assert manifest["selected_checkpoint"] == "policy/best.pt"

    policy = load_policy(out)
    assert policy.symbols == data.symbols
    assert policy.window == agent.window and policy.features == tuple(agent.features)
    assert policy.env_config.fixed_bps == 10.0

    batch, _, expected = checkpoint_reference(
        out, data, agent.env_config("validation"), 40, agent.action.score_scale
    )
    n = len(data.symbols)
    got = policy.batch(batch)
    assert got.shape == (40, n + 1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    one = {k: v[3] for k, v in batch.items()}
    np.testing.assert_allclose(policy(one), expected[3], rtol=1e-5, atol=1e-7)
    # Training moved the policy off the uniform start (the score head starts at zero).
    assert np.ptp(expected[:, :-1]) > 1e-4


def test_manifest_and_folder(tiny_run) -> None:
    agent, data, out, result, reports = tiny_run
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("run_id", "agent", "symbols", "features", "window", "env_config", "windows",
                "seed", "selected_checkpoint"):  # fmt: skip
        assert key in manifest, key
    assert manifest["symbols"] == list(data.symbols)
    assert manifest["windows"]["test"] == ["2017-07-01", "2017-12-29"]
    assert (out / "agent.yaml").is_file() and (out / "policy/last.pt").is_file()
    # The trainer never had the test window: its data stop at the validation end.
    trained_on = MarketData.load(out / "data.npz")
    assert str(trained_on.sessions[-1]) <= "2017-06-30"
    # Progress: one report per iteration, steps adding up to the budget.
    assert [r.iteration for r in reports] == [1, 2]
    assert reports[-1].timesteps == result.timesteps == 1024
    assert reports[-1].validation is not None
    assert "steps/s" in reports[-1].line() and "eta" in reports[-1].line()
    assert any(Path(out, "tensorboard").iterdir())


def test_validation_metrics_match_an_independent_backtest(tiny_run, synthetic_bars) -> None:
    """The stored validation figures equal an accounting of the policy's weights on raw opens."""
    from tradewind.rl.artifacts import load_policy
    from tradewind.rl.baselines import run_policy
    from tradewind.rl.env import PortfolioEnv

    agent, data, out, result, _ = tiny_run
    # The arrays the trainer validated on (the test window cut off).
    env = PortfolioEnv(MarketData.load(out / "data.npz"), agent.env_config("validation"))
    record = run_policy(env, load_policy(out))
    symbols = list(data.symbols)
    weights = record[[f"w_{s}" for s in symbols]].to_numpy()
    opens = synthetic_bars.pivot(index="session", columns="symbol", values="open")[symbols]
    opens.index = opens.index.astype(str)
    days = list(opens.index)
    rate = agent.costs.fixed_bps / 1e4
    holdings = np.zeros(len(symbols))  # all cash at the start
    value = 1.0
    for t, session in enumerate(record.index.strftime("%Y-%m-%d")):
        i = days.index(session)
        rel = opens.iloc[i + 2].to_numpy() / opens.iloc[i + 1].to_numpy()
        w = weights[t]
        cost = rate * np.abs(w - holdings).sum()
        growth = float(w @ rel + (1.0 - w.sum()))
        value *= (1.0 - cost) * growth
        holdings = w * rel / growth
    assert result.validation["total_return"] == pytest.approx(value - 1.0, rel=1e-9, abs=1e-12)
    assert result.validation["sessions"] == len(record)


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_run(tiny_run, tmp_path) -> None:
    """Reproducibility on one machine: a second run of the same agent, seed and data gives
    the same env steps, the same validation figures (rel. 1e-6) and the same weights (1e-5).
    """
    import torch

    from tradewind.rl.train import train

    agent, data, out, first, _ = tiny_run
    second = train(agent, data, tmp_path / "again", run_id="again")
    assert second.timesteps == first.timesteps
    for key in ("sharpe", "total_return", "max_drawdown", "mean_turnover"):
        assert second.validation[key] == pytest.approx(first.validation[key], rel=1e-6, abs=1e-9)
    a = torch.load(out / "policy/best.pt", weights_only=True)
    b = torch.load(tmp_path / "again/policy/best.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_synthetic_pretraining_then_real_history(synthetic_bars, tmp_path) -> None:
    """A pretrain phase on stochastic markets (another asset count: the EIIE network does not
    depend on it) runs first, then training continues on the real history from its weights."""
    import torch

    from tradewind.rl.train import train

    data = MarketData.from_bars(synthetic_bars)
    agent = tiny_agent(
        list(data.symbols),
        pretrain={"synthetic": {"n_assets": 3, "seed": 11}, "timesteps": 512,
                  "episode_length": 32},
    )  # fmt: skip
    reports = []
    result = train(agent, data, tmp_path / "pre", run_id="pre", progress=reports.append)
    assert [r.phase for r in reports] == ["pretrain", "train", "train"]
    assert result.timesteps == 1024  # the real-history budget; pretraining has its own
    pre = torch.load(tmp_path / "pre/policy/pretrain_end.pt", weights_only=True)
    end = torch.load(tmp_path / "pre/policy/train_end.pt", weights_only=True)
    assert pre.keys() == end.keys()
    moved = [k for k in pre if not torch.equal(pre[k], end[k])]
    assert moved  # training went on from there


def test_object_store_copy_loads_the_same_policy(tiny_run) -> None:
    """A run folder copied to an fsspec URL (the in-memory filesystem stands in for s3://)
    loads to the same policy: same symbols, same weights for the same observations."""
    from tradewind.rl.artifacts import copy_artifacts, load_policy
    from tradewind.rl.env import PortfolioEnv

    agent, data, out, _, _ = tiny_run
    uri = copy_artifacts(out, "memory://tradewind-test/artifacts/tiny/test-run")
    remote, local = load_policy(uri), load_policy(out)
    assert remote.symbols == local.symbols and remote.manifest == local.manifest
    env = PortfolioEnv(data, agent.env_config("validation"))
    obs, _ = env.reset()
    np.testing.assert_array_equal(remote(obs), local(obs))
