"""Constants and helpers of the signal tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

SYMBOLS = ["AAPL", "AXP", "BA", "CAT", "CSCO", "CVX"]  # DOW30 members through 2017-2019
BARS_START, BARS_END = dt.date(2017, 6, 1), dt.date(2019, 6, 28)
MODEL = "tiny"
# The tiny agent's windows inside the synthetic history (validation picks the checkpoint).
WINDOWS = {
    "train": {"start": "2017-10-02", "end": "2018-06-29"},
    "validation": {"start": "2018-07-02", "end": "2018-12-31"},
    "test": {"start": "2019-01-02", "end": "2019-06-14"},
}


def build_features(url: str, target: Path) -> None:
    """dbt builds the seed and the models behind the two marts (their data tests are the
    feature tests' business). Its own dbt target folder: other test runs may be using the
    project's at the same time."""
    from tradewind.features import run_dbt

    run_dbt(
        ["build", "--select", "+daily_features", "+forward_returns",
         "--resource-type", "model", "--resource-type", "seed"],
        url=url, target_path=target,
    )  # fmt: skip
