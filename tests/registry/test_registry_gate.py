"""The promotion gate: the rule on hand-picked numbers, and in a real warehouse with
deterministic policies whose validation ranking the test derives from raw bars itself."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row
from registry_helpers import SYMBOLS, WINDOWS, HoldOne, insert_run

from tradewind.registry import (
    Margins,
    RegistryError,
    after_training,
    decide,
    gate,
    gate_decisions,
    register_candidate,
    resolve,
    set_stage,
)


def m(sharpe):
    return {"sharpe_ratio": sharpe, "annual_return": 0.1}


# --------------------------------------------------------------------------- the rule itself
@pytest.mark.parametrize(
    ("cand", "ew", "prod", "margins", "promote", "says"),
    [
        (1.2, 0.8, None, Margins(), True, "no production version yet"),
        (1.2, 0.8, 1.0, Margins(), True, "beats production v3"),
        (0.9, 0.8, 1.0, Margins(), False, "does not beat production v3"),
        (1.0, 0.8, 1.0, Margins(), False, "does not beat production"),  # a tie is not better
        (0.7, 0.8, None, Margins(), False, "does not beat 1/N"),
        (0.7, 0.8, 0.1, Margins(), False, "does not beat 1/N"),  # better than prod, not 1/N
        (1.2, 0.8, 1.0, Margins(over_production=0.25), False, "by more than 0.25"),
        (1.3, 0.8, 1.0, Margins(over_production=0.25), True, "margin 0.25"),
        (1.2, 0.8, None, Margins(over_equal_weight=0.5), False, "by more than 0.5"),
        (1.4, 0.8, None, Margins(over_equal_weight=0.5), True, "margin 0.5"),
        (None, 0.8, None, Margins(), False, "no finite validation sharpe_ratio"),
        (float("nan"), 0.8, None, Margins(), False, "no finite"),
        (1.0, None, None, Margins(), False, "1/N has no finite"),
    ],
)
def test_decide(cand, ew, prod, margins, promote, says) -> None:
    d = decide(m(cand), m(ew), None if prod is None else m(prod), margins, production_version=3)
    assert d.promote is promote
    assert says in d.reason
    assert d.decision == ("promoted" if promote else "refused")


def test_decide_other_metric_and_bad_settings() -> None:
    margins = Margins(metric="annual_return")
    assert decide({"annual_return": 0.2}, {"annual_return": 0.1}, None, margins).promote
    assert not decide({"annual_return": 0.05}, {"annual_return": 0.1}, None, margins).promote
    with pytest.raises(RegistryError, match="gate metric must be one of"):
        Margins(metric="annual_volatility")  # lower is better: not a gate metric
    with pytest.raises(RegistryError, match=">= 0"):
        Margins(over_production=-1)


def test_margins_come_from_settings(monkeypatch) -> None:
    from tradewind.settings import Settings

    monkeypatch.setenv("TRADEWIND_GATE_MARGIN_PRODUCTION", "0.3")
    monkeypatch.setenv("TRADEWIND_GATE_METRIC", "sortino_ratio")
    got = Margins.from_settings(Settings(_env_file=None))
    assert got == Margins(metric="sortino_ratio", over_production=0.3, over_equal_weight=0.0)


# --------------------------------------------------------------------------- in a warehouse
def sharpe_by_symbol_from_raw_bars(url: str) -> dict[str, float]:
    """Validation Sharpe of holding each symbol alone, open(T+1)->open(T+2), from raw bars
    (a ranking the test derives itself; costs are one trade and do not change it much)."""
    with psycopg.connect(url) as c:
        rows = c.execute(
            "select symbol, session, open from raw.bars_daily where symbol = any(%s) "
            "order by symbol, session",
            [list(SYMBOLS)],
        ).fetchall()
    start, end = (dt.date.fromisoformat(d) for d in WINDOWS["validation"])
    out = {}
    for sym in SYMBOLS:
        s = [(d, o) for s_, d, o in rows if s_ == sym]
        r = [s[i + 2][1] / s[i + 1][1] - 1 for i in range(len(s) - 2) if start <= s[i][0] <= end]
        if len(r) > 20:
            out[sym] = float(np.mean(r) / np.std(r, ddof=1) * np.sqrt(252))
    return out


@pytest.fixture
def ranked(warehouse: str) -> list[str]:
    ranking = sharpe_by_symbol_from_raw_bars(warehouse)
    return sorted(ranking, key=ranking.get, reverse=True)


def stage(url: str, name: str) -> dict[int, str]:
    with psycopg.connect(url) as c:
        return dict(
            c.execute(
                "select version, stage from ml.model_versions where model_name = %s", [name]
            ).fetchall()
        )


@pytest.mark.integration
def test_gate_promotes_better_refuses_worse_and_keeps_one_production(
    warehouse: str, ranked: list[str]
) -> None:
    best, second, worst = ranked[0], ranked[1], ranked[-1]
    subjects = {f"mem://{s}": HoldOne(s) for s in (best, second, worst)}
    loader = subjects.__getitem__

    # v1 holds the worst symbol: below 1/N, refused, stays a candidate.
    v1 = register_candidate(warehouse, "picker", f"mem://{worst}")
    d1 = gate(warehouse, "picker", v1.version, loader=loader, reports=False)
    assert not d1.promote and "does not beat 1/N" in d1.reason
    assert d1.candidate < d1.equal_weight
    # v2 holds the second best: above 1/N, no production yet -> promoted.
    v2 = register_candidate(warehouse, "picker", f"mem://{second}")
    d2 = gate(warehouse, "picker", v2.version, loader=loader, reports=False)
    assert d2.promote, d2.reason
    assert stage(warehouse, "picker") == {1: "candidate", 2: "production"}
    # v3 holds the best: beats production v2 and 1/N -> promoted, v2 archived.
    v3 = register_candidate(warehouse, "picker", f"mem://{best}")
    d3 = gate(warehouse, "picker", v3.version, loader=loader, reports=False)
    assert d3.promote and d3.production_version == 2 and d3.candidate > d3.production
    assert stage(warehouse, "picker") == {1: "candidate", 2: "archived", 3: "production"}
    # v4 is the second best again: above 1/N but not above production v3 -> refused.
    v4 = register_candidate(warehouse, "picker", f"mem://{second}")
    d4 = gate(warehouse, "picker", v4.version, loader=loader, reports=False)
    assert not d4.promote and "does not beat production v3" in d4.reason
    # v5 = the best again, same numbers as production: a tie is refused, and with a margin too.
    v5 = register_candidate(warehouse, "picker", f"mem://{best}")
    d5 = gate(warehouse, "picker", v5.version, loader=loader, reports=False,
              margins=Margins(over_equal_weight=0.0, over_production=0.0))  # fmt: skip
    assert not d5.promote and d5.candidate == pytest.approx(d5.production)
    assert resolve(warehouse, "picker").version == 3

    # Every decision is stored with its reason and numbers, promoted or refused.
    decisions = gate_decisions(warehouse, "picker")
    assert [(r["version"], r["decision"]) for r in decisions] == [
        (1, "refused"), (2, "promoted"), (3, "promoted"), (4, "refused"), (5, "refused")
    ]  # fmt: skip
    assert all(r["reason"] and r["window_name"] == "validation" for r in decisions)
    assert decisions[2]["production_version"] == 2
    # The stored numbers are the stored validation evaluations' metrics.
    with psycopg.connect(warehouse) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select model_version, (metrics->>'sharpe_ratio')::float8 as s from ml.evaluations "
            "where model_name = 'picker' and window_name = 'validation'"
        )
        stored = {r["model_version"]: r["s"] for r in cur.fetchall()}
        cur.execute("select to_stage, changed_by, reason from ml.model_stage_changes "
                    "where model_name = 'picker' and version = 2 order by change_id")  # fmt: skip
        history = cur.fetchall()
    assert decisions[1]["candidate_value"] == pytest.approx(stored[2], rel=1e-12)
    assert [h["to_stage"] for h in history] == ["candidate", "production", "archived"]
    assert history[1]["changed_by"] == "gate" and history[2]["reason"] == "replaced by version 3"


@pytest.mark.integration
def test_gate_margins_refuse_a_candidate_that_wins_by_too_little(
    warehouse: str, ranked: list[str]
) -> None:
    loader = {"mem://best": HoldOne(ranked[0])}.__getitem__
    v = register_candidate(warehouse, "picker", "mem://best")
    strict = gate(warehouse, "picker", v.version, loader=loader, reports=False,
                  margins=Margins(over_equal_weight=50.0))  # fmt: skip
    assert not strict.promote and "by more than 50" in strict.reason
    margin = (strict.candidate - strict.equal_weight) * 0.5  # half the real lead: passes
    again = gate(warehouse, "picker", v.version, loader=loader, reports=False,
                 margins=Margins(over_equal_weight=margin))  # fmt: skip
    assert again.promote
    with pytest.raises(RegistryError, match="not a candidate"):
        gate(warehouse, "picker", v.version, loader=loader, reports=False)


@pytest.mark.integration
def test_production_is_judged_on_the_candidates_window(warehouse: str, ranked: list[str]) -> None:
    """A production version without an evaluation on the candidate's validation window is
    evaluated there first, so both are compared on the same sessions."""
    other = HoldOne(ranked[0])
    other.manifest = {**other.manifest, "windows": {**WINDOWS,
                      "validation": ["2010-02-01", "2010-04-30"]}}  # fmt: skip
    cand = HoldOne(ranked[1])
    loader = {"mem://p": other, "mem://c": cand}.__getitem__
    p = register_candidate(warehouse, "picker", "mem://p")
    set_stage(warehouse, "picker", p.version, "production", by="alice", reason="seed")
    c = register_candidate(warehouse, "picker", "mem://c")
    d = gate(warehouse, "picker", c.version, loader=loader, reports=False)
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "select model_version, start_session, end_session, "
            "(metrics->>'sharpe_ratio')::float8 from ml.evaluations "
            "where model_name = 'picker' order by model_version"
        ).fetchall()
    assert [(r[0], str(r[1]), str(r[2])) for r in rows] == [
        (1, "2010-03-01", "2010-07-30"), (2, "2010-03-01", "2010-07-30")
    ]  # fmt: skip
    assert d.production == pytest.approx(rows[0][3]) and d.candidate == pytest.approx(rows[1][3])
    assert not d.promote  # the second best never beats the best on the same sessions


@pytest.mark.integration
def test_after_training_registers_evaluates_gates_once(warehouse: str, ranked: list[str]) -> None:
    loader = {"mem://run": HoldOne(ranked[0])}.__getitem__
    run_id = insert_run(warehouse, "picker", "mem://run")
    lines: list[str] = []
    first = after_training(warehouse, run_id, loader=loader, progress=lines.append)
    assert first.version.ref == "picker@1" and first.version.run_id == run_id
    assert set(first.evaluation_ids) == {"validation", "test"}
    assert set(first.baseline_evaluation_ids["test"]) == {
        "1/N", "buy_and_hold", "min_variance", "momentum"
    }  # fmt: skip
    assert first.decision.promote and first.version.stage == "production"
    assert any("registered picker@1" in s for s in lines)
    assert any("validation" in s and "Sharpe" in s for s in first.lines())
    assert all(Path(u).is_file() for u in first.report_uris.values())
    # Once more for the same run: same version and evaluations, no second decision.
    with psycopg.connect(warehouse) as c:
        before = c.execute("select count(*) from ml.evaluation_daily").fetchone()[0]
    second = after_training(warehouse, run_id, loader=loader, reports=False)
    assert second.version.version == 1 and second.evaluation_ids == first.evaluation_ids
    assert len(gate_decisions(warehouse, "picker")) == 1
    with psycopg.connect(warehouse) as c:
        assert c.execute("select count(*) from ml.model_versions").fetchone()[0] == 1
        assert c.execute("select count(*) from ml.evaluation_daily").fetchone()[0] == before
    # A failed run never becomes a candidate.
    failed = insert_run(warehouse, "picker", "mem://run", status="failed")
    with pytest.raises(RegistryError, match="is failed: only a succeeded run"):
        after_training(warehouse, failed, loader=loader, reports=False)


@pytest.mark.integration
def test_a_test_window_without_data_does_not_block_registration(warehouse: str) -> None:
    subject = HoldOne("KO")
    subject.manifest = {**subject.manifest,
                        "windows": {**WINDOWS, "test": ["2012-01-03", "2012-06-29"]}}  # fmt: skip
    run_id = insert_run(warehouse, "later", "mem://later")
    got = after_training(warehouse, run_id, loader={"mem://later": subject}.__getitem__,
                         reports=False)  # fmt: skip
    assert set(got.evaluation_ids) == {"validation"}
    assert got.warnings == [
        "test not evaluated: later@1 on test: no sessions between 2012-01-03 and 2012-06-29"
    ]
    assert any(line.startswith("warning: test not evaluated") for line in got.lines())
    assert got.decision.decision in ("promoted", "refused")
    assert len(gate_decisions(warehouse, "later")) == 1
