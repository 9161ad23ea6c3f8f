"""
### ingest_minute_bars

One-minute bars of one NYSE session T (the run's data interval: regular hours, 09:30 to the
close, 13:00 on half days) into `raw.bars_minute`.

`choose_source` → `extract_<source>` → **`validate`** (the data-quality gate) → `load`

* **Source**: the run's `source` param, else the Airflow Variable
  `tradewind_minute_bars_source`, else `alpaca` (pool `alpaca_api`). `csv` reads the drop
  folder (`csv_folder` param, else Variable `tradewind_csv_drop_folder` + `/minute`, else
  `<TRADEWIND_HOME>/drop/minute`).
* **Symbols**: the members of `universe` on T plus `symbols`.
* **validate**: the quality gate as of the close (a bar is complete one minute after its open);
  refused rows go to `ops.quarantine`.
* **load**: one-transaction upsert; updates the `raw.bars_minute` asset, which schedules
  `build_features` (minute rollups).

Idempotent: keyed on the session, never on the clock; loads are upserts.
"""

from __future__ import annotations

from tradewind.orchestration import assets
from tradewind.orchestration.bars_dag import bars_dag
from tradewind.orchestration.defaults import ALPACA_POOL

bars_dag(
    dag_id="ingest_minute_bars",
    timeframe="1Min",
    sources={"alpaca": ALPACA_POOL, "csv": "default_pool"},
    source_variable="tradewind_minute_bars_source",
    asset=assets.bars_minute(),
    doc_md=__doc__,
    tags=["tradewind", "ingestion", "bars", "minute"],
)
