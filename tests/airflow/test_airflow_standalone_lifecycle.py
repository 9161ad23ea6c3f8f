"""``make airflow`` stops cleanly on Ctrl-C, SIGHUP and SIGTERM, listens on loopback only, keeps
the warehouse's data, and starts again afterwards.

One test, four starts of the real ``make airflow`` (embedded PostgreSQL in a scratch home, the
market emulator, Airflow's scheduler, DAG processor, triggerer, API server and log servers):

- start 1, Ctrl-C: SIGINT to the job's whole process group, as a terminal sends it;
- start 2, hang-up: SIGHUP to the whole process group, as a closed terminal/SSH session does;
- start 3, ``kill``: SIGTERM to make's pid alone, as a process manager sends it (make forwards
  SIGTERM to its recipe);
- start 4: answers again; stopped by SIGTERM to the launcher itself.

Starts 2 and 3 reuse the manifest start 1 parsed (nothing changed); a model edited before start
4 is parsed again.

What counts as "the run" is observed from the operating system, not asked of the launcher:
every descendant of make seen while it ran (sampled until the tree is complete), the embedded
server's postmaster (from its pid file), and every socket those processes listen on. After each
stop none of those processes (same pid and start time) may be alive and none of those ports may
accept a connection.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tradewind.orchestration.standalone import MODULE, SCHEDULER_FLAG
from tradewind.settings import PROJECT_ROOT

START_TIMEOUT = 600  # a bound for a hung start on a busy 2-core machine, not a speed target
STOP_BOUND = 90  # launcher grace (30 s) + SIGKILL round + the warehouse's clean shutdown
LOOPBACK = {"127.0.0.1", "::1"}
EDIT = "\n-- edited between two starts (the lifecycle test)\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3
        ) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


class Run:
    """One ``make airflow`` in a process group of its own (a terminal job)."""

    def __init__(self, env: dict[str, str], api_port: int, out: Path):
        self.api_port = api_port
        self.out = out
        self.offset = out.stat().st_size if out.exists() else 0  # this run's output starts here
        self.env = env
        # -o: never rebuild the virtualenv from inside a test (the recipe is unchanged).
        self.make = subprocess.Popen(
            ["make", "-s", "-o", ".venv/.installed", "airflow", f"AIRFLOW_ARGS=--port {api_port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.seen: dict[int, psutil.Process] = {}

    def log(self) -> str:
        with self.out.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def observe(self) -> None:
        """Add make's current descendants (and the postmaster) to the processes of the run."""
        try:
            procs = psutil.Process(self.make.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        pidfile = Path(self.env["TRADEWIND_HOME"]) / "pgdata" / "postmaster.pid"
        if pidfile.exists():
            try:
                procs.append(psutil.Process(int(pidfile.read_text().split()[0])))
            except (psutil.NoSuchProcess, ValueError, IndexError):
                pass
        for p in procs:
            self.seen.setdefault(p.pid, p)

    def wait_ready(self) -> dict:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            health = _health(self.api_port)
            if health and all(
                health.get(k, {}).get("status") == "healthy"
                for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ):
                return health
            assert self.make.poll() is None, f"make airflow exited early:\n{self.log()[-4000:]}"
            assert time.monotonic() < deadline, (
                f"no healthy API after {START_TIMEOUT} s:\n{self.log()}"
            )
            time.sleep(2)

    def alive(self) -> list[psutil.Process]:
        """Processes of the run still alive (``is_running`` also compares the start time, so a
        recycled pid does not count)."""
        found = []
        for p in self.seen.values():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except psutil.NoSuchProcess:
                pass
        return found

    def listeners(self) -> list[tuple[str, int, int]]:
        pids = {p.pid for p in self.alive()}
        return [
            (c.laddr.ip, c.laddr.port, c.pid)
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in pids
        ]

    def run_env(self) -> dict[str, str]:
        """The Airflow environment of the run, read from the scheduler process."""
        self.observe()
        for p in self.alive():
            cmd = p.cmdline()
            # the launcher's scheduler command (standalone.component_commands)
            if len(cmd) >= 4 and cmd[1:4] == ["-m", MODULE, SCHEDULER_FLAG]:
                return p.environ()
        raise AssertionError(f"no airflow scheduler among the run's processes:\n{self.log()}")

    def kill_everything(self) -> None:
        """Teardown of a failed test: nothing of ours may outlive it."""
        self.observe()
        for p in self.alive():
            if p.name() != "postgres":
                p.kill()
        if self.make.poll() is None:
            os.killpg(self.make.pid, signal.SIGKILL)
        self.make.wait(timeout=30)


def _start_and_check(run: Run) -> tuple[set[int], float]:
    """Wait for the API, then check every listener of the run is on loopback."""
    t0 = time.monotonic()
    run.wait_ready()
    ready_after = time.monotonic() - t0
    airflow_env = run.run_env()
    worker_logs = int(airflow_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"])
    trigger_logs = int(airflow_env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"])
    pg_port = int(run.env["TRADEWIND_PG_PORT"])
    expected = {run.api_port, worker_logs, trigger_logs, pg_port}
    deadline = time.monotonic() + 60
    while True:  # the tree is complete once every expected port is among its listeners
        run.observe()
        listening = run.listeners()
        ports = {port for _, port, _ in listening}
        if expected <= ports or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert expected <= ports, (expected - ports, listening)
    assert len(ports) >= 5, listening  # the emulator's port too
    wildcard = [x for x in listening if x[0] not in LOOPBACK]
    assert not wildcard, f"listening beyond loopback: {wildcard}"
    # The log servers are Airflow's: they refuse a log request without the API's signed token.
    for port in (worker_logs, trigger_logs):
        assert _http_status(port, "/log/any.log") == 403
    return ports, ready_after


def _stop_and_check(run: Run, send, ports: set[int]) -> float:
    t0 = time.monotonic()
    send()
    try:
        run.make.wait(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make airflow still running {STOP_BOUND} s after the signal:\n{run.log()}")
    stopped_after = time.monotonic() - t0
    # Anything a component left behind would be reparented, not gone: give it a moment.
    deadline = time.monotonic() + 10
    while run.alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [(p.pid, p.name(), " ".join(p.cmdline())[:120]) for p in run.alive()]
    assert not left, f"processes of the run still alive: {left}\n{run.log()}"
    still_open = sorted(port for port in ports if _accepts(port))
    assert not still_open, f"ports still accepting connections: {still_open}"
    out = run.log()
    assert "Airflow stopped." in out and "warehouse stopped (data kept" in out, out
    return stopped_after


def _warehouse(env: dict[str, str]) -> str:
    return f"postgresql://tradewind@127.0.0.1:{env['TRADEWIND_PG_PORT']}/tradewind"


@pytest.fixture
def scratch() -> Path:
    """A folder of our own rather than ``tmp_path``: pytest prunes old ``pytest-of-<user>``
    folders when other sessions start, and this test outlives several of them on a shared
    machine. Holds the home (embedded server, Airflow home) and a copy of dbt/ to parse (and to
    edit between two starts)."""
    root = Path(tempfile.mkdtemp(prefix="tw-airflow-lifecycle-"))
    shutil.copytree(
        PROJECT_ROOT / "dbt",
        root / "dbt",
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"),
    )
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.airflow
def test_make_airflow_stops_on_each_signal_and_restarts(scratch: Path):
    import psycopg

    tmp_path = scratch

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "TRADEWIND_", "APCA_", "NASDAQ_", "MAKE", "MFLAGS"))
        and k != "DATABASE_URL"
    }
    env.update(
        {
            "TRADEWIND_HOME": str(tmp_path / "home"),
            "TRADEWIND_PG_PORT": str(_free_port()),
            # A copy of dbt/: the test never writes into the developer's dbt/target.
            "TRADEWIND_DBT_PROJECT_DIR": str(scratch / "dbt"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
        }
    )
    api_port = _free_port()
    out = tmp_path / "make-airflow.log"
    manifest = scratch / "dbt" / "target" / "manifest.json"

    def to_group(run: Run, sig: signal.Signals):
        return lambda: os.killpg(run.make.pid, sig)

    def to_make(run: Run, sig: signal.Signals):
        return lambda: os.kill(run.make.pid, sig)

    cases = [
        ("Ctrl-C", lambda r: to_group(r, signal.SIGINT)),
        ("hang-up", lambda r: to_group(r, signal.SIGHUP)),
        ("kill", lambda r: to_make(r, signal.SIGTERM)),
    ]
    timings = []
    run: Run | None = None
    try:
        for i, (label, sender) in enumerate(cases):
            run = Run(env, api_port, out)
            ports, ready = _start_and_check(run)
            with psycopg.connect(_warehouse(env), autocommit=True) as c:
                if i == 0:
                    c.execute("create table public.lifecycle_keep (n int primary key)")
                c.execute("insert into public.lifecycle_keep values (%s)", (i,))
                kept = [r[0] for r in c.execute("select n from public.lifecycle_keep order by n")]
            # Every earlier start's row survived its stop (the server was stopped each time).
            assert kept == list(range(i + 1))
            # The first start parsed the project; restarts with nothing changed reuse the
            # manifest (the file is not rewritten).
            if i == 0:
                parsed = manifest.stat().st_mtime_ns
            assert manifest.stat().st_mtime_ns == parsed, f"start {i + 1} parsed again"
            stopped = _stop_and_check(run, sender(run), ports)
            timings.append((label, round(ready), round(stopped, 1)))
            run = None

        # A model edited while Airflow was down: the next start parses the project again.
        model = scratch / "dbt" / "models" / "staging" / "stg_bars_daily.sql"
        model.write_text(model.read_text() + EDIT)
        # The restart after the last signal answers, with the data of all three runs.
        run = Run(env, api_port, out)
        ports, ready = _start_and_check(run)
        nodes = json.loads(manifest.read_text())["nodes"]
        assert nodes["model.tradewind.stg_bars_daily"]["raw_code"].endswith(EDIT.strip())
        with psycopg.connect(_warehouse(env)) as c:
            assert [r[0] for r in c.execute("select n from public.lifecycle_keep order by n")] == [
                0,
                1,
                2,
            ]
        launcher = next(p for p in run.alive() if p.ppid() == run.make.pid)
        stopped = _stop_and_check(run, lambda: launcher.send_signal(signal.SIGTERM), ports)
        timings.append(("SIGTERM to the launcher", round(ready), round(stopped, 1)))
        run = None
        print("\n(signal, seconds until healthy, seconds until everything stopped):", timings)
    finally:
        if run is not None:
            run.kill_everything()
        subprocess.run(
            [str(PROJECT_ROOT / ".venv" / "bin" / "tradewind"), "db", "down"],
            env=env,
            capture_output=True,
            timeout=120,
        )


# --- the launcher's stop and run-file logic, on plain processes (fast) -------------------------

STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a component that never exits on its own
# a task-like grandchild in a process group of its own, as Airflow's task supervisor makes them
subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgid(0, 0); time.sleep(600)"])
print("ready", flush=True)
time.sleep(600)
"""


def _spawned_tree(proc: subprocess.Popen, size: int, timeout: float = 30) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        if len(tree) >= size:
            return tree
        time.sleep(0.1)
    raise AssertionError(f"process tree of {proc.pid} did not reach {size} processes")


def test_supervisor_stops_a_stubborn_component_and_its_regrouped_child(tmp_path: Path):
    """A component ignoring SIGTERM, with a child in a process group of its own: both are gone
    after the grace period plus the SIGKILL round, and the report says they were killed."""
    from tradewind.orchestration.standalone import Supervisor, _spawn

    sup = Supervisor(marker="t1", grace=1.0)
    comp = sup.add(_spawn("stubborn", [sys.executable, "-c", STUBBORN], dict(os.environ), tmp_path))
    tree = _spawned_tree(comp.proc, 2)
    deadline = time.monotonic() + 30
    while os.getpgid(tree[1].pid) == comp.proc.pid and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.getpgid(tree[1].pid) != comp.proc.pid  # really regrouped
    assert os.getsid(comp.proc.pid) == comp.proc.pid != os.getsid(0)  # a session of its own
    report = sup.stop()
    gone, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive, alive
    # The regrouped child (deaf to SIGTERM too: an ignored signal stays ignored across exec)
    # got SIGTERM as a straggler, then both got SIGKILL.
    assert report.exited == {"stubborn": None}, report
    assert (report.terminated, report.killed) == (1, 2), report


def test_supervisor_stop_is_quick_for_components_that_exit(tmp_path: Path):
    from tradewind.orchestration.standalone import Supervisor, _spawn

    sup = Supervisor(marker="t2", grace=30.0)
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    procs = [sup.add(_spawn(f"c{i}", sleeper, dict(os.environ), tmp_path)) for i in range(3)]
    report = sup.stop()
    assert all(code == -signal.SIGTERM for code in report.exited.values()), report
    assert report.killed == 0 and report.seconds < 30, report
    assert all(c.proc.poll() is not None for c in procs)


def test_launcher_dies_its_components_get_sigterm(tmp_path: Path):
    """PR_SET_PDEATHSIG: a launcher killed with SIGKILL still takes its components down; the
    component notes the SIGTERM it got in a file."""
    flag = tmp_path / "got-sigterm"
    component = (
        "import os, signal, sys, time\n"
        f"def term(*_):\n    open({str(flag)!r}, 'w').write('SIGTERM'); os._exit(0)\n"
        "signal.signal(signal.SIGTERM, term)\n"
        "time.sleep(600)\n"
    )
    launcher_code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from tradewind.orchestration.standalone import _spawn\n"
        "c = _spawn('c', [sys.executable, '-c', sys.argv[2]], dict(os.environ), Path(sys.argv[1]))\n"
        "print(c.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    launcher = subprocess.Popen(
        [sys.executable, "-c", launcher_code, str(tmp_path), component],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = psutil.Process(int(launcher.stdout.readline()))
    time.sleep(1)  # let the component install its handler
    launcher.kill()
    launcher.wait()
    gone, alive = psutil.wait_procs([child], timeout=10)
    assert not alive
    assert flag.read_text() == "SIGTERM"


def test_a_second_launcher_for_the_same_home_is_refused_and_leftovers_are_cleaned(tmp_path: Path):
    from tradewind.orchestration.standalone import LauncherError, claim_run

    home = tmp_path / "airflow"
    home.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]

    def record(pid: int, started: float, sessions: list[int]) -> None:
        (home / "launcher.json").write_text(
            json.dumps(
                {"pid": pid, "started": started, "marker": "m0", "sessions": sessions, "port": 1}
            )
        )

    # A live launcher (a sleeping process stands in for it) holds the home: refused.
    live = subprocess.Popen(sleeper)
    try:
        record(live.pid, psutil.Process(live.pid).create_time(), [])
        with pytest.raises(LauncherError, match="already running"):
            claim_run(home, "m1")
        # The same pid with another start time is a recycled pid, not the launcher.
        record(live.pid, psutil.Process(live.pid).create_time() - 100, [])
        assert claim_run(home, "m1") == (None, False)
        assert live.poll() is None  # and nothing of it was touched
    finally:
        live.kill()
        live.wait()

    # A dead launcher's component, in a session of its own and carrying the run's marker, is
    # killed by the next claim; a process in no session of that run is left alone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_started = psutil.Process(dead.pid).create_time()
    dead.wait()
    orphan = subprocess.Popen(
        sleeper, start_new_session=True, env={**os.environ, "TRADEWIND_AIRFLOW_RUN": "m0"}
    )
    bystander = subprocess.Popen(sleeper, start_new_session=True)
    try:
        record(dead.pid, dead_started, [orphan.pid])
        note, _ = claim_run(home, "m1")
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert note and "1 process" in note
        assert bystander.poll() is None
        assert json.loads((home / "launcher.json").read_text())["marker"] == "m1"
    finally:
        for p in (orphan, bystander):
            p.kill()
            p.wait()


def test_busy_port_is_one_error_line(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "TRADEWIND_HOME": str(tmp_path / "home")}
        env.pop("DATABASE_URL", None)
        res = subprocess.run(
            [sys.executable, "-m", "tradewind.orchestration.standalone", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: port {port} on 127.0.0.1 is in use; pass --port N"], res.stderr
    assert not (tmp_path / "home" / "airflow" / "launcher.json").exists()
