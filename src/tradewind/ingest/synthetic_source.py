"""Synthetic markets as a source: :func:`tradewind.markets.synthetic.generate_bars` as bars.

The default market is the DOW30-like demo (30 Dow-2020 tickers, regimes, jumps; seed 0). Asking
for a subset of its tickers returns exactly those tickers' bars of the full market, so a
symbol's path does not depend on which other symbols were requested. Other symbols get a
generic market built for them (``SyntheticMarketConfig(symbols=...)``). The path is seeded and
starts at ``start``: the same (seed, model, start, end) always gives the same bars.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from tradewind.ingest.batch import Batch, BatchMeta
from tradewind.ingest.errors import IngestError
from tradewind.ingest.progress import NullProgress, ProgressSink
from tradewind.ingest.timeframes import parse_timeframe


def extract_synthetic(
    symbols: list[str] | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    timeframe: str = "1Day",
    *,
    model: str = "regime",
    seed: int = 0,
    progress: ProgressSink | None = None,
    source_name: str = "synthetic",
) -> Batch:
    from tradewind.markets import synthetic

    tf = parse_timeframe(timeframe)
    if not tf.daily:
        raise IngestError("synthetic markets are daily only: use --timeframe 1Day")
    start = pd.Timestamp(start or synthetic.DEMO_START).date()
    end = pd.Timestamp(end or synthetic.DEMO_END).date()
    if end < start:
        raise IngestError(f"end {end} is before start {start}")
    progress = progress or NullProgress()
    task = progress.task(f"synthetic {model} market", total=1)
    dow = set(synthetic.DOW30_2020)
    wanted = [s.upper() for s in symbols] if symbols else None
    if wanted is None or set(wanted) <= dow:
        config = synthetic.dow30_like_config(model=model, seed=seed)
    else:
        config = synthetic.SyntheticMarketConfig(model=model, symbols=tuple(wanted), seed=seed)
    frame = synthetic.generate_bars(config, start, end)
    if wanted is not None:
        frame = frame[frame["symbol"].isin(wanted)]
    progress.advance(task)
    frame = frame.assign(session=pd.to_datetime(frame["session"]))
    meta = BatchMeta(
        source=source_name,
        timeframe=tf.label,
        adjustment="raw",
        symbols=wanted,
        start=start.isoformat(),
        end=end.isoformat(),
        params={"model": model, "seed": seed},
    )
    return Batch(frame=frame.reset_index(drop=True), meta=meta)
