"""``make airflow``: Airflow on a laptop (scheduler, API server + UI, DAG processor, triggerer,
the two log servers) with the project's DAGs and plugin, against the project's warehouse.

    python -m tradewind.orchestration.standalone [--port 8080] [--no-emulator] [--prepare-only]
                                                 [--stop-timeout 30]

1. Starts the embedded PostgreSQL when ``DATABASE_URL`` is unset, applies the warehouse
   migrations, and creates a database ``airflow`` on the same server for Airflow's own metadata.
2. Without Alpaca keys (settings or ``AIRFLOW_CONN_ALPACA``), serves emulated market data
   (``tradewind.emulator``, DOW30 symbols, generated prices) on a loopback port and points the
   ``alpaca`` and ``nasdaq_data_link`` connections at it, so the walkthrough needs no account.
3. Sets up ``AIRFLOW_HOME=<TRADEWIND_HOME>/airflow``: metadata migration, the vendor pools, a
   login (user ``admin``, password generated once and kept in ``passwords.json``), ``dbt parse``
   for the build_features graph (skipped when nothing it reads changed since the last start).
4. Starts the components, prints the URL and login once the API answers, and runs until
   Ctrl-C, SIGTERM or SIGHUP; then stops everything it started within ``--stop-timeout``
   seconds (plus a few for SIGKILL) and says so.

Why not ``airflow standalone``: in Airflow 3.3 the worker and trigger log servers bind every
interface (``airflow.utils.serve_logs.core`` passes ``host=""`` to uvicorn and there is no
setting for it), and ``standalone`` cannot pass ``--skip-serve-logs`` to its scheduler and
triggerer. So this launcher runs the same four ``airflow`` commands itself, with
``--skip-serve-logs``, and serves Airflow's own log-server app on 127.0.0.1. It also owns the
process tree: every component runs in a session of its own (the terminal's Ctrl-C reaches only
the launcher, which then stops them in order) and gets SIGTERM from the kernel if the launcher
itself dies (``PR_SET_PDEATHSIG``); whatever is left in those sessions after the grace period is
killed. A run file (``<AIRFLOW_HOME>/launcher.json``) refuses a second concurrent launcher for
the same home and lets the next start clean up after a launcher that was SIGKILLed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
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
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tradewind.db.embedded import port_in_use
from tradewind.settings import PROJECT_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from tradewind.db.embedded import EmbeddedPostgres

EMULATOR_START = dt.date(2024, 1, 2)
QUIET_LOGGERS = "great_expectations=WARNING cosmos=WARNING sqlalchemy=WARNING alembic=WARNING"
LOOPBACK = "127.0.0.1"
# Airflow's defaults; taken when free, else any free loopback port.
WORKER_LOG_PORT, TRIGGER_LOG_PORT = 8793, 8794
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
# Marks every process of one run (the run id), so leftovers are recognised, never guessed.
RUN_MARKER = "TRADEWIND_AIRFLOW_RUN"
RUN_FILE = "launcher.json"
# Spelled out: run as `python -m`, __name__ is "__main__", which children cannot import.
MODULE = "tradewind.orchestration.standalone"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


class LauncherError(RuntimeError):
    """A problem the user can fix; printed as one line."""


class Stop(BaseException):
    """Raised by the signal handler: a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def loopback_hostname() -> str:
    """``[core] hostname_callable`` of the run: task instances record 127.0.0.1 as their host,
    so the API server fetches a running task's log from the loopback log server."""
    return LOOPBACK


# --- ports and the environment ----------------------------------------------------------------


def _free_port(preferred: int) -> int:
    if not port_in_use(preferred):
        return preferred
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
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


def _login(airflow_home: Path) -> tuple[str, str, Path]:
    path = airflow_home / "passwords.json"
    if path.exists():
        users = json.loads(path.read_text())
    else:
        users = {"admin": secrets.token_urlsafe(12)}
        path.write_text(json.dumps(users))
        path.chmod(0o600)
    return "admin", users["admin"], path


# --- child processes ---------------------------------------------------------------------------


def _child_setup(parent: int) -> Callable[[], None]:
    """Runs in each child between fork and exec: default SIGINT/SIGHUP (a launcher started in
    the background has them ignored, which children would inherit), and SIGTERM when the
    launcher dies, even by SIGKILL (Linux; elsewhere the run file cleans up at the next start)."""

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
            if os.getppid() != parent:  # the launcher died before prctl took effect
                os._exit(1)

    return setup


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)


def _spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Component:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        log.write(f"\n--- {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC start\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup(os.getpid()),
        )
    return Component(name, proc, log_path)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def run_processes(sessions: Iterable[int], marker: str | None = None) -> list:
    """Live processes in the given sessions (each component is a session leader; task
    processes change their process group but stay in the session), plus any process carrying
    ``RUN_MARKER=marker`` that left them. Zombies are skipped: they hold no resources."""
    import psutil

    sessions = set(sessions)
    found = []
    for p in psutil.process_iter(["pid", "status"]):
        if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        mine = _session_of(p.pid) in sessions
        if not mine and marker is not None:
            with contextlib.suppress(psutil.Error):
                mine = p.environ().get(RUN_MARKER) == marker
        if mine:
            found.append(p)
    return found


def _signal_all(procs: Iterable, sig: signal.Signals) -> None:
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "killed"
    if code < 0:  # ended by the signal it was sent (uvicorn re-raises SIGTERM after shutdown)
        return signal.Signals(-code).name
    return "exit 0" if code == 0 else f"exit {code}"


@dataclass
class StopReport:
    exited: dict[str, int | None]  # component -> exit code (None: had to be killed)
    took: dict[str, float]  # component -> seconds from SIGTERM to exit, within the grace
    terminated: int  # other processes of the run alive after the grace, sent SIGTERM
    killed: int  # processes SIGKILLed
    seconds: float

    def lines(self) -> list[str]:
        codes = ", ".join(
            f"{n} {_exit_text(c)}" + (f" ({self.took[n]:.1f} s)" if n in self.took else "")
            for n, c in self.exited.items()
        )
        out = [f"  stopped in {self.seconds:.1f} s: {codes}"]
        extra = [f"{self.terminated} sent SIGTERM"] * bool(self.terminated)
        extra += [f"{self.killed} SIGKILLed"] * bool(self.killed)
        if extra:
            out.append(f"  after the grace period: {', '.join(extra)}")
        return out


class Supervisor:
    """The components of one run and how they stop: SIGTERM to every component at once, up to
    ``grace`` seconds for them to exit (they stop their own workers), then SIGTERM to whatever
    is still in their sessions, a few seconds more, then SIGKILL. A second stop signal while
    stopping skips straight to SIGKILL."""

    def __init__(self, marker: str, grace: float):
        self.marker = marker
        self.grace = grace
        self.components: list[Component] = []
        self.stopping = False
        self.hurry = False
        # The embedded warehouse when this run started it (so the run stops it), else None.
        self.warehouse: EmbeddedPostgres | None = None

    @property
    def sessions(self) -> list[int]:
        return [c.proc.pid for c in self.components]

    def add(self, component: Component) -> Component:
        self.components.append(component)
        return component

    def crashed(self) -> Component | None:
        return next((c for c in self.components if c.proc.poll() is not None), None)

    def _wait(self, until: float, done: Callable[[], bool]) -> None:
        while not done() and time.monotonic() < until and not self.hurry:
            time.sleep(0.2)

    def stop(self) -> StopReport:
        import psutil

        t0 = time.monotonic()
        for c in self.components:
            if c.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGTERM)
        took: dict[str, float] = {}

        def all_exited() -> bool:
            for c in self.components:
                if c.name not in took and c.proc.poll() is not None:
                    took[c.name] = time.monotonic() - t0
            return len(took) == len(self.components)

        self._wait(t0 + self.grace, all_exited)
        left = run_processes(self.sessions, self.marker)
        leaders = {c.proc.pid for c in self.components}
        stragglers = [p for p in left if p.pid not in leaders]
        _signal_all(stragglers, signal.SIGTERM)
        if stragglers:
            self._wait(time.monotonic() + 5, lambda: not run_processes(self.sessions, self.marker))
        left = run_processes(self.sessions, self.marker)
        _signal_all(left, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            # Not the components: psutil would reap them and Popen would then read exit 0.
            psutil.wait_procs([p for p in left if p.pid not in leaders], timeout=5)
        exited: dict[str, int | None] = {}
        for c in self.components:
            try:
                code = c.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            exited[c.name] = None if code == -signal.SIGKILL else code
        return StopReport(exited, took, len(stragglers), len(left), time.monotonic() - t0)


# --- the run file ------------------------------------------------------------------------------


def _same_process(pid: int, started: float):
    """The process ``pid`` if it is the one that started at ``started`` (pids get reused)."""
    import psutil

    try:
        p = psutil.Process(pid)
        return p if abs(p.create_time() - started) < 0.05 else None
    except psutil.Error:
        return None


def _of_run(p, marker: str, started: float) -> bool:
    """A leftover of the run: started after its launcher, and carrying its marker or, for
    processes whose environment setproctitle has overwritten, an Airflow/tradewind command."""
    import psutil

    try:
        if p.create_time() < started:
            return False
        with contextlib.suppress(psutil.Error):
            if p.environ().get(RUN_MARKER) == marker:
                return True
        return any(word in " ".join(p.cmdline()) for word in ("airflow", "tradewind"))
    except psutil.Error:
        return False


def claim_run(airflow_home: Path, marker: str) -> tuple[str | None, bool]:
    """Take the home for this launcher: refuse if another live launcher holds it; kill what a
    dead one left behind. Returns a line to print about that cleanup (or None), and whether
    the dead launcher had started the embedded warehouse (stopping it is then ours to do)."""
    path = airflow_home / RUN_FILE
    note, warehouse = None, False
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        old = json.loads(path.read_text())
        if old["pid"] != os.getpid() and _same_process(old["pid"], old["started"]):
            raise LauncherError(
                f"make airflow is already running for {airflow_home} (launcher pid {old['pid']}, "
                f"UI on port {old.get('port')}); stop it first"
            )
        left = [
            p
            for p in run_processes(old.get("sessions", []), old["marker"])
            if _of_run(p, old["marker"], old["started"])
        ]
        if left:
            _signal_all(left, signal.SIGKILL)
            note = f"  cleaned up {len(left)} process(es) left by an earlier run"
        warehouse = bool(old.get("warehouse"))
    write_run(airflow_home, marker, [], port=None, warehouse=warehouse)
    return note, warehouse


def write_run(
    airflow_home: Path, marker: str, sessions: list[int], port: int | None, warehouse: bool
) -> None:
    import psutil

    record = {
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),  # with the pid: this process, no other
        "marker": marker,
        "sessions": sessions,
        "port": port,
        "warehouse": warehouse,  # this launcher started the embedded server and will stop it
    }
    (airflow_home / RUN_FILE).write_text(json.dumps(record))


def release_run(airflow_home: Path) -> None:
    with contextlib.suppress(OSError):
        (airflow_home / RUN_FILE).unlink()


# --- preparing a run ---------------------------------------------------------------------------


@dataclass
class Prepared:
    env: dict[str, str]
    url: str
    username: str
    password: str
    airflow_home: Path
    log_dir: Path
    emulated: bool = False


def _emulator_argv(port: int) -> list[str]:
    from tradewind.calendar import last_closed_session
    from tradewind.universes import members

    end = last_closed_session(dt.datetime.now(dt.UTC))
    args = {
        "--host": LOOPBACK,
        "--port": str(port),
        "--symbols": ",".join(members("DOW30")),
        "--start": EMULATOR_START.isoformat(),
        "--end": end.isoformat(),
        "--minute-sessions": "5",
    }
    return [sys.executable, "-m", "tradewind.emulator", *[x for kv in args.items() for x in kv]]


def _wait_port(component: Component, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not port_in_use(port):
        if component.proc.poll() is not None or time.monotonic() > deadline:
            raise LauncherError(f"{component.name} did not start; see {component.log}")
        time.sleep(0.3)


def _warehouse(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The warehouse URL, and the embedded server if it was not running before (we stop it)."""
    from tradewind.db import warehouse_url

    if settings.database_url is not None:
        return warehouse_url(settings), None
    from tradewind.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings)
    was_running = server.status().running
    url = warehouse_url(settings)
    return url, (None if was_running else server)


def prepare(
    settings: Settings | None = None,
    *,
    port: int = 8080,
    emulator: bool | None = None,
    supervisor: Supervisor | None = None,
) -> Prepared:
    """Everything up to starting Airflow. The emulator, when used, is started under
    ``supervisor`` (so it is stopped with the rest, also when a later step fails)."""
    from tradewind.db.migrate import migrate
    from tradewind.orchestration.connections import airflow_conn_env

    settings = settings or get_settings()
    airflow_home = settings.home / "airflow"
    (airflow_home / "logs").mkdir(parents=True, exist_ok=True)
    log_dir = settings.home / "logs" / "airflow"
    log_dir.mkdir(parents=True, exist_ok=True)

    warehouse, started = _warehouse(settings)
    if supervisor is not None:
        supervisor.warehouse = started
    migrate(warehouse, settings.sql_dir, settings.use_timescale)
    metadata = ensure_metadata_database(warehouse)
    username, password, password_file = _login(airflow_home)

    env = dict(os.environ)
    vendor: dict[str, str] = {}
    if emulator is None:
        emulator = settings.alpaca_api_key_id is None and "AIRFLOW_CONN_ALPACA" not in os.environ
    if emulator and supervisor is not None:
        emu_port = _free_port(8765)
        child_env = {**env, RUN_MARKER: supervisor.marker}
        emu = supervisor.add(_spawn("emulator", _emulator_argv(emu_port), child_env, log_dir))
        _wait_port(emu, emu_port)
        base = f"http://{LOOPBACK}:{emu_port}"
        # The emulator accepts any key; these are not secrets.
        vendor = {
            "alpaca_key_id": "emulator",
            "alpaca_secret_key": "emulator",
            "alpaca_data_url": base,
            "alpaca_trading_url": base,
            "ndl_api_key": "emulator",
            "ndl_api_base": base + "/api/v3",
        }

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
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(port),
            # Task processes report to the API server: it is on our port, not the default 8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{MODULE}.loopback_hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port(WORKER_LOG_PORT)),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port(TRIGGER_LOG_PORT)),
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": QUIET_LOGGERS,
            "TRADEWIND_HOME": str(settings.home),
            # Components are started as `airflow ...`; tasks find the venv's tools on PATH.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    if supervisor is not None:
        env[RUN_MARKER] = supervisor.marker
    _checked(metadata_setup_argv(), env, "airflow db migrate and the Airflow pools")
    parse_if_changed(airflow_home, settings, env)
    return Prepared(
        env,
        f"http://{LOOPBACK}:{port}",
        username,
        password,
        airflow_home,
        log_dir,
        emulated=bool(vendor),
    )


def metadata_setup_argv() -> list[str]:
    """``airflow db migrate``, then the project's pools, in one interpreter: Airflow is
    imported once instead of twice (~5 s of every start)."""
    code = (
        "import sys\n"
        "from airflow.__main__ import main\n"
        "sys.argv = ['airflow', 'db', 'migrate']\n"
        "main()\n"
        "from tradewind.orchestration.admin import ensure_pools\n"
        "ensure_pools()\n"
    )
    return [sys.executable, "-c", code]


PARSE_STAMP = "dbt-parse.json"


def _project_key(settings: Settings, env: dict[str, str]) -> str:
    """What ``dbt parse`` of the project reads: every file of the project (not its target,
    logs or packages folders), the dbt version, the placeholder profile parse_project gives it
    and the ``DBT_*`` variables of the environment."""
    import hashlib
    from importlib.metadata import version

    h = hashlib.sha256()
    project = settings.dbt_project_dir
    facts = {
        "dbt": [version("dbt-core"), version("dbt-postgres")],
        "project": str(project),
        "profile": [settings.pg_user, settings.pg_port, settings.pg_database],
        "env": sorted((k, v) for k, v in env.items() if k.startswith(("DBT_", "TRADEWIND_DBT"))),
    }
    h.update(json.dumps(facts, sort_keys=True).encode())
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if rel.parts[0] in ("target", "logs", "dbt_packages") or not path.is_file():
            continue
        h.update(f"\0{rel}\0{path.stat().st_size}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _file_id(path: Path) -> list | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def parse_if_changed(airflow_home: Path, settings: Settings, env: dict[str, str]) -> bool:
    """``dbt parse`` (the manifest build_features is rendered from) unless the manifest is the
    one this launcher wrote for the same project files, dbt version and profile; a restart
    with nothing changed skips it (~4 s). Returns whether it parsed."""
    from tradewind.orchestration.dbt_support import manifest_path, parse_project

    stamp = airflow_home / PARSE_STAMP
    key = _project_key(settings, env)
    manifest = manifest_path()
    with contextlib.suppress(OSError, ValueError):
        # Same inputs, and the manifest untouched since (not rewritten by a dbt parse by hand).
        current = {"key": key, "manifest": _file_id(manifest)}
        if current["manifest"] is not None and json.loads(stamp.read_text()) == current:
            return False
    stamp.unlink(missing_ok=True)
    parse_project()
    stamp.write_text(json.dumps({"key": key, "manifest": _file_id(manifest)}))
    return True


def _checked(argv: list[str], env: dict[str, str], what: str) -> None:
    res = subprocess.run(argv, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise LauncherError(f"{what} failed: {last[0]}")


# --- the components ----------------------------------------------------------------------------


def component_commands(env: dict[str, str]) -> dict[str, list[str]]:
    """What runs, by name: Airflow's four components (log serving off: the wildcard bind) and
    Airflow's log-server app on loopback for task and trigger logs. The scheduler is started
    through :func:`run_scheduler` (dbt loaded before Airflow forks its workers)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    serve = [sys.executable, "-m", MODULE, "--serve-logs"]
    return {
        "scheduler": [sys.executable, "-m", MODULE, SCHEDULER_FLAG, "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "api-server": [airflow, "api-server"],
        "worker-logs": [*serve, env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]],
        "trigger-logs": [*serve, env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]],
    }


# LocalExecutor forks its worker processes from the scheduler when the scheduler starts, and
# each worker forks one task process per task: what the scheduler has loaded by then, every task
# inherits. build_features runs dbt in each of its ~40 cosmos tasks, in the task's own process;
# with dbt loaded here a task skips importing dbt and its Postgres adapter (~4 s of CPU), and
# with one `dbt parse` done here it also skips dbt's first-use set-up (~1.4 s a task: the work
# a second invocation in one process no longer does). The tasks still run dbt for real.
SCHEDULER_FLAG = "--scheduler"
SCHEDULER_PRELOAD = (
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "dbt.adapters.postgres.impl",
    "dbt.compilation",
    # what the run, test, seed and source tasks import on their first invocation
    "dbt.task.run",
    "dbt.task.test",
    "dbt.task.seed",
    "dbt.task.freshness",
    # cosmos reads each task's dbt artifacts with OpenLineage's dbt processor after the run
    "openlineage.common.provider.dbt.local",
)


def warm_dbt() -> None:
    """Import dbt and parse the project once in this process, as a cosmos task will: from the
    project's partial-parse file, into a scratch copy of its target folder (the project's own
    manifest, which the DAG processor renders build_features from, is left alone)."""
    import importlib
    import shutil
    import tempfile

    from tradewind.orchestration.dbt_support import manifest_path, parse_project

    for name in SCHEDULER_PRELOAD:
        importlib.import_module(name)
    with tempfile.TemporaryDirectory(prefix="tw-dbt-warm-") as tmp:
        target = Path(tmp) / "target"
        if manifest_path().parent.is_dir():
            shutil.copytree(manifest_path().parent, target)
        parse_project(target_path=target)


def run_scheduler(args: list[str]) -> int:
    """``airflow scheduler ARGS`` in this process, after :func:`warm_dbt`. A failed warm-up
    only costs the tasks their head start: one line, and the scheduler starts anyway."""
    t0 = time.monotonic()
    try:
        warm_dbt()
        print(f"dbt loaded for the tasks in {time.monotonic() - t0:.1f} s", flush=True)
    except Exception as exc:  # the scheduler must start regardless; tasks load dbt themselves
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"dbt not preloaded ({type(exc).__name__}: {message})", flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "scheduler", *args]
    airflow_main()
    return 0


def serve_logs(port: int) -> None:
    """Airflow's log server (the app ``airflow scheduler`` would serve), bound to loopback."""
    import uvicorn

    uvicorn.run(
        "airflow.utils.serve_logs.log_server:get_app",
        factory=True,
        host=LOOPBACK,
        port=port,
        log_config=None,
        access_log=False,
    )


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _wait_ready(url: str, sup: Supervisor) -> dict:
    """Until the API answers; a progress line every 15 s; a component that dies ends it."""
    t0 = last = time.monotonic()
    while (health := _health(url)) is None:
        if (dead := sup.crashed()) is not None:
            raise LauncherError(
                f"{dead.name} exited with code {dead.proc.returncode} while starting; "
                f"see {dead.log}:\n{_tail(dead.log)}"
            )
        if time.monotonic() - last >= 15:
            last = time.monotonic()
            print(f"  waiting for the API server ({last - t0:.0f} s)", flush=True)
        time.sleep(0.5)
    return health


def _install_handlers(sup: Supervisor) -> None:
    def handler(signum: int, _frame: object) -> None:
        if sup.stopping:
            sup.hurry = True  # another signal while stopping: SIGKILL now
            return
        raise Stop(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    airflow_home = settings.home / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    marker = secrets.token_hex(8)
    sup = Supervisor(marker, grace=args.stop_timeout)
    _install_handlers(sup)
    # The run file first: "already running" explains a busy port better than the port does.
    note, inherited_warehouse = claim_run(airflow_home, marker)
    if note:
        print(note, flush=True)
    if port_in_use(args.port):
        release_run(airflow_home)
        raise LauncherError(f"port {args.port} on {LOOPBACK} is in use; pass --port N")

    code, reason = 0, "stopped"
    try:
        print("  preparing: warehouse, Airflow metadata, pools, dbt manifest", flush=True)
        prepared = prepare(settings, port=args.port, emulator=args.emulator, supervisor=sup)
        for name, argv in component_commands(prepared.env).items():
            sup.add(_spawn(name, argv, prepared.env, prepared.log_dir))
        if inherited_warehouse and sup.warehouse is None and settings.database_url is None:
            from tradewind.db.embedded import EmbeddedPostgres

            sup.warehouse = EmbeddedPostgres(settings)  # the crashed run's, so ours to stop
        write_run(airflow_home, marker, sup.sessions, args.port, sup.warehouse is not None)
        print(f"  starting {', '.join(c.name for c in sup.components)}", flush=True)
        health = _wait_ready(prepared.url, sup)
        states = ", ".join(
            f"{k} {v.get('status')}" for k, v in health.items() if isinstance(v, dict)
        )
        print(
            f"\n  Airflow UI: {prepared.url}\n  login: {prepared.username} / {prepared.password}\n"
            f"  AIRFLOW_HOME: {prepared.airflow_home}\n"
            + ("  market data: emulated (no Alpaca keys configured)\n" if prepared.emulated else "")
            + f"  health: {states}\n  component logs: {prepared.log_dir}\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while (dead := sup.crashed()) is None:
            time.sleep(0.5)
        code, reason = 1, f"{dead.name} exited with code {dead.proc.returncode}"
        print(f"  {reason}; last lines of {dead.log}:\n{_tail(dead.log)}", flush=True)
    except Stop as stop:
        reason = f"stopping on {stop}"
    except LauncherError as exc:
        code, reason = 1, "error"
        print(f"error: {exc}", file=sys.stderr, flush=True)
    except Exception as exc:  # one line for the user, the rest of the story in the logs
        code, reason = 1, "error"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: {type(exc).__name__}: {message}", file=sys.stderr, flush=True)
    finally:
        sup.stopping = True
        print(f"  {reason}: stopping {len(sup.components)} component(s)", flush=True)
        for line in sup.stop().lines():
            print(line, flush=True)
        if sup.warehouse is not None:
            try:
                sup.warehouse.stop()
                print(f"  warehouse stopped (data kept in {settings.pg_data_dir})", flush=True)
            except Exception as exc:  # still release the run file and say what happened
                code = 1
                print(f"error: stopping the warehouse: {exc}", file=sys.stderr, flush=True)
        elif settings.database_url is None:
            print("  warehouse left running (it was running before; `tradewind db down`)")
        release_run(airflow_home)
        print("  Airflow stopped.", flush=True)
    return code


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [SCHEDULER_FLAG]:  # a component of the run (component_commands)
        return run_scheduler(argv[1:])
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
    p.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=30,
        help="seconds the components get to exit after a stop signal before being killed",
    )
    p.add_argument("--serve-logs", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.serve_logs is not None:
        serve_logs(args.serve_logs)
        return 0
    if args.prepare_only:
        # stdout is for the exports alone (eval "$(... --prepare-only)"); dbt talks to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            prepared = prepare(port=args.port, emulator=False)
        for key in sorted(prepared.env):
            if key.startswith("AIRFLOW") and not key.startswith("AIRFLOW_CONN_"):
                print(f"export {key}={shlex.quote(prepared.env[key])}")
        return 0
    try:
        return run(args)
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Stop:  # before anything was started
        return 0


if __name__ == "__main__":
    sys.exit(main())
