"""The command line: plan and summary output, one-line refusals, and no secret anywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from trading_helpers import SECRET, T1, T
from typer.testing import CliRunner

from tradewind.cli import app
from tradewind.settings import reset_settings_cache

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_rebalance_reconcile_status_and_no_secret_anywhere(emu, warehouse, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    dry = run("-v", "rebalance", "--date", str(T), "--broker", "alpaca", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "plan for 2015-03-26" in dry.output and "dry run" in dry.output
    assert [r for r in emu.requests_for("alpaca_trading") if r.method == "POST"] == []
    real = run("-v", "rebalance", "--date", str(T), "--broker", "alpaca")
    assert real.exit_code == 0, real.output
    assert "4 order(s) sent, 0 already at the broker" in real.output
    emu.fill_open_orders(session=str(T1))
    emu.set_time("2015-03-27 10:00")
    rec = run("-v", "reconcile", "--date", str(T), "--broker", "alpaca")
    assert rec.exit_code == 0, rec.output
    assert "reconciliation of 2015-03-26 after the open of 2015-03-27" in rec.output
    assert "4 fill(s)" in rec.output
    st = run("broker", "status", "--broker", "alpaca")
    assert st.exit_code == 0 and "no open orders" in st.output and "AAA" in st.output

    # Secrets: not in any output or log line, any warehouse row, or any file written.
    texts = [dry.output, real.output, rec.output, st.output, caplog.text]
    with psycopg.connect(warehouse) as c:
        tables = c.execute(
            "select table_schema, table_name from information_schema.tables where "
            "table_schema in ('raw', 'signals', 'broker', 'ops', 'ml', 'features')"
        ).fetchall()
        assert ("broker", "orders") in tables
        for schema, table in tables:
            rows = c.execute(f'select row_to_json(t)::text from "{schema}"."{table}" t').fetchall()
            texts.extend(r[0] for r in rows)
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    assert len(texts) > 20
    for t in texts:
        assert SECRET not in t
    assert any("tw-20150326-AAA-b-" in t for t in texts)  # the grep ran over real records
    # the secret was really sent (the emulator checks it) and its request log redacted it
    sent = [
        v for r in emu.requests for k, v in r.headers.items() if k.lower() == "apca-api-secret-key"
    ]
    assert sent and set(sent) == {"***"}


def test_refusals_are_one_line(emu, warehouse, monkeypatch):
    monkeypatch.setenv("TRADEWIND_TRADING_KILL_SWITCH", "true")
    reset_settings_cache()
    res = runner.invoke(app, ["rebalance", "--date", str(T), "--broker", "alpaca"])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert lines == ["error: risk check failed, nothing sent: the kill switch is on "
                     "(TRADEWIND_TRADING_KILL_SWITCH=true)"]  # fmt: skip
    monkeypatch.setenv("TRADEWIND_TRADING_KILL_SWITCH", "false")
    monkeypatch.setenv("TRADEWIND_ALPACA_TRADING_URL", "https://api.alpaca.markets")
    reset_settings_cache()
    res = runner.invoke(app, ["rebalance", "--date", str(T), "--broker", "alpaca"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert "refusing the live trading endpoint api.alpaca.markets" in res.output
    res = runner.invoke(app, ["rebalance", "--date", "2015-04-03", "--broker", "sim"])
    assert res.exit_code == 1 and "not an NYSE session" in res.output
    res = runner.invoke(app, ["rebalance", "--date", str(T), "--broker", "ib"])
    assert res.exit_code == 1 and "unknown broker 'ib'" in res.output
    res = runner.invoke(app, ["reconcile", "--date", str(T), "--broker", "sim"])
    assert res.exit_code == 0  # nothing was traded: an empty report, not an error


def test_simulated_day_through_the_cli(warehouse):
    res = run("rebalance", "--date", str(T), "--broker", "sim")
    assert res.exit_code == 0, res.output
    assert "4 order(s) sent" in res.output and "expected cost 0.0800%" in res.output
    st = run("broker", "status", "--broker", "sim")
    assert st.exit_code == 0 and "open orders" in st.output and "tw-20150326-AAA-b-" in st.output
    rec = run("reconcile", "--date", str(T), "--broker", "sim")
    assert rec.exit_code == 0, rec.output
    assert "4 fill(s)" in rec.output and "0 order(s) not (fully) filled" in rec.output
    st = run("broker", "status", "--broker", "sim")
    assert st.exit_code == 0 and "no open orders" in st.output
    for sym in ("AAA", "BBB", "CCC", "DDD"):
        assert sym in st.output


def test_wrong_keys_are_one_line_without_the_secret(emu, warehouse, monkeypatch):
    monkeypatch.setenv("APCA_API_SECRET_KEY", "wrong-" + SECRET)
    reset_settings_cache()
    res = runner.invoke(app, ["rebalance", "--date", str(T), "--broker", "alpaca"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()  # a progress line on stderr, then the error
    assert lines[-1] == "error: Alpaca refused the account request: HTTP 401 unauthorized."
    assert "Traceback" not in res.output and SECRET not in res.output
