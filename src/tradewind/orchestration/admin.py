"""One-off Airflow set-up the project needs besides DAGs: pools. Runs against the metadata DB."""

from __future__ import annotations

from tradewind.orchestration.defaults import POOLS


def ensure_pools() -> dict[str, int]:
    """Create or resize the vendor-API pools; returns name -> slots."""
    from airflow.models.pool import Pool

    for name, (slots, description) in POOLS.items():
        Pool.create_or_update_pool(name, slots, description, include_deferred=False)
    return {name: slots for name, (slots, _) in POOLS.items()}
