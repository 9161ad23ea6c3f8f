"""The portfolio page on records written by the real trading code: ``tradewind rebalance`` and
``tradewind reconcile`` against the simulated broker, three sessions in a row, on the sample
warehouse's bars and target weights. The paper equity the dashboard shows must follow the
backtest of the same weights it shows, apart from the costs the broker charged."""

from __future__ import annotations

import pytest
from dashboard_testlib import NOW, SAMPLE_END

from tradewind import calendar

pytestmark = pytest.mark.integration


def test_paper_equity_follows_the_backtest_of_its_weights(tw_env, test_settings):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from tradewind.cli import app as cli
    from tradewind.dashboard.app import create_app
    from tradewind.dashboard.sample import write_sample

    sample = write_sample(tw_env, end=SAMPLE_END)
    model = "dow30_ppo"
    days = [calendar.session_offset(SAMPLE_END, k) for k in (-5, -4, -3)]
    for d in days:
        for args in (["rebalance", "--date", d.isoformat(), "--broker", "sim", "--model", model],
                     ["reconcile", "--date", d.isoformat(), "--broker", "sim"]):  # fmt: skip
            res = CliRunner().invoke(cli, args)
            assert res.exit_code == 0, (args, res.output[-2000:])

    with TestClient(create_app(tw_env, settings=test_settings, now=lambda: NOW)) as c:
        p = c.get("/api/portfolio", params={"account": "sim", "model": model}).json()
        html = c.get("/portfolio?account=sim", headers={"accept": "text/html"}).text
    assert p["account"]["broker"] == "sim" and p["model"] == model
    # Snapshots as of T+1 of every reconciled session, and its reconciliation reports.
    assert [e["session"] for e in p["equity"]] == [
        calendar.session_offset(d, 1).isoformat() for d in days
    ]
    assert [r["as_of_session"] for r in p["reconciliations"]] == [
        d.isoformat() for d in reversed(days)
    ]
    recs = p["reconciliations"]
    assert all(0 < r["fills"] <= len(sample.symbols) and r["unfilled"] == 0 for r in recs), recs
    assert [r["status"] for r in p["rebalance_runs"]] == ["submitted"] * 3
    # The backtest line starts on the first snapshot and moves with the account: each day's
    # change equals the account's within the costs the broker charged that day (fees < 0.2%).
    acct = {e["session"]: e["equity"] for e in p["equity"]}
    back = {b["realised_session"]: b["value"] for b in p["backtest"]}
    first = p["equity"][0]["session"]
    assert back[first] == pytest.approx(acct[first], rel=1e-12)
    for prev, nxt in zip(p["equity"], p["equity"][1:], strict=False):
        a = acct[nxt["session"]] / acct[prev["session"]]
        b = back[nxt["session"]] / back[prev["session"]]
        assert a == pytest.approx(b, abs=2e-3), (nxt["session"], a, b)
    # The simulated broker fills at the open: slippage against the open is zero.
    assert p["slippage"] and all(abs(s["bps"]) < 1e-6 for s in p["slippage"])
    assert "paper account" in html and "backtest of dow30_ppo weights" in html
