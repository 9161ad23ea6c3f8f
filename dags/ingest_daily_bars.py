"""
### ingest_daily_bars

Daily OHLCV bars of one NYSE session T (the run's data interval) into `raw.bars_daily`.

`choose_source` → `extract_<source>` → **`validate`** (the data-quality gate) → `load`

* **Source**: the run's `source` param, else the Airflow Variable
  `tradewind_daily_bars_source`, else `alpaca`. `quandl` reads Nasdaq Data Link (WIKI);
  `csv` reads the drop folder (`csv_folder` param, else Variable `tradewind_csv_drop_folder`
  + `/daily`, else `<TRADEWIND_HOME>/drop/daily`). Each vendor has a pool capping concurrent
  calls (`alpaca_api`, `nasdaq_data_link_api`).
* **Symbols**: the members of `universe` on T plus `symbols`.
* **validate** runs the quality gate as of the session close: bad rows go to
  `ops.quarantine`, findings to `ops.data_warnings`; a broken batch (or any quarantined row
  with `strict`) fails the task and loads nothing.
* **load** upserts in one transaction, logs the run in `ops.ingest_runs`, advances
  `ops.ingest_watermarks` and updates the `raw.bars_daily` asset, which schedules
  `build_features`.

Idempotent: every step is keyed on the session, never on the clock, and the load is an upsert,
so clearing any task or backfilling a range again leaves the warehouse as it was.
Connections: `tradewind_warehouse`, `alpaca`, `nasdaq_data_link` (else the project settings).
"""

from __future__ import annotations

from tradewind.orchestration import assets
from tradewind.orchestration.bars_dag import bars_dag
from tradewind.orchestration.defaults import ALPACA_POOL, NDL_POOL

bars_dag(
    dag_id="ingest_daily_bars",
    timeframe="1Day",
    sources={"alpaca": ALPACA_POOL, "quandl": NDL_POOL, "csv": "default_pool"},
    source_variable="tradewind_daily_bars_source",
    asset=assets.bars_daily(),
    doc_md=__doc__,
    tags=["tradewind", "ingestion", "bars", "daily"],
)
