"""A real Airflow for the tests: scheduler, DAG processor, triggerer, API server (and Airflow's
log servers on loopback), started with the launcher's own supervisor
(``tradewind.orchestration.standalone``), Airflow's metadata in a database of its own on the
test PostgreSQL server, LocalExecutor. The tests talk to it as a user does: the REST API behind
a login, and the ``airflow`` CLI.

Every DAG starts paused (``dags_are_paused_at_creation``); a test unpauses the ones it needs.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_testlib import airflow_base_env

from tradewind.orchestration import standalone

# Bounds for a hung component on a loaded 2-core machine, not speed targets.
START_TIMEOUT = 300
RUN_TIMEOUT = 2400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveAirflow:
    home: Path
    env: dict[str, str]
    url: str
    username: str
    password: str
    supervisor: standalone.Supervisor
    _token: str | None = field(default=None, repr=False)

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def start(cls, home: Path, metadata_url: str, extra_env: dict[str, str]) -> LiveAirflow:
        """Migrate the metadata database, create the pools, start the components, wait until
        the API reports every component healthy."""
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        username, password = "admin", secrets.token_urlsafe(12)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({username: password}))
        env = {**airflow_base_env(home), **extra_env}
        env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__API__HOST": standalone.LOOPBACK,
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                    f"http://{standalone.LOOPBACK}:{port}/execution/"
                ),
                # One secret for the API server and the task processes it authenticates.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__AUTH_MANAGER": standalone.SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{standalone.MODULE}.loopback_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                # New files and asset changes are picked up within seconds, not minutes.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            }
        )
        # `airflow db migrate` and the pools, as the launcher does them (one interpreter).
        proc = subprocess.run(
            standalone.metadata_setup_argv(), env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        sup = standalone.Supervisor(marker=secrets.token_hex(8), grace=20)
        env[standalone.RUN_MARKER] = sup.marker
        logs = home / "component-logs"
        logs.mkdir(exist_ok=True)
        # The launcher's own commands: its scheduler loads dbt before Airflow forks the
        # LocalExecutor's workers (standalone.run_scheduler), so cosmos tasks inherit it.
        for name, argv in standalone.component_commands(env).items():
            sup.add(standalone._spawn(name, argv, env, logs))
        live = cls(home, env, f"http://{standalone.LOOPBACK}:{port}", username, password, sup)
        try:
            live._wait_healthy()
        except BaseException:
            live.stop()
            raise
        return live

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        while True:
            dead = self.supervisor.crashed()
            assert dead is None, f"{dead.name} exited: {self.component_log(dead.name)}"
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=3) as r:
                    health = json.loads(r.read())
                if all(health.get(k, {}).get("status") == "healthy" for k in parts):
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            assert time.monotonic() < deadline, "Airflow not healthy in time:\n" + "\n".join(
                self.component_log(c.name, 15) for c in self.supervisor.components
            )
            time.sleep(2)

    def stop(self) -> standalone.StopReport:
        return self.supervisor.stop()

    def component_log(self, name: str, lines: int = 40) -> str:
        path = self.home / "component-logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name}\n" + "\n".join(text.splitlines()[-lines:])

    # --- the REST API ------------------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            body = {"username": self.username, "password": self.password}
            self._token = self._request("POST", "/auth/token", body, auth=False)["access_token"]
        return self._token

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(
                f"{method} {path}: HTTP {exc.code} {exc.read()[:2000]!r}"
            ) from None
        return json.loads(raw) if raw else None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, "/api/v2" + path, body)

    def wait_parsed(self, dag_ids: set[str], timeout: float = START_TIMEOUT) -> None:
        """Until the DAG processor has serialized every DAG of ``dag_ids`` (no import error)."""
        deadline = time.monotonic() + timeout
        while True:
            errors = self.api("GET", "/importErrors")["import_errors"]
            assert not errors, errors
            found = {d["dag_id"] for d in self.api("GET", "/dags?limit=100")["dags"]}
            if dag_ids <= found:
                return
            assert time.monotonic() < deadline, f"DAGs not parsed: {dag_ids - found}"
            time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")["dag_runs"]

    def tasks(self, dag_id: str, run_id: str) -> dict[str, str]:
        path = f"/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}/taskInstances"
        tis = self.api("GET", path + "?limit=1000")["task_instances"]
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"]
            for ti in tis
        }

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict | None = None) -> dict:
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", body)

    def fail_run(self, dag_id: str, run_id: str) -> None:
        """Mark a run failed (its unfinished tasks stop). Deleting it would not stick: the DAG
        processor plans the timetable's next run from the runs that exist, so it comes back."""
        path = f"/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}"
        self.api("PATCH", path, {"state": "failed"})

    def wait_runs(
        self,
        dag_id: str,
        count: int,
        *,
        run_type: str | None = None,
        timeout: float = RUN_TIMEOUT,
        on_poll: Callable[[], object] | None = None,
    ) -> list[dict]:
        """Until ``count`` runs (of ``run_type``) of ``dag_id`` are finished; any run failing is
        an error with its task states. ``on_poll`` is called before each look."""
        deadline = time.monotonic() + timeout
        while True:
            if on_poll is not None:
                on_poll()
            runs = [r for r in self.runs(dag_id) if run_type in (None, r["run_type"])]
            for r in runs:
                if r["state"] == "failed":
                    raise AssertionError(
                        f"{dag_id} run {r['dag_run_id']} failed: {self.tasks(dag_id, r['dag_run_id'])}"
                    )
            done = [r for r in runs if r["state"] == "success"]
            if len(done) >= count:
                return done
            dead = self.supervisor.crashed()
            assert dead is None, self.component_log(dead.name)
            assert time.monotonic() < deadline, (
                f"{dag_id}: {len(done)} of {count} runs done: {runs}\n"
                + self.component_log("scheduler")
            )
            time.sleep(3)

    def cli(self, *args: str, timeout: int = 300) -> str:
        """``airflow ARGS`` with the run's configuration (the CLI reads the metadata DB)."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        proc = subprocess.run(
            [airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert proc.returncode == 0, f"airflow {args}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        return proc.stdout
