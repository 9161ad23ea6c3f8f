"""
### build_features

The dbt project (`dbt/`: sources → staging → intermediate → feature marts) rendered as Airflow
tasks by astronomer-cosmos: one task group per model with its `run` and its data tests, seeds
as tasks, all in dbt's dependency order, so a failing model or test is one red square.

* **Scheduled by assets**: runs when `raw.bars_daily` or `raw.bars_minute` is updated (by
  `ingest_daily_bars` / `ingest_minute_bars`), one run at a time.
* **Outputs**: `features.daily_features` and `features.forward_returns`, announced by the
  last task, `publish_features`, once every model and every data test has passed (cosmos's own
  per-model events are off: they fired when a model's `run` ended, before its tests, so
  `generate_signals` could start on features a test was about to reject).
* **Profile**: `dbt/profiles.yml`, the one analysts use; its `TRADEWIND_DBT_*` variables are
  filled when each task runs, from the `tradewind_warehouse` connection (else the settings).
* Models are tables or incremental models keyed on (symbol, session): re-running rewrites the
  same rows, so a cleared task or a re-run leaves the warehouse as it was.

The graph is rendered from `dbt/target/manifest.json` (`make airflow` runs `dbt parse`);
without it cosmos falls back to `dbt ls`.
"""

from __future__ import annotations

from airflow.sdk import task
from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SourceRenderingBehavior,
    TestBehavior,
)

from tradewind.orchestration import assets
from tradewind.orchestration.dbt_support import (
    PROFILE_NAME,
    TARGET_NAME,
    manifest_path,
    project_dir,
    warehouse_env_interceptor,
)
from tradewind.orchestration.defaults import START_DATE, default_args

manifest = manifest_path()

build_features = DbtDag(
    dag_id="build_features",
    schedule=assets.bars_daily() | assets.bars_minute(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=2),
    tags=["tradewind", "features", "dbt"],
    doc_md=__doc__,
    project_config=ProjectConfig(
        dbt_project_path=project_dir(),
        manifest_path=manifest if manifest.exists() else None,
        project_name="tradewind",
    ),
    profile_config=ProfileConfig(
        profile_name=PROFILE_NAME,
        target_name=TARGET_NAME,
        profiles_yml_filepath=project_dir() / "profiles.yml",
    ),
    execution_config=ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        # dbt in the task's own process: no second interpreter start per node.
        invocation_mode=InvocationMode.DBT_RUNNER,
    ),
    render_config=RenderConfig(
        load_method=LoadMode.AUTOMATIC,
        test_behavior=TestBehavior.AFTER_EACH,
        # Singular tests reading several models run once all of them are built.
        should_detach_multiple_parents_tests=True,
        # Sources with data tests (uniqueness of raw bars) get a task of their own.
        source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
        enable_mock_profile=True,
        emit_datasets=False,
    ),
    operator_args={
        "install_deps": False,
        "interceptors": [warehouse_env_interceptor],
    },
)

with build_features:

    @task(outlets=[assets.daily_features(), assets.forward_returns()])
    def publish_features() -> None:
        """Nothing to compute: its success is the features' asset event (all upstream passed)."""

    # Downstream of every leaf: all models, seeds and data tests have succeeded when it runs.
    build_features.leaves >> publish_features()
