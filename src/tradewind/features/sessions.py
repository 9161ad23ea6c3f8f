"""The NYSE session seed of the dbt project (``dbt/seeds/nyse_sessions.csv``).

Generated from exchange_calendars' XNYS calendar, so dbt needs no Python at build time. Grain: one
row per NYSE session; ``market_open``/``market_close`` are the regular-hours bounds as UTC
instants (early closes included), used to cut daily bars out of minute bars.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

SEED_START = date(1990, 1, 1)
SEED_END = date(2030, 12, 31)
SEED_NAME = "nyse_sessions"


def nyse_sessions(start: date = SEED_START, end: date = SEED_END) -> pd.DataFrame:
    import exchange_calendars as xcals

    schedule = xcals.get_calendar("XNYS", start=start.isoformat(), end=end.isoformat()).schedule
    fmt = "%Y-%m-%d %H:%M:%S+00"
    return pd.DataFrame(
        {
            "session": schedule.index.strftime("%Y-%m-%d"),
            "market_open": schedule["open"].dt.tz_convert("UTC").dt.strftime(fmt),
            "market_close": schedule["close"].dt.tz_convert("UTC").dt.strftime(fmt),
        }
    )


def write_seed(project_dir: Path, start: date = SEED_START, end: date = SEED_END) -> Path:
    """(Re)write the seed; after changing its range, run ``tradewind features build --full-refresh``."""
    path = project_dir / "seeds" / f"{SEED_NAME}.csv"
    nyse_sessions(start, end).to_csv(path, index=False, lineterminator="\n")
    return path
