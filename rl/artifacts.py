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
# Windows encoded per batch by ``over_windows`` (bounds memory on long, wide backfills).
ENCODE_CHUNK = 256


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

    # ------------------------------------------------- a chain of decisions, encoder batched
    def over_windows(self, features: np.ndarray) -> WindowedPolicy | None:
        """This policy for a known sequence of observations, the encoder run once for all.

        ``features`` [S, W, F, N] are the feature windows of the S observations to come (what
        ``observation_at`` gives as ``features``). The result's ``decide(i, obs)`` returns the
        same target weights as ``self(obs)`` for the observation whose window is
        ``features[i]``: only the per-asset encoder, which sees nothing but the window, runs
        batched; the score head, which sees the previous weights, still runs on one
        observation at a time with the shapes ``self(obs)`` uses.

        Why not the whole policy batched: the head's last layer (hidden -> 1 score per asset)
        is a matrix product with one output column, and MKL sums its products in another order
        for B x N rows than for N rows, so a batched head differs from ``self(obs)`` in the last
        float32 bit (measured: 1.2e-7 in a score, 5e-11 in a weight). The encoder's
        convolutions give identical bits for every batch size measured; ``decide`` is checked
        against ``self(obs)`` by the caller (``check``) because that is a property of the
        kernels, not a promise. None when the module does not have the encoder/head split.
        """
        import torch

        module = self.module
        if not (hasattr(module, "_per_asset") and hasattr(module, "_dist_inputs")):
            return None
        feats = np.ascontiguousarray(features, dtype=np.float32)
        n = len(self.symbols)
        if feats.ndim != 4 or feats.shape[1:] != (self.window, len(self.features), n):
            raise ValueError(
                f"features windows have shape {feats.shape}, expected "
                f"(S, {self.window}, {len(self.features)}, {n})"
            )
        s = len(feats)
        parts = []
        with torch.no_grad():
            for lo in range(0, s, ENCODE_CHUNK):
                chunk = torch.from_numpy(feats[lo : lo + ENCODE_CHUNK])
                b = len(chunk)
                # The module's own path (scaling, layout, encoder); weights/listed are set per
                # decision in ``decide``.
                parts.append(
                    module._per_asset(
                        {
                            OBS_FEATURES: chunk,
                            OBS_LISTED: torch.zeros((b, n)),
                            OBS_WEIGHTS: torch.zeros((b, n + 1)),
                        }
                    )
                )
        return WindowedPolicy(self, torch.cat(parts))


@dataclass
class WindowedPolicy:
    """A LoadedPolicy with the embeddings of a known sequence of windows (``over_windows``)."""

    policy: LoadedPolicy
    per_asset: Any  # torch [S, N, hidden + 2]: row i for the window of observation i

    def __len__(self) -> int:
        return int(self.per_asset.shape[0])

    def decide(self, i: int, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Target weights for observation ``i`` (its features window must be row ``i``)."""
        import torch

        pol, module = self.policy, self.policy.module
        n = len(pol.symbols)
        # Row i of the module's per-asset input with this observation's previous weights and
        # listed flags in the last two columns, where ``_per_asset`` puts them (float32 copies:
        # the same values ``self.policy(obs)`` concatenates). torch.tensor copies: an observation
        # may be a read-only view (the signals backfill's), which torch.from_numpy warns about.
        row = self.per_asset[i : i + 1].clone()
        row[0, :, -2] = torch.tensor(np.asarray(obs[OBS_WEIGHTS], dtype=np.float32)[:n])
        row[0, :, -1] = torch.tensor(np.asarray(obs[OBS_LISTED], dtype=np.float32))
        with torch.no_grad():
            out = module._dist_inputs(row)
        scores = out[:, : n + 1].cpu().numpy().astype(np.float64)
        listed = np.asarray(obs[OBS_LISTED], dtype=np.float64)[None]
        return weights_from_scores(scores, listed, pol.env_config.action)[0]

    def matches(self, i: int, obs: Mapping[str, np.ndarray]) -> bool:
        """Whether ``decide(i, obs)`` is bit for bit ``policy(obs)`` (a check for callers)."""
        return bool(np.array_equal(self.decide(i, obs), self.policy(obs)))


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


__all__ = ["LoadedPolicy", "WindowedPolicy", "build_module", "copy_artifacts", "load_policy"]
