"""Airflow Connections for the warehouse and the market-data vendors, with settings as fallback.

Four connection ids, each optional:

``tradewind_warehouse`` (type ``postgres``)
    host, port, login, password; the database in ``schema`` (Airflow's postgres convention).
``alpaca`` (type ``http``)
    login = API key id, password = secret key; extra ``data_url`` / ``trading_url`` (base URLs
    without ``/v2``), optional ``feed`` and ``adjustment``. Without ``data_url``, a ``host``
    (with ``schema`` as the scheme, default https) names the data URL.
``nasdaq_data_link`` (type ``http``)
    password = API key; extra ``api_base`` (e.g. ``http://127.0.0.1:8000/api/v3``), or
    host/port/schema as for Alpaca.

``alpaca_trading`` (type ``http``)
    the trading account, separate from market data: login/password = key id/secret, extra
    ``trading_url``. Without it (and without APCA keys) the DAGs trade the simulated broker.

When a connection is not defined (or Airflow is not installed) the project settings answer
(``DATABASE_URL``, ``APCA_API_KEY_ID``, ``NASDAQ_DATA_LINK_API_KEY``, the embedded server...).
Secrets stay ``SecretStr`` in the returned settings; Airflow masks connection passwords and
extras in task logs as soon as a connection is read. Nothing here logs a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

from tradewind.settings import Settings, get_settings

if TYPE_CHECKING:
    from airflow.sdk import Connection

WAREHOUSE_CONN_ID = "tradewind_warehouse"
ALPACA_CONN_ID = "alpaca"
NDL_CONN_ID = "nasdaq_data_link"
# The paper (or live) trading account: its own keys, never the market-data ones, so a data
# key cannot place orders and rotating one leaves the other working.
ALPACA_TRADING_CONN_ID = "alpaca_trading"


class MissingWarehouseConnection(RuntimeError):
    """A task under Airflow found neither the warehouse Connection nor DATABASE_URL."""


def in_airflow_task() -> bool:
    """True inside a running Airflow task (a task context exists)."""
    try:
        from airflow.sdk import get_current_context
    except ImportError:
        return False
    try:
        get_current_context()
    except Exception:  # no context: not a task (CLI, tests, notebooks)
        return False
    return True


def get_connection(conn_id: str) -> Connection | None:
    """The Airflow connection ``conn_id``, or None when it is not defined anywhere."""
    try:
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        return None
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def _base_url(conn: Connection, extra_key: str) -> str | None:
    extra = conn.extra_dejson
    if extra.get(extra_key):
        return str(extra[extra_key]).rstrip("/")
    if not conn.host:
        return None
    if "://" in conn.host:
        return conn.host.rstrip("/")
    scheme = conn.schema or "https"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}"


def postgres_url(conn: Connection) -> str:
    """libpq URL of a postgres-type connection (database from ``schema``)."""
    if not conn.host:
        raise ValueError(f"connection {conn.conn_id!r} names no host")
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    port = f":{conn.port}" if conn.port else ""
    database = conn.schema or "tradewind"
    url = f"postgresql://{auth}{conn.host}{port}/{database}"
    sslmode = conn.extra_dejson.get("sslmode")
    return f"{url}?sslmode={sslmode}" if sslmode else url


def warehouse_url(conn_id: str = WAREHOUSE_CONN_ID, settings: Settings | None = None) -> str:
    """Warehouse URL: the Airflow connection when defined, else ``tradewind.db.warehouse_url``.

    The embedded server is started on demand by the fallback, as everywhere in the project.
    """
    conn = get_connection(conn_id)
    if conn is not None:
        return postgres_url(conn)
    settings = settings or get_settings()
    if settings.database_url is None and in_airflow_task():
        # A worker starting a private embedded server would load into a warehouse nobody
        # reads (and on Celery each worker would get its own): refuse instead.
        raise MissingWarehouseConnection(
            f"no Airflow connection {conn_id!r} and no DATABASE_URL: define the warehouse "
            f"connection (make airflow and the compose file do) instead of an embedded server"
        )
    from tradewind.db import warehouse_url as settings_warehouse_url

    return settings_warehouse_url(settings)


def resolved_settings(settings: Settings | None = None) -> Settings:
    """Settings with vendor credentials and URLs taken from Airflow connections when defined.

    Only fields a connection actually provides are replaced; the warehouse stays as configured
    (ask :func:`warehouse_url` for it, which also starts the embedded server when needed).
    """
    settings = settings or get_settings()
    update: dict[str, Any] = {}
    alpaca = get_connection(ALPACA_CONN_ID)
    if alpaca is not None:
        extra = alpaca.extra_dejson
        if alpaca.login:
            update["alpaca_api_key_id"] = SecretStr(alpaca.login)
        if alpaca.password:
            update["alpaca_api_secret_key"] = SecretStr(alpaca.password)
        if data_url := _base_url(alpaca, "data_url"):
            update["alpaca_data_url"] = data_url
        if extra.get("trading_url"):
            update["alpaca_trading_url"] = str(extra["trading_url"]).rstrip("/")
        for key in ("feed", "adjustment"):
            if extra.get(key):
                update[f"alpaca_{key}"] = str(extra[key])
    ndl = get_connection(NDL_CONN_ID)
    if ndl is not None:
        if ndl.password:
            update["ndl_api_key"] = SecretStr(ndl.password)
        if api_base := _base_url(ndl, "api_base"):
            update["ndl_api_base"] = api_base
    return settings.model_copy(update=update) if update else settings


def trading_settings(settings: Settings | None = None) -> Settings:
    """Settings with the trading account from the ``alpaca_trading`` connection when defined.

    login = key id, password = secret key, extra ``trading_url`` (or host/schema/port) for a
    non-default endpoint. Without the connection the settings' APCA_* keys answer.
    """
    settings = settings or get_settings()
    conn = get_connection(ALPACA_TRADING_CONN_ID)
    if conn is None:
        return settings
    update: dict[str, Any] = {}
    if conn.login:
        update["alpaca_api_key_id"] = SecretStr(conn.login)
    if conn.password:
        update["alpaca_api_secret_key"] = SecretStr(conn.password)
    if trading_url := _base_url(conn, "trading_url"):
        update["alpaca_trading_url"] = trading_url
    return settings.model_copy(update=update) if update else settings


def trading_broker(settings: Settings) -> str:
    """``alpaca`` when trading keys are configured (connection or settings), else ``sim``."""
    has_keys = settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
    return "alpaca" if has_keys else "sim"


@dataclass(frozen=True)
class WarehouseLocation:
    """Where the warehouse is, without credentials: what Asset URIs and docs may show."""

    host: str
    port: int
    database: str


def warehouse_location(settings: Settings | None = None) -> WarehouseLocation:
    """Host, port and database of the warehouse, known without connecting or starting it.

    Read at DAG-parse time (Asset URIs), so it consults only environment-variable connections
    (no metadata-database access), then the settings.
    """
    settings = settings or get_settings()
    uri: str | None = None
    try:
        from airflow.secrets.environment_variables import EnvironmentVariablesBackend

        uri = EnvironmentVariablesBackend().get_conn_value(WAREHOUSE_CONN_ID)
    except ImportError:
        uri = None
    if uri:
        if uri.lstrip().startswith("{"):
            data = json.loads(uri)
            return WarehouseLocation(
                host=data.get("host") or "localhost",
                port=int(data.get("port") or 5432),
                database=data.get("schema") or settings.pg_database,
            )
        parts = urlsplit(uri)
        return WarehouseLocation(
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            database=parts.path.strip("/") or settings.pg_database,
        )
    if settings.database_url is not None:
        parts = urlsplit(settings.database_url.get_secret_value())
        return WarehouseLocation(
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            database=parts.path.strip("/") or settings.pg_database,
        )
    return WarehouseLocation(host="127.0.0.1", port=settings.pg_port, database=settings.pg_database)


def airflow_conn_env(
    warehouse: str,
    *,
    alpaca_key_id: str | None = None,
    alpaca_secret_key: str | None = None,
    alpaca_data_url: str | None = None,
    alpaca_trading_url: str | None = None,
    ndl_api_key: str | None = None,
    ndl_api_base: str | None = None,
    trading_key_id: str | None = None,
    trading_secret_key: str | None = None,
    trading_url: str | None = None,
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` environment variables (JSON form) for the three connections.

    ``warehouse`` is a postgresql:// URL. Vendor connections are emitted only when some value
    is given. Used by the standalone launcher and the tests; the compose file writes the same.
    """
    parts = urlsplit(warehouse)
    env = {
        "AIRFLOW_CONN_TRADEWIND_WAREHOUSE": json.dumps(
            {
                "conn_type": "postgres",
                "host": parts.hostname,
                "port": parts.port or 5432,
                "login": unquote(parts.username) if parts.username else None,
                "password": unquote(parts.password) if parts.password else None,
                "schema": parts.path.strip("/"),
            }
        )
    }
    alpaca_extra = {
        k: v for k, v in (("data_url", alpaca_data_url), ("trading_url", alpaca_trading_url)) if v
    }
    if alpaca_key_id or alpaca_secret_key or alpaca_extra:
        env["AIRFLOW_CONN_ALPACA"] = json.dumps(
            {
                "conn_type": "http",
                "login": alpaca_key_id,
                "password": alpaca_secret_key,
                "extra": alpaca_extra,
            }
        )
    if ndl_api_key or ndl_api_base:
        env["AIRFLOW_CONN_NASDAQ_DATA_LINK"] = json.dumps(
            {
                "conn_type": "http",
                "password": ndl_api_key,
                "extra": {"api_base": ndl_api_base} if ndl_api_base else {},
            }
        )
    if trading_key_id or trading_secret_key or trading_url:
        env["AIRFLOW_CONN_ALPACA_TRADING"] = json.dumps(
            {
                "conn_type": "http",
                "login": trading_key_id,
                "password": trading_secret_key,
                "extra": {"trading_url": trading_url} if trading_url else {},
            }
        )
    return env
