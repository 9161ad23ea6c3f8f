"""Deterministic client order ids: the key that makes a re-run find its earlier order.

The id depends on (account, as-of session, model, symbol, side) only, never on the quantity or
the model version, so a re-run after partial progress, after a fill, or with a re-planned size
still maps to the one order of that symbol and side for the session.
"""

from __future__ import annotations

import hashlib
from datetime import date

PREFIX = "tw"


def client_order_id(account_id: str, session: date, model: str, symbol: str, side: str) -> str:
    """``tw-<yyyymmdd>-<symbol>-<b|s>-<hash>``: readable, <= 128 characters (Alpaca's limit)."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    key = "|".join((account_id, session.isoformat(), model, symbol, side))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{PREFIX}-{session:%Y%m%d}-{symbol[:40]}-{side[0]}-{digest}"
