"""The agent's network: an EIIE-style RLModule for RLlib's new API stack (torch).

RLlib's default encoders accept flat vectors and images, not a (window, features, assets)
tensor inside a Dict, so the portfolio agent brings its own module:

- a per-asset encoder shared across assets (the "ensemble of identical independent
  evaluators" of Jiang et al., 2017): a 1-D convolution over the window (or an MLP) applied to
  every asset's (features x window) slice with the same weights;
- a score head that sees each asset's embedding, its previous weight and its listed flag, and
  outputs one score per asset; cash gets a learned bias ("cash bias");
- the action distribution: a diagonal Gaussian over the N + 1 scores (the environment maps
  scores to weights with a masked softmax), with one learned log-std for the assets and one for
  cash, so the policy stays equivariant to permutations of the assets;
- a value head on the listed-masked mean of the per-asset embeddings plus the cash weight.

``model_config`` keys (defaults in ``DEFAULT_MODEL_CONFIG``): ``encoder`` ("conv" or "mlp"),
``kernel``, ``hidden``, ``head_hidden``, ``vf_hidden``, ``log_std_init``, ``input_scale``
(log changes are ~1e-2: scaled before the encoder) and ``asset_bias`` (a learned per-asset
score offset; off by default because it ties the network to one asset order).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import (
    TARGET_NETWORK_ACTION_DIST_INPUTS,
    TargetNetworkAPI,
    ValueFunctionAPI,
)
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn
from torch.nn import functional as F

from tradewind.rl.env import OBS_FEATURES, OBS_LISTED, OBS_WEIGHTS

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "encoder": "conv",
    "kernel": 3,
    "hidden": 16,
    "head_hidden": 32,
    "vf_hidden": 64,
    "log_std_init": -0.5,
    "input_scale": 10.0,
    "asset_bias": False,
}


# Rows per slice of a values-only pass (see EIIEModule.compute_values): one PPO minibatch.
VALUE_CHUNK = 512

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def retain_freed_memory() -> bool:
    """Let this process reuse the memory of freed tensors instead of returning it to the OS.

    A PPO minibatch of the DOW30 agent allocates tens of tensors of 10-30 MB (the unfolded
    patches, the hidden map, their gradients) and frees them when the update is done. glibc
    serves blocks that large with ``mmap`` or trims them off the heap once freed, so every
    minibatch faulted its ~70 MB of fresh pages in again (the kernel zeroes each one): ~18,000
    page faults and a third of the learner's CPU time as system time (benchmarks/RESULTS.md,
    training throughput). Keeping blocks up to 32 MB (glibc's ceiling) on the heap and not
    trimming it below 1 GiB of free space makes them reuse the same pages; the process keeps
    its peak working set instead of shrinking back between updates. The numbers computed are
    unchanged. Process-wide, idempotent; a no-op (False) where libc has no ``mallopt``.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    # Both, and the mmap threshold first: a fixed trim threshold alone turns off glibc's
    # adaptive mmap threshold and leaves every block over 128 KiB to mmap (much worse).
    ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1
    return ok and libc.mallopt(_M_TRIM_THRESHOLD, 1024 * 1024 * 1024) == 1


def conv_embed(encoder: nn.Sequential, feats: torch.Tensor) -> torch.Tensor:
    """The conv encoder ``encoder`` (Conv1d, ReLU, Conv1d over the rest of the window, ReLU,
    Flatten) applied to every asset of ``feats`` [B, W, F, N]: [B * N, hidden].

    The same function as ``encoder(x)`` on the [B * N, F, W] sequences, computed as two matrix
    products with the convolutions' own weights: torch's CPU convolution (oneDNN) is slow for
    so few channels and its backward took ~70 % of a PPO update (benchmarks/RESULTS.md,
    training throughput), while the products run at GEMM speed. Layer 1 is a product over the
    unfolded (F x kernel) patches of every window position; layer 2, whose kernel spans all the
    remaining positions, is one product over the flattened (position, channel) map.
    """
    conv1, conv2 = encoder[0], encoder[2]
    b, w, f, n = feats.shape
    h1, _, k = conv1.weight.shape
    t = w - k + 1
    # [B, N, T, F, k]: patch (t, f, j) = feats[t + j, f], the order of conv1.weight's (F, k).
    patches = feats.permute(0, 3, 1, 2).unfold(2, k, 1).reshape(b * n * t, f * k)
    hid = torch.relu(F.linear(patches, conv1.weight.reshape(h1, f * k), conv1.bias))
    # conv2.weight is [out, channel, position]; the map is laid out (position, channel).
    w2 = conv2.weight.permute(0, 2, 1).reshape(conv2.out_channels, t * h1)
    return torch.relu(F.linear(hid.reshape(b * n, t * h1), w2, conv2.bias))


class EIIEModule(TorchRLModule, ValueFunctionAPI):
    """Per-asset shared encoder + cash bias -> Gaussian over N+1 scores; value head (PPO)."""

    def setup(self) -> None:
        # Every process building the module (driver, learner, env runner) trains or samples it.
        retain_freed_memory()
        cfg = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        self._cfg = cfg
        window, n_features, n_assets = self.observation_space[OBS_FEATURES].shape
        self._n_assets = n_assets
        hidden = int(cfg["hidden"])
        if cfg["encoder"] == "conv":
            kernel = max(1, min(int(cfg["kernel"]), window))
            self.encoder = nn.Sequential(
                nn.Conv1d(n_features, hidden, kernel),
                nn.ReLU(),
                # A kernel spanning the rest of the window: one embedding per asset.
                nn.Conv1d(hidden, hidden, window - kernel + 1),
                nn.ReLU(),
                nn.Flatten(),
            )
        elif cfg["encoder"] == "mlp":
            self.encoder = nn.Sequential(
                nn.Flatten(),
                nn.Linear(n_features * window, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
            )
        else:
            raise ValueError(f"encoder must be 'conv' or 'mlp', not {cfg['encoder']!r}")
        per_asset = hidden + 2  # embedding, previous weight, listed flag
        self.score_head = nn.Sequential(
            nn.Linear(per_asset, int(cfg["head_hidden"])),
            nn.ReLU(),
            nn.Linear(int(cfg["head_hidden"]), 1),
        )
        # Start from a uniform policy: zero final layer, zero cash bias.
        nn.init.zeros_(self.score_head[-1].weight)
        nn.init.zeros_(self.score_head[-1].bias)
        # The free parameters of the distribution sit in one ParameterDict (a module), so APPO's
        # target network can copy them together with the encoder and the score head.
        params = {
            "cash_bias": nn.Parameter(torch.zeros(1)),
            "log_std": nn.Parameter(torch.full((2,), float(cfg["log_std_init"]))),
        }
        if cfg["asset_bias"]:
            params["asset_bias"] = nn.Parameter(torch.zeros(n_assets))
        self.dist_params = nn.ParameterDict(params)
        self.value_head = nn.Sequential(
            nn.Linear(per_asset + 1, int(cfg["vf_hidden"])),
            nn.ReLU(),
            nn.Linear(int(cfg["vf_hidden"]), 1),
        )

    @property
    def cash_bias(self) -> nn.Parameter:
        return self.dist_params["cash_bias"]

    @property
    def log_std(self) -> nn.Parameter:
        return self.dist_params["log_std"]

    @property
    def asset_bias(self) -> nn.Parameter | None:
        return self.dist_params["asset_bias"] if "asset_bias" in self.dist_params else None

    # ------------------------------------------------------------------------- pieces
    def _per_asset(self, obs: dict[str, torch.Tensor], encoder: nn.Module | None = None):
        """[B, N, hidden + 2]: shared-encoder embedding, previous weight, listed flag."""
        feats = obs[OBS_FEATURES] * self._cfg["input_scale"]  # [B, W, F, N]
        b, w, f, n = feats.shape
        encoder = encoder or self.encoder
        if self._cfg["encoder"] == "conv":
            emb = conv_embed(encoder, feats)
        else:
            x = feats.permute(0, 3, 2, 1).reshape(b * n, f, w)  # every asset a (F, W) sequence
            emb = encoder(x)
        emb = emb.reshape(b, n, -1)
        weights, listed = obs[OBS_WEIGHTS], obs[OBS_LISTED]
        return torch.cat([emb, weights[:, :n, None], listed[..., None]], dim=-1)

    def _pooled(self, per_asset: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        listed = obs[OBS_LISTED][..., None]
        mean = (per_asset * listed).sum(1) / listed.sum(1).clamp(min=1.0)
        return torch.cat([mean, obs[OBS_WEIGHTS][:, -1:]], dim=-1)

    def _dist_inputs(
        self,
        per_asset: torch.Tensor,
        score_head: nn.Module | None = None,
        params: nn.ParameterDict | None = None,
    ) -> torch.Tensor:
        params = self.dist_params if params is None else params
        b, n = per_asset.shape[:2]
        scores = (score_head or self.score_head)(per_asset).squeeze(-1)
        if "asset_bias" in params:
            scores = scores + params["asset_bias"]
        mean = torch.cat([scores, params["cash_bias"].expand(b, 1)], dim=-1)
        log_std = params["log_std"]
        log_std = torch.cat([log_std[0].expand(b, n), log_std[1].expand(b, 1)], dim=-1)
        return torch.cat([mean, log_std], dim=-1)

    def scores(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """[B, N+1] deterministic scores (the mean of the action distribution), no grad."""
        with torch.no_grad():
            return self._dist_inputs(self._per_asset(obs))[:, : self._n_assets + 1]

    # ----------------------------------------------------------------------- RLModule
    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        per_asset = self._per_asset(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self._dist_inputs(per_asset)}

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        per_asset = self._per_asset(obs)
        return {
            Columns.ACTION_DIST_INPUTS: self._dist_inputs(per_asset),
            Columns.EMBEDDINGS: self._pooled(per_asset, obs),
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            # A values-only pass (RLlib's GAE connector: the whole train batch at once). In
            # slices of VALUE_CHUNK rows: the encoder's intermediates for 4,000 DOW30 samples
            # are ~220 MB blocks, which glibc always maps fresh (page faults); slices stay in
            # reused heap memory. Same values, gradients kept (torch.cat).
            obs = batch[Columns.OBS]
            n = len(obs[OBS_WEIGHTS])
            if n > VALUE_CHUNK:
                return torch.cat(
                    [
                        self.compute_values(
                            {Columns.OBS: {k: v[i : i + VALUE_CHUNK] for k, v in obs.items()}}
                        )
                        for i in range(0, n, VALUE_CHUNK)
                    ]
                )
            embeddings = self._pooled(self._per_asset(obs), obs)
        return self.value_head(embeddings).squeeze(-1)


class EIIEAPPOModule(EIIEModule, TargetNetworkAPI):
    """The same network for APPO: adds the target ("old") policy APPO's loss compares with."""

    def make_target_networks(self) -> None:
        self._old_encoder = make_target_network(self.encoder)
        self._old_score_head = make_target_network(self.score_head)
        self._old_dist_params = make_target_network(self.dist_params)

    def get_target_network_pairs(self):
        return [
            (self.encoder, self._old_encoder),
            (self.score_head, self._old_score_head),
            (self.dist_params, self._old_dist_params),
        ]

    def forward_target(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        per_asset = self._per_asset(batch[Columns.OBS], self._old_encoder)
        inputs = self._dist_inputs(per_asset, self._old_score_head, self._old_dist_params)
        return {TARGET_NETWORK_ACTION_DIST_INPUTS: inputs}
