"""Actions reach the env as sampled: RLlib's normalize/clip connector is off (it cost ~40 % of
the DOW30 agent's sampling CPU), because the env clips scores to [-1, 1] itself."""

from __future__ import annotations

import numpy as np

from tradewind.rl.agents import load_agent
from tradewind.rl.data import MarketData
from tradewind.rl.train import algorithm_config
from tradewind.rl.vector_env import PortfolioVectorEnv


def test_rllib_passes_raw_samples_to_the_env() -> None:
    agent = load_agent("dow30_ppo")
    config = algorithm_config(agent, agent.env_config("train"))
    assert config.normalize_actions is False
    assert config.clip_actions is False


def test_env_treats_out_of_range_scores_as_clipped(market: MarketData) -> None:
    """Gaussian samples far outside [-1, 1] give the same path as their numpy-clipped values."""
    cfg = {"window": 8, "episode_length": 40, "fixed_bps": 10.0}
    raw_env, clipped_env = (PortfolioVectorEnv(3, market, cfg) for _ in range(2))
    obs_a, _ = raw_env.reset(seed=5)
    obs_b, _ = clipped_env.reset(seed=5)
    rng = np.random.default_rng(0)
    n_act = raw_env.single_action_space.shape[0]
    for _ in range(30):
        raw = (3.0 * rng.standard_normal((3, n_act))).astype(np.float32)
        assert np.abs(raw).max() > 1.0
        obs_a, rew_a, term_a, trunc_a, _ = raw_env.step(raw)
        obs_b, rew_b, term_b, trunc_b, _ = clipped_env.step(np.clip(raw, -1.0, 1.0))
        np.testing.assert_array_equal(rew_a, rew_b)
        np.testing.assert_array_equal(term_a | trunc_a, term_b | trunc_b)
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
