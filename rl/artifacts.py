"""A trained agent as a policy: ``load_policy(artifact_uri) -> LoadedPolicy``.

``artifact_uri`` is a run's artifact folder (``$TRADEWIND_HOME/artifacts/<agent>/<run_id>/``,
written by :func:`tradewind.rl.train.train`) or an fsspec URL of a copy of it. The policy is
the module chosen on the validation window (``manifest["selected_checkpoint"]``), rebuilt from
its weights: loading needs torch and the RLModule class, not a Ray cluster.

The policy is deterministic: the mean scores of the action distribution, mapped to target
weights with the environment's own rule (:func:`tradewind.rl.core.weights_from_scores`, masked
by the ``listed`` flags the observation carries, i.e. what is known at T). ``action_kind`` is
"weights", so :func:`tradewind.rl.baselines.run_policy` feeds the weights to the environment,
which still removes assets it knows to be unavailable.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tradewind.rl.agents import AgentConfig, parse_agent
from tradewind.rl.core import weights_from_scores
from tradewind.rl.env import OBS_FEATURES, OBS_LISTED, OBS_WEIGHTS, EnvConfig

MANIFEST_FILE = "manifest.json"


def build_module(
    agent: AgentConfig, symbols: Sequence[str], state: Mapping[str, Any] | None = None
):
    """An EIIE module for ``agent`` over ``symbols`` (optionally with trained weights)."""
    from tradewind.rl.env import action_space, observation_space
    from tradewind.rl.model import DEFAULT_MODEL_CONFIG, EIIEModule

    env_cfg = EnvConfig.build(agent.env_config(None))
    module = EIIEModule(
        observation_space=observation_space(env_cfg, len(agent.features), len(symbols)),
        action_space=action_space(env_cfg, len(symbols)),
        model_config={**DEFAULT_MODEL_CONFIG, **agent.model.model_dump()},
    )
    if state is not None:
        weights = {k: v for k, v in state.items() if "_old_" not in k}
        module.load_state_dict(weights, strict=True)
    module.eval()
    return module


@dataclass
class LoadedPolicy:
    """A trained module as a policy (``__call__`` for one observation, ``batch`` for many)."""

    module: Any
    agent: AgentConfig
    symbols: tuple[str, ...]
    env_config: EnvConfig
    manifest: dict[str, Any]

    action_kind = "weights"

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.agent.features)

    @property
    def window(self) -> int:
        return self.agent.window

    @classmethod
    def from_module(
        cls,
        module: Any,
        agent: AgentConfig,
        symbols: Sequence[str],
        env_config: EnvConfig | None = None,
        manifest: Mapping[str, Any] | None = None,
    ) -> LoadedPolicy:
        cfg = env_config if env_config is not None else EnvConfig.build(agent.env_config(None))
        return cls(module, agent, tuple(symbols), cfg, dict(manifest or {}))

    def scores(self, obs_batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """[B, N+1] deterministic scores for a batch of observations."""
        import torch
        from ray.rllib.core.columns import Columns

        n = len(self.symbols)
        # np.array copies: observations are read-only views, torch wants writable memory.
        feats = np.array(obs_batch[OBS_FEATURES], dtype=np.float32)
        if feats.ndim != 4 or feats.shape[1:] != (self.window, len(self.features), n):
            raise ValueError(
                f"features batch has shape {feats.shape}, expected "
                f"(B, {self.window}, {len(self.features)}, {n})"
            )
        obs = {
            OBS_FEATURES: torch.from_numpy(feats),
            OBS_LISTED: torch.from_numpy(np.array(obs_batch[OBS_LISTED], dtype=np.float32)),
            OBS_WEIGHTS: torch.from_numpy(np.array(obs_batch[OBS_WEIGHTS], dtype=np.float32)),
        }
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        return out[:, : n + 1].cpu().numpy().astype(np.float64)

    def batch(self, obs_batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """[B, N+1] target weights (cash last) for a batch of observations."""
        scores = self.scores(obs_batch)
        listed = np.asarray(obs_batch[OBS_LISTED], dtype=np.float64)
        return weights_from_scores(scores, listed, self.env_config.action)

    def __call__(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.batch({k: np.asarray(v)[None] for k, v in obs.items()})[0]


def _read_bytes(uri: str, rel: str) -> bytes:
    if "://" in uri and not uri.startswith("file://"):
        import fsspec

        with fsspec.open(f"{uri.rstrip('/')}/{rel}", "rb") as f:
            return f.read()
    base = Path(uri.removeprefix("file://"))
    path = base / rel
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {base} a training run's artifact folder?")
    return path.read_bytes()


def load_policy(artifact_uri: str | Path) -> LoadedPolicy:
    """The validation-selected policy of a training run (see the module docstring)."""
    import torch

    uri = str(artifact_uri)
    manifest = json.loads(_read_bytes(uri, MANIFEST_FILE))
    agent = parse_agent(yaml.safe_load(_read_bytes(uri, "agent.yaml")), origin=f"{uri}/agent.yaml")
    state = torch.load(
        io.BytesIO(_read_bytes(uri, manifest["selected_checkpoint"])),
        map_location="cpu",
        weights_only=True,
    )
    symbols = tuple(manifest["symbols"])
    module = build_module(agent, symbols, state)
    env_config = EnvConfig.build(agent.env_config(None))
    return LoadedPolicy(module, agent, symbols, env_config, manifest)


def copy_artifacts(local_dir: str | Path, uri: str) -> str:
    """Upload a finished run folder to an object-store URL (fsspec); returns the URL."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    local = Path(local_dir)
    root = root.rstrip("/")
    for path in sorted(local.rglob("*")):
        if path.is_file():
            dest = f"{root}/{path.relative_to(local).as_posix()}"
            fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(path), dest)
    return uri


__all__ = ["LoadedPolicy", "build_module", "copy_artifacts", "load_policy"]
