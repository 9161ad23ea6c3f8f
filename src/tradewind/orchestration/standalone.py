"""``make airflow``: Airflow standalone (scheduler, API server + UI, DAG processor, triggerer) with
the project's DAGs and plugin, against the project's warehouse.

    python -m tradewind.orchestration.standalone [--port 8080] [--no-emulator] [--prepare-only]

1. Starts the embedded PostgreSQL when ``DATABASE_URL`` is unset, applies the warehouse
   migrations, and creates a database ``airflow`` on the same server for Airflow's own metadata.
2. Without Alpaca keys (settings or ``AIRFLOW_CONN_ALPACA``), serves emulated market data
   (``tradewind.emulator``, DOW30 symbols, generated prices) on a loopback port and points the
   ``alpaca`` and ``nasdaq_data_link`` connections at it, so the walkthrough needs no account.
3. Sets up ``AIRFLOW_HOME=<TRADEWIND_HOME>/airflow``: metadata migration, the vendor pools, a
   login (user ``admin``, password generated once and kept in ``passwords.json``), ``dbt parse``
   for the build_features graph.
4. Prints the URL and login, then runs ``airflow standalone`` until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tradewind.settings import PROJECT_ROOT, Settings, get_settings

EMULATOR_START = dt.date(2024, 1, 2)
QUIET_LOGGERS = "great_expectations=WARNING cosmos=WARNING sqlalchemy=WARNING alembic=WARNING"


@dataclass
class Prepared:
    env: dict[str, str]
    url: str
    username: str
    password: str
    airflow_home: Path
    children: list[subprocess.Popen] = field(default_factory=list)


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database(url: str, database: str, scheme: str = "postgresql") -> str:
    parts = urlsplit(url)
    return parts._replace(scheme=scheme, path="/" + database).geturl()


def ensure_metadata_database(warehouse: str, name: str = "airflow") -> str:
    """Create database ``name`` on the warehouse's server if missing; its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(_with_database(warehouse, "postgres"), autocommit=True) as c:
        if not c.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            c.execute(f'create database "{name}"')
    return _with_database(warehouse, name, scheme="postgresql+psycopg2")


def _start_emulator(settings: Settings, log_dir: Path) -> tuple[subprocess.Popen, str]:
    from tradewind.calendar import last_closed_session
    from tradewind.universes import members

    port = _free_port(8765)
    end = last_closed_session(dt.datetime.now(dt.UTC))
    args = {
        "--port": str(port),
        "--symbols": ",".join(members("DOW30")),
        "--start": EMULATOR_START.isoformat(),
        "--end": end.isoformat(),
        "--minute-sessions": "5",
    }
    log = open(log_dir / "emulator.log", "ab")  # lives as long as the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewind.emulator", *[x for kv in args.items() for x in kv]],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, base
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"market emulator did not start; see {log_dir / 'emulator.log'}")
        time.sleep(0.5)


def _login(airflow_home: Path) -> tuple[str, str, Path]:
    path = airflow_home / "passwords.json"
    if path.exists():
        users = json.loads(path.read_text())
    else:
        users = {"admin": secrets.token_urlsafe(12)}
        path.write_text(json.dumps(users))
        path.chmod(0o600)
    return "admin", users["admin"], path


def prepare(
    settings: Settings | None = None, *, port: int = 8080, emulator: bool | None = None
) -> Prepared:
    from tradewind.db import warehouse_url
    from tradewind.db.migrate import migrate
    from tradewind.orchestration.connections import airflow_conn_env

    settings = settings or get_settings()
    airflow_home = settings.home / "airflow"
    (airflow_home / "logs").mkdir(parents=True, exist_ok=True)

    warehouse = warehouse_url(settings)
    migrate(warehouse, settings.sql_dir, settings.use_timescale)
    metadata = ensure_metadata_database(warehouse)
    username, password, password_file = _login(airflow_home)

    children: list[subprocess.Popen] = []
    vendor: dict[str, str] = {}
    if emulator is None:
        emulator = settings.alpaca_api_key_id is None and "AIRFLOW_CONN_ALPACA" not in os.environ
    if emulator:
        proc, base = _start_emulator(settings, airflow_home / "logs")
        children.append(proc)
        # The emulator accepts any key; these are not secrets.
        vendor = {
            "alpaca_key_id": "emulator",
            "alpaca_secret_key": "emulator",
            "alpaca_data_url": base,
            "alpaca_trading_url": base,
            "ndl_api_key": "emulator",
            "ndl_api_base": base + "/api/v3",
        }

    env = dict(os.environ)
    env.update(airflow_conn_env(warehouse, **vendor))
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Two cores on a laptop-sized machine: a few tasks at a time.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            # Task processes report to the API server: it is on our port, not the default 8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": QUIET_LOGGERS,
            "TRADEWIND_HOME": str(settings.home),
            # `airflow standalone` starts its components as `airflow ...` from PATH.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    subprocess.run([_airflow_bin(), "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from tradewind.orchestration.admin import ensure_pools; ensure_pools()",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    from tradewind.orchestration.dbt_support import parse_project

    parse_project()
    return Prepared(env, f"http://127.0.0.1:{port}", username, password, airflow_home, children)


def _stop(children: list[subprocess.Popen]) -> None:
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
    for proc in children:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _start_standalone(env: dict[str, str]) -> subprocess.Popen:
    """``airflow standalone`` in a process group of its own (it and its components), with the
    default SIGINT handling even when we were started in the background (where SIGINT is
    ignored and the child would inherit that)."""
    return subprocess.Popen(
        [_airflow_bin(), "standalone"],
        env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _stop_standalone(proc: subprocess.Popen, grace: float = 60) -> None:
    """Ctrl-C to ``airflow standalone`` (it stops its components), then the whole group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make airflow", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8080, help="UI/API port on 127.0.0.1")
    p.add_argument(
        "--emulator",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve emulated market data (default: when no Alpaca keys are configured)",
    )
    p.add_argument(
        "--prepare-only", action="store_true", help="set everything up, print the env, exit"
    )
    args = p.parse_args(argv)

    if args.prepare_only:
        # stdout is for the exports alone (eval "$(... --prepare-only)"); dbt talks to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            prepared = prepare(port=args.port, emulator=False)
        _stop(prepared.children)
        for key in sorted(prepared.env):
            if key.startswith("AIRFLOW") and not key.startswith("AIRFLOW_CONN_"):
                print(f"export {key}={shlex.quote(prepared.env[key])}")
        return 0
    prepared = prepare(port=args.port, emulator=args.emulator)
    banner = (
        f"\n  Airflow UI: {prepared.url}\n  login: {prepared.username} / {prepared.password}\n"
        f"  AIRFLOW_HOME: {prepared.airflow_home}\n"
        + ("  market data: emulated (no Alpaca keys configured)\n" if prepared.children else "")
    )
    print(banner, flush=True)
    standalone = _start_standalone(prepared.env)

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    code = 0
    try:
        code = standalone.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop_standalone(standalone)
        _stop(prepared.children)
        print(banner.replace("Airflow UI", "Airflow stopped; UI was"), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
