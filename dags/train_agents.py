"""
### train_agents

Retrain an agent, evaluate it against the baselines and let the gate decide whether the new
version goes to production.

`prepare_data` → `train` (one mapped task per seed) → `evaluate_and_gate` (mapped) →
`announce_promotion`

* **Schedule**: `TRADEWIND_TRAIN_SCHEDULE`: the first NYSE session of each month (default, 2 h
  after its close), a cron string, or `none`; or triggered with params `agent` (a name in
  `rl/agents/` or a path), `seeds`, `timesteps`, `overrides` (dotted keys of the agent config).
* **prepare_data** checks the agent and loads its features from the warehouse once, so a
  missing mart fails here, not in every seed.
* **train** runs `tradewind train` for one seed in pool `ray_training` (one slot: a run uses
  every core Ray is given; the Ray head of the compose stack when `TRADEWIND_RAY_ADDRESS` is
  set). Its run id is derived from the DAG run and the seed: a cleared task finds its succeeded
  run (nothing retrained) or resumes an interrupted one from its checkpoint.
* **evaluate_and_gate** registers the candidate version, evaluates it and the baselines on the
  validation and test windows and runs the gate, once per version (`tradewind.registry`).
* **announce_promotion** updates the `ml.model_versions` asset (which schedules
  `generate_signals`) only when a version was promoted; otherwise it is skipped.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from tradewind.orchestration import assets
from tradewind.orchestration.defaults import RAY_POOL, START_DATE, default_args
from tradewind.orchestration.model_layer import train_schedule

REGISTRY = assets.model_versions()


@dag(
    dag_id="train_agents",
    schedule=train_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    # Training is long and failing runs are resumed, not restarted: fewer, later retries.
    default_args=default_args(
        retries=2, retry_delay=dt.timedelta(minutes=5), execution_timeout=dt.timedelta(hours=12)
    ),  # fmt: skip
    tags=["tradewind", "training", "model"],
    doc_md=__doc__,
    params={
        "agent": Param(
            None,
            type=["null", "string"],
            title="Agent",
            description="Empty: TRADEWIND_TRAIN_AGENT (default demo).",
        ),
        "seeds": Param(
            [],
            type="array",
            items={"type": "integer"},
            title="Seeds",
            description="One training per seed; empty: the agent's seed.",
        ),
        "timesteps": Param(None, type=["null", "integer"], title="Budget (timesteps)"),
        "overrides": Param({}, type="object", title="Agent overrides (dotted keys)"),
    },  # fmt: skip
)
def train_agents():
    @task
    def prepare_data(params=None, dag_run=None) -> list[dict]:
        from tradewind.orchestration import model_layer

        return model_layer.prepare_training(
            dag_id=dag_run.dag_id, dag_run_id=dag_run.run_id, agent=params["agent"],
            seeds=params["seeds"], timesteps=params["timesteps"], overrides=params["overrides"],
        )  # fmt: skip

    @task(pool=RAY_POOL)
    def train(spec: dict) -> dict:
        from tradewind.orchestration import model_layer

        return model_layer.train_one(spec)

    @task
    def evaluate_and_gate(trained: dict) -> dict:
        from tradewind.orchestration import model_layer

        return model_layer.evaluate_and_gate(trained)

    @task(outlets=[REGISTRY])
    def announce_promotion(decisions: list[dict], outlet_events=None) -> dict:
        from tradewind.orchestration import model_layer

        out = model_layer.promotions(list(decisions))
        outlet_events[REGISTRY].extra = out
        return out

    trained = train.expand(spec=prepare_data())
    announce_promotion(evaluate_and_gate.expand(trained=trained))


train_agents()
