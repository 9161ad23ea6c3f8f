"""The embedded server's life cycle and the CLI's one-line errors for bad configuration."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tradewind.db.embedded import EmbeddedPostgres
from tradewind.settings import Settings

TRADEWIND = [sys.executable, "-m", "tradewind"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        TRADEWIND + args, capture_output=True, text=True, timeout=180, env={**base, **env}
    )


def _assert_one_line_error(res: subprocess.CompletedProcess, needle: str) -> None:
    assert res.returncode == 1, res
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "Warning" not in ln]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:") and needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """An embedded server in a private home, to exercise start/stop/reuse."""
    home = tmp_path_factory.mktemp("tw-home")
    s = Settings(home=home, pg_port=_free_port(), database_url=None)
    server = EmbeddedPostgres(s)
    server.start()
    yield server
    server.stop()


def test_embedded_server_keeps_data_across_restart(own_server):
    url = own_server.url()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("create table if not exists keep_me (x int)")
        c.execute("insert into keep_me values (42)")
    assert own_server.stop() is True
    assert not own_server.status().running
    assert own_server.init() is False  # reused, not re-created
    st = own_server.start()
    assert st.running and st.port == own_server.port
    with psycopg.connect(url) as c:
        assert c.execute("select x from keep_me").fetchall() == [(42,)]
        # Listens on loopback only.
        assert c.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"


def test_data_folder_used_by_another_server(own_server):
    other_port = _free_port()
    res = _cli(
        ["db", "status"],
        TRADEWIND_HOME=str(own_server.settings.home),
        TRADEWIND_PG_PORT=str(other_port),
    )
    _assert_one_line_error(res, "in use by another PostgreSQL server")


def test_port_in_use(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        res = _cli(["db", "up"], TRADEWIND_HOME=str(tmp_path / "h"), TRADEWIND_PG_PORT=str(port))
    _assert_one_line_error(res, f"port {port}")


def test_folder_that_is_not_a_data_folder(tmp_path):
    home = tmp_path / "h"
    (home / "pgdata").mkdir(parents=True)
    (home / "pgdata" / "something.txt").write_text("not postgres")
    res = _cli(["db", "up"], TRADEWIND_HOME=str(home), TRADEWIND_PG_PORT=str(_free_port()))
    _assert_one_line_error(res, "not a PostgreSQL data folder")


@pytest.mark.parametrize(
    "url, needle",
    [
        ("postgresql://u@127.0.0.1:notaport/db", "malformed"),
        ("mysql://u@127.0.0.1/db", "malformed"),
        ("postgresql://u@127.0.0.1:5432", "names no database"),
    ],
)
def test_malformed_database_url(url, needle):
    _assert_one_line_error(_cli(["db", "status"], DATABASE_URL=url), needle)


def test_unreachable_database_url_does_not_leak_password():
    port = _free_port()  # nothing listens there
    res = _cli(["db", "migrate"], DATABASE_URL=f"postgresql://u:s3cret@127.0.0.1:{port}/db")
    _assert_one_line_error(res, "cannot connect to postgresql://u:***@127.0.0.1")
    assert "s3cret" not in res.stderr + res.stdout


def test_invalid_setting_is_one_line():
    res = _cli(["db", "url"], TRADEWIND_PG_PORT="seventy")
    _assert_one_line_error(res, "invalid setting")


def test_db_url_prints_dsn(db_url):
    res = _cli(["db", "url"], DATABASE_URL=db_url)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == db_url


def test_migrate_cli_twice(db_url):
    res = _cli(["db", "migrate"], DATABASE_URL=db_url)
    assert res.returncode == 0, res.stderr
    assert "nothing to apply" in res.stdout


def test_help_lists_commands():
    res = _cli(["--help"])
    assert res.returncode == 0
    for word in ("db", "demo"):
        assert word in res.stdout
    res = _cli(["db", "--help"])
    for word in ("up", "down", "status", "migrate", "url"):
        assert word in res.stdout


def test_main_module_exists():
    assert (Path(__file__).parents[2] / "src" / "tradewind" / "__main__.py").exists()
