"""PortfolioEnv / PortfolioVectorEnv against the Gymnasium API and its seeding rules."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import SyncVectorEnv

from tradewind.markets.synthetic import SyntheticMarketConfig
from tradewind.rl.data import MarketData
from tradewind.rl.env import ENV_ID, PortfolioEnv
from tradewind.rl.vector_env import PortfolioVectorEnv

SYNTH = SyntheticMarketConfig(n_assets=3, seed=7)
VARIANTS = {
    "scores": dict(window=5),
    "weights": dict(window=5, action_kind="weights", max_weight=0.4),
    "long_short": dict(window=5, long_short=True, gross_limit=1.5, max_weight=0.5),
    "slippage": dict(window=5, slippage_coef=0.3, episode_length=10),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_check_env_passes_without_warnings(market: MarketData, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # what the checker warns with
        env = gym.make(ENV_ID, data=market, **VARIANTS[name])
        check_env(env.unwrapped)


def test_check_env_synthetic() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # what the checker warns with
        env = gym.make(ENV_ID, synthetic=SYNTH, window=6, episode_length=12)
        check_env(env.unwrapped)


def rollout(env: gym.Env, seed: int, steps: int = 80) -> list:
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    out = [obs["features"].copy(), info["session"]]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out += [obs["features"].copy(), obs["weights"].copy(), reward, info["session"]]
        if terminated or truncated:
            obs, info = env.reset()
            out += [obs["features"].copy(), info["session"]]
    return out


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("synthetic", [False, True])
def test_same_seed_same_rollout(market: MarketData, synthetic: bool) -> None:
    def make() -> PortfolioEnv:
        if synthetic:
            return PortfolioEnv(synthetic=SYNTH, window=6, episode_length=15)
        return PortfolioEnv(market, window=5, episode_length=15, slippage_coef=0.2)

    assert same(rollout(make(), 11), rollout(make(), 11))
    assert not same(rollout(make(), 11), rollout(make(), 12))


def test_synthetic_paths_come_from_np_random() -> None:
    env = PortfolioEnv(synthetic=SYNTH, window=6, episode_length=15)
    first, _ = env.reset(seed=3)
    second, _ = env.reset()  # a fresh path on every reset
    again, _ = env.reset(seed=3)
    assert not np.array_equal(first["features"], second["features"])
    assert np.array_equal(first["features"], again["features"])


def test_random_start_is_seeded_and_fits_the_episode(market: MarketData) -> None:
    env = PortfolioEnv(market, window=5, episode_length=20)
    starts = {env.reset(seed=s)[1]["session"] for s in range(30)}
    assert len(starts) > 5
    last = env.decision_sessions[-20]
    assert all(env.decision_sessions[0] <= s <= last for s in starts)


def test_fixed_start_truncation_and_info(market: MarketData) -> None:
    env = PortfolioEnv(
        market, window=5, random_start=False, session_range=("2008-03-01", "2008-03-31")
    )
    obs, info = env.reset(seed=0)
    assert info["session"] == "2008-03-03" and info["portfolio_value"] == 1.0
    assert np.array_equal(obs["weights"], np.r_[0, 0, 0, 0, 1.0].astype(np.float32))
    sessions, done = [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        sessions.append(info["session"])
        assert not terminated
        done = truncated
    assert sessions[0] == "2008-03-03" and sessions[-1] == "2008-03-31"
    assert set(info) >= {"portfolio_value", "turnover", "cost", "weights", "log_return"}
    assert np.array_equal(obs["weights"], info["weights"].astype(np.float32))
    with pytest.raises(RuntimeError):
        env.step(env.action_space.sample())
    obs, info = env.reset(options={"start": "2008-03-20"})
    assert info["session"] == "2008-03-20"


def test_named_session_range_outside_the_data_fails(market: MarketData) -> None:
    with pytest.raises(ValueError):
        PortfolioEnv(market, window=5, session_range="out_of_sample")


@pytest.mark.parametrize("synthetic", [False, True])
def test_vector_env_equals_sync_vector_env(market: MarketData, synthetic: bool) -> None:
    kwargs = (
        dict(synthetic=SYNTH, window=4, episode_length=6)
        if synthetic
        else dict(data=market, window=5, episode_length=7, slippage_coef=0.2)
    )
    b = 4
    vec = PortfolioVectorEnv(b, **kwargs)
    sync = SyncVectorEnv([lambda: PortfolioEnv(**kwargs) for _ in range(b)])
    o1, _ = vec.reset(seed=5)
    o2, _ = sync.reset(seed=5)
    assert all(np.array_equal(o1[k], o2[k]) for k in o1)
    rng = np.random.default_rng(0)
    n1 = vec.single_action_space.shape[0]
    for _ in range(25):  # crosses several autoresets
        a = rng.uniform(-1, 1, (b, n1)).astype(np.float32)
        r1, r2 = vec.step(a), sync.step(a)
        assert all(np.array_equal(r1[0][k], r2[0][k]) for k in r1[0])
        assert np.allclose(r1[1], r2[1], rtol=0, atol=1e-15)
        assert np.array_equal(r1[2], r2[2]) and np.array_equal(r1[3], r2[3])
        if "cost" in r2[4]:
            mask = r2[4]["_cost"]
            assert np.array_equal(r1[4]["_cost"], mask)
            assert np.allclose(r1[4]["cost"][mask], r2[4]["cost"][mask], atol=1e-15)


def test_make_vec_uses_the_numpy_vector_env(market: MarketData) -> None:
    envs = gym.make_vec(
        ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", data=market, window=5
    )
    assert isinstance(envs.unwrapped, PortfolioVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert obs["features"].shape == (3, 5, 5, 4)
    assert envs.observation_space.contains(obs)
