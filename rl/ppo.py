"""PPO on the portfolio environment with the EIIE RLModule (RLlib new API stack)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tradewind.rl.env import EnvConfig, PortfolioEnv

_ENV_FIELDS = {f.name for f in dataclasses.fields(EnvConfig)}
# Name under which make_env is registered with Ray Tune's env registry.
RLLIB_ENV_ID = "tradewind-portfolio"


def make_env(env_config: Mapping[str, Any]):
    """RLlib env creator: ``env_config`` holds ``data`` (MarketData or .npz path; omit in
    synthetic mode) and EnvConfig fields. With ``num_envs`` (RLlib's vector entry point) it
    returns a :class:`PortfolioVectorEnv`, else a single :class:`PortfolioEnv`.
    """
    cfg = dict(env_config)
    num_envs = cfg.pop("num_envs", None)
    data = cfg.pop("data", None)
    unknown = set(cfg) - _ENV_FIELDS
    if unknown:
        raise ValueError(f"unknown environment option(s): {sorted(unknown)}")
    if num_envs is None:
        return PortfolioEnv(data, cfg)
    from tradewind.rl.vector_env import PortfolioVectorEnv

    return PortfolioVectorEnv(int(num_envs), data, cfg)


def make_ppo_config(
    env_config: Mapping[str, Any],
    *,
    model_config: Mapping[str, Any] | None = None,
    num_env_runners: int = 0,
    num_envs_per_env_runner: int = 8,
    vectorize: bool = True,
    train_batch_size: int = 4000,
    minibatch_size: int = 256,
    num_epochs: int = 10,
    lr: float = 3e-4,
    gamma: float = 0.99,
    lambda_: float = 0.95,
    clip_param: float = 0.2,
    entropy_coeff: float = 0.0,
    vf_loss_coeff: float = 1.0,
    seed: int | None = None,
):
    """A PPOConfig training :class:`~tradewind.rl.model.EIIEModule` on the portfolio env.

    ``env_config``: ``{"data": MarketData | path, **EnvConfig fields}`` (for remote env runners
    pass a path saved with ``MarketData.save``: it is loaded on each runner instead of being
    pickled into every task). ``vectorize`` steps each runner's ``num_envs_per_env_runner``
    envs with :class:`PortfolioVectorEnv` (one numpy call per batch) instead of Gymnasium's
    SyncVectorEnv. Further settings can be chained on the returned config.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from tradewind.rl.model import DEFAULT_MODEL_CONFIG, EIIEModule

    # RLlib accepts a class or a registered name; the name lets make_env return a vector env.
    register_env(RLLIB_ENV_ID, make_env)
    config = (
        PPOConfig()
        .framework("torch")
        .environment(
            env=RLLIB_ENV_ID,
            env_config=dict(env_config),
            # Scores already live in [-1, 1] = the action space: RLlib's unsquash is the identity
            # and it clips out-of-range Gaussian samples (the env would clip them as well).
            normalize_actions=True,
            clip_actions=False,
        )
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point" if vectorize else "sync",
        )
        .training(
            train_batch_size=train_batch_size,
            minibatch_size=minibatch_size,
            num_epochs=num_epochs,
            lr=lr,
            gamma=gamma,
            lambda_=lambda_,
            clip_param=clip_param,
            entropy_coeff=entropy_coeff,
            vf_loss_coeff=vf_loss_coeff,
        )
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=EIIEModule,
                model_config={**DEFAULT_MODEL_CONFIG, **(model_config or {})},
            )
        )
    )
    if seed is not None:
        config = config.debugging(seed=seed)
    return config
