"""The JSON API against a real PostgreSQL holding runs, evaluations, signals and broker records
(tradewind.dashboard.sample). Expectations are computed from the raw arrays the sample wrote,
with numpy and the NYSE calendar, never through the dashboard's SQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from dashboard_testlib import NOW

from tradewind import calendar

pytestmark = pytest.mark.integration

PAGES = ("/", "/models", "/models/dow30_ppo", "/signals", "/portfolio", "/data")
APIS = ("/api/overview", "/api/models", "/api/models/dow30_ppo", "/api/signals",
        "/api/portfolio", "/api/data")  # fmt: skip


def test_every_page_and_api_answers(client):
    for path in PAGES:
        r = client.get(path, headers={"accept": "text/html"})
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in r.headers["content-security-policy"]
    for path in APIS:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"] == "application/json"


def test_openapi_describes_every_api_route(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/overview", "/api/models", "/api/models/{name}", "/api/signals",
            "/api/portfolio", "/api/data"} <= set(spec["paths"])  # fmt: skip
    assert all(not p.startswith("/static") for p in spec["paths"])


def test_plotly_is_served_by_the_app(client):
    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200 and len(r.content) > 1_000_000
    assert b"plotly.js" in r.content[:2000]


def _signal_returns(sample, model):
    """Gross return of the weights of each paper session T: open(T+1) -> open(T+2), numpy."""
    idx = {d: i for i, d in enumerate(sample.sessions)}
    w = sample.weights[model]
    out = {}
    for i, d in enumerate(sample.paper_sessions):
        k = idx[d]
        if k + 2 >= len(sample.sessions):
            continue
        o1, o2 = sample.opens[k + 1], sample.opens[k + 2]
        ok = np.isfinite(o1) & np.isfinite(o2)
        if ok.any():
            out[d.isoformat()] = float(np.sum(w[i][ok] * (o2[ok] / o1[ok] - 1)))
    return out


def test_portfolio_backtest_equals_numpy_on_the_raw_opens(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/portfolio").json()
    model = next(iter(sample.models))
    assert d["model"] == model and d["account"]["account_id"] == "PAPER-1"
    want = _signal_returns(sample, model)
    got = {b["session"]: b["gross_return"] for b in d["backtest"]}
    # From the account's first snapshot (dated T+2 of the first weights) to the last session
    # whose return is known (the last two have none yet).
    first_session = d["equity"][0]["session"]
    keys = sorted(k for k in want if calendar.session_offset(k, 2).isoformat() >= first_session)
    assert sorted(got) == keys
    np.testing.assert_allclose([got[k] for k in keys], [want[k] for k in keys],
                               rtol=1e-9, atol=1e-12)  # fmt: skip
    # The backtest line starts at the account's first equity and compounds the same returns.
    first = d["equity"][0]["equity"]
    values = first * np.cumprod([1.0] + [1 + want[k] for k in keys[1:]])
    np.testing.assert_allclose([b["value"] for b in d["backtest"]], values, rtol=1e-9)
    # Drawdown of the account from its own equity series.
    eq = np.array([e["equity"] for e in d["equity"]])
    np.testing.assert_allclose([e["drawdown"] for e in d["equity"]],
                               eq / np.maximum.accumulate(eq) - 1, atol=1e-12)  # fmt: skip


def test_portfolio_slippage_against_the_fill_session_open(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/portfolio").json()
    idx = {s: i for i, s in enumerate(sample.sessions)}
    col = {s: j for j, s in enumerate(sample.symbols)}
    # The sample fills buys 4 bps above the open and sells 2 bps below it: both cost money.
    per_session: dict[str, list[tuple[float, float]]] = {}
    for f in client.get("/api/portfolio").json()["fills"]:
        day = calendar.to_date(f["filled_at"])
        ref = sample.opens[idx[day], col[f["symbol"]]]
        sign = 1 if f["side"] == "buy" else -1
        per_session.setdefault(day.isoformat(), []).append(
            (f["qty"] * f["price"], sign * (f["price"] / ref - 1) * 1e4)
        )
    got = {s["session"]: s["bps"] for s in d["slippage"]}
    for day, items in per_session.items():  # fills listed are the latest 200
        n = np.array([a for a, _ in items])
        b = np.array([b for _, b in items])
        if day in got and len(items) == next(
            s["fills"] for s in d["slippage"] if s["session"] == day
        ):
            np.testing.assert_allclose(got[day], float((n * b).sum() / n.sum()), rtol=1e-9)
    assert all(2 - 1e-6 <= v <= 4 + 1e-6 for v in got.values())


def test_model_detail_metrics_curves_and_baselines(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/models/dow30_ppo").json()
    version = sample.models["dow30_ppo"]
    assert d["version"] == version  # the production version by default
    subjects = {(e["subject"], e["window_name"]) for e in d["evaluations"]}
    for w in ("validation", "test"):
        assert (f"dow30_ppo v{version}", w) in subjects
        for p in ("1/N", "buy_and_hold", "min_variance", "momentum"):
            assert (p, w) in subjects
    for e in d["evaluations"]:
        r = sample.daily[e["evaluation_id"]]
        c = d["curves"][e["evaluation_id"]]
        eq = np.cumprod(1 + r)
        np.testing.assert_allclose(c["equity"], eq, rtol=1e-9)
        np.testing.assert_allclose(c["drawdown"], eq / np.maximum.accumulate(eq) - 1, atol=1e-12)
        assert c["sessions"] == [
            s.isoformat() for s in sample.eval_meta[e["evaluation_id"]]["sessions"]
        ]
    # Live: the model's own weights on realised returns, compounded.
    want = _signal_returns(sample, "dow30_ppo")
    np.testing.assert_allclose(d["live"][-1]["equity"],
                               np.prod([1 + want[k] for k in sorted(want)]), rtol=1e-9)  # fmt: skip
    # Weights heatmap: the last 250 sessions, symbols x sessions, as written.
    grid = d["weights"]
    assert grid["sessions"] == [s.isoformat() for s in sample.paper_sessions[-250:]]
    assert grid["symbols"] == sample.symbols
    np.testing.assert_allclose(
        np.array(grid["z"]).T, sample.weights["dow30_ppo"][-250:], atol=1e-12
    )
    assert [g["decision"] for g in d["gate_decisions"]] == ["promoted"]
    assert {v["stage"] for v in d["versions"]} == {"production", "candidate"}
    assert all(len(t["history"]) == 25 for t in d["training_curves"])


def test_models_index_counts_runs_by_agent(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/models").json()
    assert sum(a["runs"] for a in d["agents"]) == sample.runs == 50
    assert len(d["runs"]) == 50
    failed = [r for r in d["runs"] if r["status"] == "failed"]
    assert failed and all(r["error"] for r in failed)
    assert all("validation_history" not in r["metrics"] for r in d["runs"])  # series left out
    assert all(r["metrics"]["iterations"] == 125 for r in d["runs"])
    prod = {m["model_name"]: m["production_version"] for m in d["models"]}
    assert {k: v for k, v in prod.items() if v} == sample.models


def test_signals_latest_weights_and_lateness(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/signals", params={"model": "sp100_ppo"}).json()
    assert d["model"] == "sp100_ppo"
    latest = {m["model_name"]: m for m in d["latest"]}
    assert set(latest) == set(sample.models)
    last = latest["sp100_ppo"]
    assert last["as_of_session"] == sample.paper_sessions[-1].isoformat()
    got = {w["symbol"]: w["weight"] for w in last["weights"]}
    np.testing.assert_allclose([got[s] for s in sample.symbols], sample.weights["sp100_ppo"][-1])
    np.testing.assert_allclose(last["cash"], 1 - sample.weights["sp100_ppo"][-1].sum())
    # Lateness: hours after the NYSE close (13:00 on half days) the weights were written.
    hours = {x["session"]: x["hours_after_close"] for x in d["lateness"]}
    for i, s in enumerate(sample.paper_sessions[-120:], start=len(sample.paper_sessions) - 120):
        late = 3.0 if i % 60 == 13 else 0.0
        assert hours[s.isoformat()] == pytest.approx(5.5 + late + (i % 7) / 60, abs=1e-6)
    assert len(d["history"]["sessions"]) == 120
    assert d["generations"] and d["generations"][0]["as_of_session"] == last["as_of_session"]


def test_data_coverage_and_gaps_from_the_calendar(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/data").json()
    cal = calendar.sessions(sample.sessions[0], sample.sessions[-1])
    per_month = Counter(s.strftime("%Y-%m") for s in cal)
    assert d["coverage"]["months"] == sorted(per_month)
    j = sample.symbols.index("S03")
    have = Counter(s.strftime("%Y-%m") for s, o in zip(sample.sessions, sample.opens[:, j],
                                                       strict=True) if np.isfinite(o))  # fmt: skip
    row = d["coverage"]["z"][d["coverage"]["symbols"].index("S03")]
    want = [round(have[m] / per_month[m], 3) for m in sorted(per_month)]
    assert row == pytest.approx(want, abs=1e-9)
    gaps = {g["symbol"]: g["missing"] for g in d["gaps"]}
    assert gaps == {"S03": 10}
    assert len(d["quarantine"]) == 40 and all(q["reasons"] for q in d["quarantine"])
    assert {w["kind"] for w in d["warnings_by_kind"]} == {"zero_volume", "large_jump"}
    assert [(r["symbol"], r["history_version"]) for r in d["restatements"]] == [("S05", 2)]


def test_overview_chain_is_green_on_the_evening_of_the_last_session(client, sample_db):
    _, sample = sample_db
    d = client.get("/api/overview").json()
    assert d["expected_session"] == sample.sessions[-1].isoformat()
    status = {s["step"]: (s["status"], s["last_session"]) for s in d["chain"]}
    last = sample.sessions[-1].isoformat()
    assert status == {
        "bars ingested": ("green", last),
        "features built": ("green", last),
        "signals written": ("green", last),
        "orders sent and filled": ("green", last),
    }
    assert d["quarantine"]["total"] == 40
    assert {m["model_name"] for m in d["production_models"]} == set(sample.models)
    for m in d["production_models"]:
        want = _signal_returns(sample, m["model_name"])
        assert m["live"]["total_return"] == pytest.approx(
            np.prod([1 + want[k] for k in sorted(want)]) - 1, rel=1e-9
        )


def test_chain_grades_a_stale_warehouse_amber_then_red(sample_db, test_settings):
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    url, sample = sample_db
    last = sample.sessions[-1]
    for sessions_later, colour in ((1, "amber"), (3, "red")):
        later = calendar.session_offset(last, sessions_later)
        now = calendar.session_close_utc(later) + timedelta(hours=2)
        app = create_app(url, settings=test_settings, now=lambda now=now: now)
        with TestClient(app) as c:
            chain = c.get("/api/overview").json()["chain"]
        assert {s["status"] for s in chain} == {colour}
        assert {s["sessions_behind"] for s in chain} == {sessions_later}


def test_unknown_model_is_a_404_with_one_line(client):
    r = client.get("/api/models/nope")
    assert r.status_code == 404 and r.json() == {"detail": "no model or agent named 'nope'"}
    page = client.get("/models/nope", headers={"accept": "text/html"})
    assert page.status_code == 404 and "no model or agent named" in page.text


def test_an_empty_warehouse_renders_every_page(db_url, test_settings):
    """Freshly migrated, nothing loaded: every query runs against the final migrations' columns
    and every page says what is missing instead of failing."""
    from fastapi.testclient import TestClient

    from tradewind.dashboard.app import create_app

    with TestClient(create_app(db_url, settings=test_settings, now=lambda: NOW)) as c:
        for path in PAGES:
            if path.startswith("/models/"):
                continue  # no model yet: a 404, below
            r = c.get(path, headers={"accept": "text/html"})
            assert r.status_code == 200, (path, r.text[:500])
        chain = c.get("/api/overview").json()["chain"]
        assert {s["status"] for s in chain} == {"red"}
        assert c.get("/api/models/anything").status_code == 404
        assert "no paper account snapshots yet" in c.get("/portfolio").text


def test_baselines_match_the_models_symbols_and_costs(client, sample_db):
    """A later 1/N evaluation of other symbols on the same window (another universe) is not
    shown next to the model."""
    import uuid

    import psycopg

    url, sample = sample_db
    decoy = str(uuid.uuid4())
    meta = next(m for m in sample.eval_meta.values() if m["policy"] == "1/N")
    with psycopg.connect(url) as c:
        c.execute(
            "insert into ml.evaluations (evaluation_id, eval_key, policy, window_name,"
            " start_session, end_session, symbols, costs, sessions, metrics)"
            " values (%s, 'decoy', '1/N', %s, %s, %s, %s, '{\"fixed_bps\": 10.0}', 1,"
            " '{\"sharpe_ratio\": 99}')",
            (decoy, meta["window"], meta["sessions"][0], meta["sessions"][-1], ["OTHER"]),
        )
    try:
        evals = client.get("/api/models/dow30_ppo").json()["evaluations"]
        assert decoy not in {e["evaluation_id"] for e in evals}
        assert all(e["metrics"].get("sharpe_ratio") != 99 for e in evals)
        assert sum(e["subject"] == "1/N" for e in evals) == 2
    finally:
        with psycopg.connect(url) as c:
            c.execute("delete from ml.evaluations where evaluation_id = %s", (decoy,))
