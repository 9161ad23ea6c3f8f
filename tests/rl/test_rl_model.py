"""The EIIE RLModule: shapes, weight sharing across assets, the PPO config around it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from tradewind.rl.data import MarketData
from tradewind.rl.env import PortfolioEnv
from tradewind.rl.model import EIIEModule
from tradewind.rl.ppo import RLLIB_ENV_ID, make_env, make_ppo_config
from tradewind.rl.vector_env import PortfolioVectorEnv


def batch_of(env: PortfolioEnv, n: int = 6, seed: int = 0) -> dict:
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(n):
        rows.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    return {k: torch.as_tensor(np.stack([r[k] for r in rows])) for k in rows[0]}


def module_for(env: PortfolioEnv, **config) -> EIIEModule:
    torch.manual_seed(0)
    return EIIEModule(
        observation_space=env.observation_space,
        action_space=env.action_space,
        model_config=config,
    )


@pytest.mark.parametrize("encoder", ["conv", "mlp"])
def test_shapes_and_value(market: MarketData, encoder: str) -> None:
    env = PortfolioEnv(market, window=8)
    module = module_for(env, encoder=encoder)
    obs = batch_of(env)
    for forward in (module.forward_inference, module.forward_exploration, module.forward_train):
        out = forward({Columns.OBS: obs})
        assert out[Columns.ACTION_DIST_INPUTS].shape == (6, 2 * 5)
    values = module.compute_values({Columns.OBS: obs})
    assert values.shape == (6,)
    train = module.forward_train({Columns.OBS: obs})
    assert torch.allclose(module.compute_values({}, train[Columns.EMBEDDINGS]), values)
    dist = module.get_train_action_dist_cls().from_logits(train[Columns.ACTION_DIST_INPUTS])
    assert dist.sample().shape == (6, 5)


def test_initial_policy_is_uniform(market: MarketData) -> None:
    env = PortfolioEnv(market, window=8)
    module = module_for(env)
    out = module.forward_inference({Columns.OBS: batch_of(env)})[Columns.ACTION_DIST_INPUTS]
    assert torch.count_nonzero(out[:, :5]) == 0  # equal scores: equal weights


def test_assets_share_the_encoder(market: MarketData) -> None:
    """Permuting the assets permutes the asset scores; cash score and value do not move."""
    env = PortfolioEnv(market, window=8)
    module = module_for(env)
    with torch.no_grad():
        for p in module.score_head.parameters():  # leave the zero init: non-trivial scores
            p.normal_(0, 0.5)
    obs = batch_of(env)
    obs["listed"] = torch.ones_like(obs["listed"])
    perm = torch.tensor([2, 0, 3, 1])
    permuted = {
        "features": obs["features"][..., perm],
        "listed": obs["listed"][:, perm],
        "weights": torch.cat([obs["weights"][:, perm], obs["weights"][:, 4:]], dim=1),
    }
    a = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    b = module.forward_inference({Columns.OBS: permuted})[Columns.ACTION_DIST_INPUTS]
    assert torch.allclose(a[:, :4][:, perm], b[:, :4], atol=1e-6)
    assert torch.allclose(a[:, 4:], b[:, 4:], atol=1e-6)
    va = module.compute_values({Columns.OBS: obs})
    vb = module.compute_values({Columns.OBS: permuted})
    assert torch.allclose(va, vb, atol=1e-6)


def test_asset_bias_option(market: MarketData) -> None:
    env = PortfolioEnv(market, window=8)
    assert module_for(env).asset_bias is None
    assert module_for(env, asset_bias=True).asset_bias.shape == (4,)
    with pytest.raises(ValueError):
        module_for(env, encoder="transformer")


def test_env_creator_and_ppo_config(market: MarketData, tmp_path) -> None:
    path = market.save(tmp_path / "m.npz")
    single = make_env({"data": str(path), "window": 8})
    assert isinstance(single, PortfolioEnv) and single.symbols == market.symbols
    vector = make_env({"data": str(path), "window": 8, "num_envs": 3})
    assert isinstance(vector, PortfolioVectorEnv) and vector.num_envs == 3
    with pytest.raises(ValueError, match="unknown"):
        make_env({"data": market, "windw": 8})
    config = make_ppo_config({"data": str(path), "window": 8}, seed=1, model_config={"hidden": 4})
    assert config.env == RLLIB_ENV_ID
    assert config.gym_env_vectorize_mode == "vector_entry_point"
    spec = config.get_rl_module_spec(env=single)
    assert spec.module_class is EIIEModule and spec.model_config["hidden"] == 4
    module = spec.build()
    out = module.forward_inference({Columns.OBS: batch_of(single, 2)})
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 10)
