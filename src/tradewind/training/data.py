"""What a run trains on, read from the warehouse once: symbols, arrays, their fingerprint.

- Symbols: a universe name gives every symbol that was a member at some point of the train and
  validation windows (point in time, so no survivorship from later lists); with
  ``point_in_time`` an asset is observable and tradable only on the days it was a member. A
  list is taken as it is.
- Arrays: ``features.daily_features`` and ``features.forward_returns`` from the first train
  session (plus a warm-up for the observation window and the volatility) to the validation end.
  The test window is never read here: evaluation (``tradewind.registry``) reads it itself.
- ``data_fingerprint``: sha256 over the arrays (sessions, symbols, feature names, features,
  labels, listed), i.e. exactly the feature and label rows the run used.
- ``code_version``: the git revision of the project, ``+dirty`` when the tree has changes.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence

import numpy as np

from tradewind.rl.agents import AgentConfig
from tradewind.rl.data import MarketData, load_market_data
from tradewind.settings import PROJECT_ROOT


def resolve_universe(agent: AgentConfig) -> list[str]:
    from tradewind.universes import members_between, parse_symbols

    if isinstance(agent.universe, list):
        return parse_symbols(agent.universe)
    w = agent.windows
    return members_between(agent.universe, w.train.start, w.validation.end)


def membership_mask(universe: str, sessions: np.ndarray, symbols: Sequence[str]) -> np.ndarray:
    """bool [T, N]: symbol n was a member of ``universe`` on session t."""
    from tradewind.universes import members

    days = [str(s) for s in np.asarray(sessions, dtype="datetime64[D]")]
    index = {s: i for i, s in enumerate(symbols)}
    mask = np.zeros((len(days), len(symbols)), dtype=bool)
    current: tuple[str, ...] | None = None
    row = np.zeros(len(symbols), dtype=bool)
    for t, day in enumerate(days):
        now = tuple(members(universe, day, allow_before_history=True))
        if now != current:  # memberships change a few times a year: rebuild only then
            current = now
            row = np.zeros(len(symbols), dtype=bool)
            for s in now:
                if s in index:
                    row[index[s]] = True
        mask[t] = row
    return mask


def restrict_to_members(data: MarketData, mask: np.ndarray) -> MarketData:
    """The same data with non-members unlisted (features and labels unknown there)."""
    lr_close = None
    if "lr_close" in data.feature_names:
        lr_close = data.features[:, data.feature_names.index("lr_close"), :]
    return MarketData.from_arrays(
        data.sessions,
        data.symbols,
        data.feature_names,
        np.where(mask[:, None, :], data.features, np.nan),
        np.where(mask, data.labels, np.nan),
        data.listed & mask,
        vol_source=None if lr_close is None else np.where(mask, lr_close, np.nan),
        vol_window=data.vol_window,
    )


def load_training_data(db_url: str, agent: AgentConfig) -> MarketData:
    symbols = resolve_universe(agent)
    w = agent.windows
    warmup = agent.window + 2 * 20  # observation window + the volatility's own window
    data = load_market_data(
        db_url, symbols, w.train.start, w.validation.end, agent.features,
        warmup_sessions=warmup,
    )  # fmt: skip
    if agent.point_in_time and isinstance(agent.universe, str):
        data = restrict_to_members(data, membership_mask(agent.universe, data.sessions, symbols))
    return data


def data_fingerprint(data: MarketData) -> str:
    h = hashlib.sha256()
    h.update(np.asarray(data.sessions, dtype="datetime64[D]").astype(np.int64).tobytes())
    h.update("\x1f".join(data.symbols).encode())
    h.update("\x1f".join(data.feature_names).encode())
    for arr in (data.features, data.labels):
        # NaN has many bit patterns: one canonical value so equal data hash equally.
        h.update(np.where(np.isnan(arr), np.nan, arr).astype("<f8").tobytes())
    h.update(np.asarray(data.listed, dtype=np.uint8).tobytes())
    return "sha256:" + h.hexdigest()


def code_version(root=PROJECT_ROOT) -> str:
    """``<git rev>`` or ``<git rev>+dirty``; ``unknown`` outside a git checkout."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}+dirty" if dirty else rev
