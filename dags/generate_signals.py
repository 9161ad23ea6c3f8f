"""
### generate_signals

Target weights of one NYSE session T for every production model and enabled ensemble (or the
run's `model`), written to `signals.target_weights` and published as Quantopian-style weight
files (`$TRADEWIND_WEIGHTS_DIR/<model>/`, a folder or an object-store URL).

* **Scheduled by assets**: runs when `build_features` updates `features.daily_features`, or
  when `train_agents` promotes a version (`ml.model_versions`); also on the NYSE timetable
  (3 h after the close) as a safety net, which is also what backfills enumerate.
* **Session**: the run's data interval (schedule, backfill, manual trigger), else the session
  the triggering events name, else the newest session of `features.daily_features`.
* **Outputs**: updates the `signals.target_weights` asset with `{"session": T}` in its extra,
  which schedules `rebalance_paper_account`. No production model is a skip (no event).
* Idempotent: weights are upserts and files are rewritten only when their bytes change, so a
  cleared task or a backfill run twice leaves rows and files identical.
* **One session at a time, oldest first** (the one-slot `signals` pool): a session's weights
  are the next session's "previous weights", so a backfill with many active runs still
  computes the sessions in order.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule

from tradewind.orchestration import assets
from tradewind.orchestration.defaults import SIGNALS_POOL, START_DATE, default_args
from tradewind.orchestration.timetable import NYSESessionTimetable

SIGNALS = assets.target_weights()


@dag(
    dag_id="generate_signals",
    schedule=AssetOrTimeSchedule(
        timetable=NYSESessionTimetable(after_close=dt.timedelta(hours=3)),
        assets=assets.daily_features() | assets.model_versions(),
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["tradewind", "signals", "model"],
    doc_md=__doc__,
    params={
        "model": Param(
            None,
            type=["null", "string"],
            title="Model",
            description="NAME, NAME@V or an ensemble; empty: every production model.",
        ),  # fmt: skip
    },
)
def generate_signals():
    @task(outlets=[SIGNALS], pool=SIGNALS_POOL)
    def generate(
        params=None, data_interval_end=None, triggering_asset_events=None, outlet_events=None
    ) -> dict:
        from tradewind.orchestration import model_layer

        session = model_layer.run_session(data_interval_end, triggering_asset_events)
        out = model_layer.generate_signals(session, model=params["model"])
        outlet_events[SIGNALS].extra = {"session": out["session"], "models": out["models"]}
        return out

    generate()


generate_signals()
