"""Safe by default: markup from the warehouse is shown as text, browsing changes no row, the
connection cannot write, an access token guards the app when set, secrets never render, and
the CLI refuses unsafe binds with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import psycopg
import pytest
from dashboard_testlib import NOW, free_port
from pydantic import SecretStr

pytestmark = pytest.mark.integration

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
EVIL_SYMBOL = "</script><script>alert(2)</script>"
PAGES = ("/", "/models", "/signals", "/portfolio", "/data")


def _fill_evil(url: str, secret: str) -> None:
    run_id = uuid.uuid4()
    with psycopg.connect(url) as c:
        c.execute(
            "insert into ml.training_runs (run_id, agent, config, train_start, train_end, seed,"
            " status, metrics, error) values (%s, %s, '{}', '2008-01-01', '2016-12-31', 1,"
            " 'failed', %s, %s)",
            (run_id, EVIL, json.dumps({"note": EVIL}), f"boom {EVIL}"),
        )
        c.execute(
            "insert into ml.model_versions (model_name, version, run_id, stage, artifact_uri,"
            " promotion_note) values (%s, 1, %s, 'production', %s, %s)",
            (EVIL, run_id, f"file:///{EVIL}", EVIL),
        )
        c.execute(
            "insert into signals.target_weights (as_of_session, model_name, model_version,"
            " symbol, weight) values ('2026-11-27', %s, 1, %s, 0.5), ('2026-11-27', %s, 1,"
            " 'AAPL', 0.25)",
            (EVIL, EVIL_SYMBOL, EVIL),
        )
        c.execute(
            "insert into ops.ingest_runs (source, timeframe, status, message) values"
            " ('alpaca', '1Day', 'failed', %s)",
            (f"401 with key {secret} and {EVIL}",),
        )
        c.execute(
            "insert into ops.quarantine (source, timeframe, symbol, bar_time, reasons, payload)"
            " values ('csv', '1Day', %s, '2026-11-27', %s, %s)",
            (EVIL_SYMBOL, [EVIL], json.dumps({"symbol": EVIL_SYMBOL})),
        )


@pytest.fixture
def evil_client(db_url, test_settings):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    secret = "sk-live-SUPERSECRET-0123456789"
    _fill_evil(db_url, secret)
    settings = test_settings.model_copy(update={"alpaca_api_secret_key": SecretStr(secret)})
    with TestClient(create_app(db_url, settings=settings, now=lambda: NOW)) as c:
        yield c, secret


def test_markup_in_a_model_name_is_shown_as_text(evil_client):
    c, _ = evil_client
    pages = [*PAGES, "/models/" + quote(EVIL, safe=""), "/signals?model=" + quote(EVIL, safe="")]
    for path in pages:
        r = c.get(path, headers={"accept": "text/html"})
        assert r.status_code == 200, (path, r.text[:300])
        html = r.text
        assert "<script>alert" not in html, path
        assert "onerror=alert(1)>" not in html, path
        assert "</script><script>" not in html, path
    overview = c.get("/", headers={"accept": "text/html"}).text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in overview
    # In chart JSON the symbol's markup is \u003c-escaped, so it cannot close the <script>.
    detail = c.get("/models/" + quote(EVIL, safe=""), headers={"accept": "text/html"}).text
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(2)" in detail
    # The JSON API returns the value itself, unaltered (JSON is not HTML).
    api = c.get("/api/signals", params={"model": EVIL}).json()
    assert EVIL_SYMBOL in api["history"]["symbols"]


def test_no_secret_is_ever_rendered(evil_client):
    c, secret = evil_client
    for path in (*PAGES, "/api/overview", "/api/data", "/openapi.json"):
        body = c.get(path, headers={"accept": "text/html"}).text
        assert secret not in body, path
    overview = c.get("/api/overview").json()
    assert [f["step"] for f in overview["other_failures"]] == ["training run"]
    assert overview["other_failures"][0]["message"].startswith("boom <script>")
    failing = overview["failing_checks"]
    assert any(f["message"].startswith("401 with key *** and") for f in failing)


def _checksums(url: str) -> dict[str, str]:
    """md5 of every table's rows, in every schema the project owns."""
    with psycopg.connect(url) as c:
        tables = c.execute(
            "select schemaname || '.' || tablename from pg_tables"
            " where schemaname not in ('pg_catalog', 'information_schema') order by 1"
        ).fetchall()
        out = {}
        for (t,) in tables:
            out[t] = c.execute(
                f"select count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|'"
                f" order by x::text)), '') from {t} as x"
            ).fetchone()[0]
    return out


def test_browsing_changes_no_row(client, sample_db):
    url, _ = sample_db
    before = _checksums(url)
    assert before["signals.target_weights"].split(":")[0] != "0"
    for path in (*PAGES, "/models/dow30_ppo", "/models/sp100_ppo?version=1",
                 "/signals?model=sp100_ppo", "/data?source=alpaca"):  # fmt: skip
        assert client.get(path, headers={"accept": "text/html"}).status_code == 200
    for path in ("/api/overview", "/api/models", "/api/models/dow30_ppo", "/api/signals",
                 "/api/portfolio", "/api/data"):  # fmt: skip
        assert client.get(path).status_code == 200
    assert _checksums(url) == before


def test_the_dashboard_connection_cannot_write(sample_db):
    from tradewind.dashboard.warehouse import ReadOnlyWarehouse

    url, _ = sample_db
    with ReadOnlyWarehouse(url).snapshot() as r:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            r.rows("delete from signals.target_weights returning 1")
    with ReadOnlyWarehouse(url).snapshot() as r:
        # Even after the page's transaction, the session default stays read-only.
        r._conn.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            r.rows("update broker.orders set status = 'x' returning 1")


def test_access_token_when_set(sample_db, test_settings):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import TOKEN_COOKIE, create_app

    url, _ = sample_db
    token = "dash-token-7f3a9c1e5b"
    app = create_app(url, settings=test_settings, token=token, now=lambda: NOW)
    with TestClient(app) as c:
        assert c.get("/api/overview").status_code == 401
        assert c.get("/", headers={"accept": "text/html"}).status_code == 401
        assert c.get("/api/overview", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/api/overview", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        # A token in the URL is exchanged for an HttpOnly cookie and dropped from the URL.
        r = c.get("/models?token=" + token, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/models"
        assert "httponly" in r.headers["set-cookie"].lower()
        page = c.get("/models", headers={"accept": "text/html"}, cookies={TOKEN_COOKIE: token})
        assert page.status_code == 200 and token not in page.text


def test_cli_refuses_an_open_bind_without_a_token_and_a_busy_port(tw_env):
    from typer.testing import CliRunner

    from tradewind.cli import app

    res = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0", "--port", str(free_port())])
    assert res.exit_code == 1
    assert "without an access token" in res.output and len(res.output.strip().splitlines()) == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(app, ["dashboard", "--port", str(port)])
    assert res.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in res.output


def test_cli_serves_the_dashboard(db_url, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND_")}
    env.update({"DATABASE_URL": db_url, "TRADEWIND_HOME": str(tmp_path / "home")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewind", "dashboard", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/overview", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        assert r.status_code == 200
        assert r.json()["expected_session"] <= datetime.now(UTC).date().isoformat()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out
    assert "(read-only)" in out


def test_weight_files_are_served_read_only_and_only_by_name(sample_db, test_settings, tmp_path):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    url, _ = sample_db
    folder = tmp_path / "weights" / "dow30_ppo"
    folder.mkdir(parents=True)
    body = b"date,symbol,weight\n2026-11-27,S00,0.1000000000\n"
    (folder / "weights_2026-11-27.csv").write_bytes(body)
    (tmp_path / "secret.txt").write_text("not yours")
    settings = test_settings.model_copy(update={"weights_dir": str(tmp_path / "weights")})
    with TestClient(create_app(url, settings=settings, now=lambda: NOW)) as c:
        r = c.get("/files/weights/dow30_ppo/weights_2026-11-27.csv")
        assert r.status_code == 200 and r.content == body
        assert r.headers["content-type"].startswith("text/csv")
        assert c.get("/files/weights/dow30_ppo/weights_history.csv").status_code == 404
        for bad in ("/files/weights/dow30_ppo/..%2F..%2Fsecret.txt", "/files/weights/../secret.txt",
                    "/files/weights/dow30_ppo/secret.txt", "/files/weights/..%2F/weights_history.csv"):  # fmt: skip
            assert c.get(bad).status_code == 404, bad
        page = c.get("/signals", headers={"accept": "text/html"}).text
        assert 'href="/files/weights/dow30_ppo/weights_2026-11-27.csv"' in page


def test_an_unreachable_warehouse_is_one_line_without_the_password(test_settings):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    port = free_port()  # nothing listens there
    url = f"postgresql://dash:pw-Secret-123@127.0.0.1:{port}/none"
    with TestClient(create_app(url, settings=test_settings, now=lambda: NOW)) as c:
        r = c.get("/api/overview")
        assert r.status_code == 503
        detail = r.json()["detail"]
        assert detail.startswith("cannot connect to postgresql://dash:***@127.0.0.1")
        assert "pw-Secret-123" not in r.text and "\n" not in detail
        page = c.get("/", headers={"accept": "text/html"})
        assert page.status_code == 503 and "pw-Secret-123" not in page.text

    def no_connection() -> str:
        raise RuntimeError("no Airflow connection 'tradewind_warehouse' and no DATABASE_URL")

    app = create_app(settings=test_settings, url_factory=no_connection, now=lambda: NOW)
    with TestClient(app) as c:
        r = c.get("/api/data")
    assert r.status_code == 503 and r.json()["detail"].startswith("no Airflow connection")
