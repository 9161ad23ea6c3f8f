"""Pure checks and blends of target weights (numpy only; no warehouse, no files).

A weight vector here has one entry per asset (cash is what is left: ``1 - sum(w)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Float slack of the checks: weights come out of a softmax and a cap, whose float sums can sit
# a few ulps above their bound.
TOLERANCE = 1e-9


class InvalidWeights(ValueError):
    """Weights that must never be published; the message names the first offending value."""


@dataclass(frozen=True)
class Bounds:
    """What a model may hold: long-only ``0 <= w <= max_weight`` and ``sum(w) <= 1``;
    long/short ``|w| <= max_weight`` and ``sum(|w|) <= gross_limit``."""

    max_weight: float
    long_short: bool = False
    gross_limit: float = 1.0


def validate(weights: np.ndarray, symbols: Sequence[str], bounds: Bounds, what: str) -> None:
    """Raise InvalidWeights unless every row of ``weights`` [..., N] is within ``bounds``."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    tol = TOLERANCE

    def fail(row: int, col: int | None, reason: str) -> None:
        where = f"{symbols[col]} " if col is not None else ""
        raise InvalidWeights(f"{what} (row {row}): {where}{reason}")

    finite = np.isfinite(w)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        fail(r, c, f"weight {w[r, c]} is not finite")
    cap = bounds.max_weight + tol
    if bounds.long_short:
        over = np.abs(w) > cap
        if over.any():
            r, c = np.argwhere(over)[0]
            fail(r, c, f"|weight| {abs(w[r, c]):.6g} exceeds the max weight {bounds.max_weight}")
        gross = np.abs(w).sum(axis=-1)
        if (gross > bounds.gross_limit + tol).any():
            r = int(np.argmax(gross))
            fail(r, None, f"gross exposure {gross[r]:.6g} exceeds {bounds.gross_limit}")
        return
    neg = w < -tol
    if neg.any():
        r, c = np.argwhere(neg)[0]
        fail(r, c, f"weight {w[r, c]:.6g} is negative in a long-only model")
    over = w > cap
    if over.any():
        r, c = np.argwhere(over)[0]
        fail(r, c, f"weight {w[r, c]:.6g} exceeds the max weight {bounds.max_weight}")
    total = w.sum(axis=-1)
    if (total > 1.0 + tol).any():
        r = int(np.argmax(total))
        fail(r, None, f"weights sum to {total[r]:.12g} > 1")


def blend(member_weights: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """sum_k c_k * w_k: [K, S, N] member weights, [K] coefficients summing to 1 -> [S, N]."""
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim != 1 or len(c) != member_weights.shape[0]:
        raise ValueError("one coefficient per member")
    if (c < 0).any() or not np.isclose(c.sum(), 1.0):
        raise ValueError(f"blend coefficients must be >= 0 and sum to 1, got {c.tolist()}")
    return np.tensordot(c, np.asarray(member_weights, dtype=np.float64), axes=1)


def cap_weights(weights: np.ndarray, max_weight: float, gross_limit: float = 1.0) -> np.ndarray:
    """Risk cap of a blend: |w_i| <= max_weight, then the gross scaled down to gross_limit.

    What is cut goes to cash (never redistributed to other assets, which would raise their
    risk instead).
    """
    w = np.clip(np.asarray(weights, dtype=np.float64), -max_weight, max_weight)
    gross = np.abs(w).sum(axis=-1, keepdims=True)
    return w * np.minimum(1.0, gross_limit / np.where(gross > 0, gross, 1.0))


def sharpe_coefficients(sharpes: Sequence[float]) -> np.ndarray:
    """Blend weights proportional to validation Sharpe ratios; members at or below 0 get 0.

    All at or below 0: equal weights (no member has shown skill, so none is preferred).
    """
    s = np.asarray(sharpes, dtype=np.float64)
    if not np.isfinite(s).all():
        raise ValueError(f"validation Sharpe ratios must be finite, got {s.tolist()}")
    pos = np.maximum(s, 0.0)
    if pos.sum() <= 0:
        return np.full(len(s), 1.0 / len(s))
    return pos / pos.sum()
