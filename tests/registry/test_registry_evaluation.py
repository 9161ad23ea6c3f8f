"""Evaluations in a real warehouse (real bars, real dbt features): the 1/N returns against an
independent backtest from raw.bars_daily, the stored metrics against empyrical on the stored
daily returns, re-runs replacing, and the report page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import empyrical
import numpy as np
import pandas as pd
import psycopg
import pytest
from registry_helpers import SYMBOLS, WINDOWS, EIIESubject, HoldOne

from tradewind.registry import evaluate_model, evaluate_policy, register_candidate
from tradewind.rl.evaluation import BASELINES, EMPYRICAL_METRICS

pytestmark = pytest.mark.integration


def query(url: str, sql: str, params=None) -> pd.DataFrame:
    with psycopg.connect(url) as c, c.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def daily(url: str, evaluation_id: str) -> pd.DataFrame:
    return query(
        url,
        "select session, net_return, turnover, cost from ml.evaluation_daily "
        "where evaluation_id = %s order by session",
        [evaluation_id],
    ).set_index("session")


def equal_weight_from_raw_bars(url: str, symbols, start, end, bps: float) -> pd.DataFrame:
    """1/N written from scratch: open-to-open, rebalanced daily, bps on turnover, from cash.

    Decision session T (a session with a bar of any of the symbols) holds 1/n of every symbol
    with bars at T, T+1 and T+2, bought at open(T+1) and sold at open(T+2).
    """
    bars = query(
        url,
        "select symbol, session, open from raw.bars_daily where symbol = any(%s)",
        [list(symbols)],
    )
    opens = bars.pivot(index="session", columns="symbol", values="open").sort_index()
    opens = opens.reindex(columns=list(symbols)).astype(float)
    sessions = list(opens.index)
    o = opens.to_numpy()
    held = np.zeros(len(symbols))  # fractions of value in each symbol, cash the rest
    rows = []
    for i, t in enumerate(sessions[:-2]):
        if t < start or t > end:
            continue
        ok = ~np.isnan(o[i]) & ~np.isnan(o[i + 1]) & ~np.isnan(o[i + 2])
        target = np.where(ok, 1.0 / ok.sum(), 0.0) if ok.any() else np.zeros(len(symbols))
        traded = np.abs(target - held).sum()
        cost = traded * bps / 1e4
        rel = np.where(ok, o[i + 2] / np.where(ok, o[i + 1], 1.0), 1.0)
        gross = (target * rel).sum() + (1.0 - target.sum())
        rows.append((t, (1.0 - cost) * gross - 1.0, traded, cost))
        held = target * rel / gross
    return pd.DataFrame(rows, columns=["session", "net_return", "turnover", "cost"]).set_index(
        "session"
    )


def test_equal_weight_matches_an_independent_backtest_from_raw_bars(warehouse: str) -> None:
    subject = HoldOne("KO")
    (result,) = evaluate_policy(warehouse, subject, ["validation"], reports=False)
    got = daily(warehouse, result.baseline_evaluation_ids["1/N"])
    start, end = (dt.date.fromisoformat(d) for d in WINDOWS["validation"])
    ref = equal_weight_from_raw_bars(warehouse, SYMBOLS, start, end, bps=10.0)
    assert list(got.index) == list(ref.index)
    assert got.index[0] == dt.date(2010, 3, 1) and got.index[-1] == dt.date(2010, 7, 30)
    for col in ("net_return", "turnover", "cost"):
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=0, atol=1e-12)
    assert got["turnover"].iloc[0] == pytest.approx(1.0)  # bought from cash on day one
    # The costs are really charged: without them the same days compound to more.
    assert (1 + got["net_return"]).prod() < (1 + got["net_return"] + got["cost"]).prod()


def test_stored_metrics_equal_empyrical_on_the_stored_daily_returns(warehouse: str) -> None:
    mv = register_candidate(warehouse, "eiie", "mem://eiie-0")
    subject = EIIESubject(seed=0)
    ids = evaluate_model(
        warehouse, "eiie", mv.version, loader={"mem://eiie-0": subject}.__getitem__,
        reports=False,
    )  # fmt: skip
    assert len(ids) == 2
    rows = query(warehouse, "select evaluation_id, policy, model_name, metrics, sessions "
                            "from ml.evaluations")  # fmt: skip
    assert len(rows) == 2 * (1 + len(BASELINES))  # model + baselines, validation + test
    for row in rows.itertuples():
        d = daily(warehouse, row.evaluation_id)
        r = d["net_return"].to_numpy()
        assert row.sessions == len(r) and np.isfinite(r).all()
        for key in EMPYRICAL_METRICS:
            expected = float(getattr(empyrical, key)(r))
            stored = row.metrics[key]
            if not np.isfinite(expected):
                assert stored is None, key
            else:
                assert stored == pytest.approx(expected, rel=1e-12, abs=1e-15), (row.policy, key)
        assert row.metrics["turnover"] == pytest.approx(d["turnover"].mean(), rel=1e-12)
        assert row.metrics["hit_rate"] == pytest.approx((r > 0).mean(), rel=1e-12)
    # The model really is its own policy: on each window its days differ from 1/N's.
    for window in ("validation", "test"):
        (model_id,) = query(
            warehouse,
            "select evaluation_id from ml.evaluations where "
            "model_name = 'eiie' and window_name = %s",
            [window],
        ).evaluation_id
        (ew_id,) = query(
            warehouse,
            "select evaluation_id from ml.evaluations where policy = '1/N' and window_name = %s",
            [window],
        ).evaluation_id
        a, b = daily(warehouse, model_id), daily(warehouse, ew_id)
        assert list(a.index) == list(b.index)
        assert not np.allclose(a["net_return"], b["net_return"], rtol=0, atol=1e-6)
    versions = query(warehouse, "select metrics from ml.model_versions")
    assert set(versions.metrics[0]) == {"validation", "test"}


def test_evaluating_twice_replaces_instead_of_duplicating(warehouse: str) -> None:
    mv = register_candidate(warehouse, "hold", "mem://hold-ko")
    loader = {"mem://hold-ko": HoldOne("KO")}.__getitem__
    first = evaluate_model(warehouse, "hold", mv.version, ["validation"], loader=loader,
                           reports=False)  # fmt: skip
    before = query(warehouse, "select evaluation_id, eval_key, metrics from ml.evaluations "
                              "order by eval_key")  # fmt: skip
    n_daily = query(warehouse, "select count(*) as n from ml.evaluation_daily").n[0]
    # Damage the stored numbers: a re-run must put the computed ones back, not skip.
    with psycopg.connect(warehouse) as c:
        c.execute("update ml.evaluation_daily set net_return = 0 where evaluation_id = %s",
                  [first[0]])  # fmt: skip
        c.execute("delete from ml.evaluation_daily where evaluation_id = %s and session = %s",
                  [first[0], dt.date(2010, 3, 1)])  # fmt: skip
    again = evaluate_model(warehouse, "hold", mv.version, ["validation"], loader=loader,
                           reports=False)  # fmt: skip
    after = query(warehouse, "select evaluation_id, eval_key, metrics from ml.evaluations "
                             "order by eval_key")  # fmt: skip
    assert again == first
    assert after.evaluation_id.tolist() == before.evaluation_id.tolist()
    assert after.metrics.tolist() == before.metrics.tolist()
    assert query(warehouse, "select count(*) as n from ml.evaluation_daily").n[0] == n_daily
    d = daily(warehouse, first[0])
    assert d.index[0] == dt.date(2010, 3, 1) and (d["net_return"] != 0).sum() > 0


def test_report_is_one_self_contained_page_with_every_section(warehouse: str) -> None:
    mv = register_candidate(warehouse, "eiie", "mem://eiie-1")
    (evaluation_id,) = evaluate_model(
        warehouse, "eiie", mv.version, ["test"], loader={"mem://eiie-1": EIIESubject(1)}.__getitem__
    )
    (uri,) = query(warehouse, "select report_uri from ml.evaluations where evaluation_id = %s",
                   [evaluation_id]).report_uri  # fmt: skip
    page = Path(uri).read_text()
    for section in ("equity", "drawdown", "rolling-sharpe", "weights", "turnover", "metrics",
                    "config"):  # fmt: skip
        assert f'<section id="{section}">' in page, section
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?!data:)[a-z]+:""", page)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count('src="data:image/png;base64,') == 5
    for name in ("eiie@1", *BASELINES):
        assert f"<th>{name}</th>" in page  # a row of the metrics table per policy
    assert '"fixed_bps": 10.0' in page  # the configuration section
    pngs = sorted(p.name for p in Path(uri).parent.glob("*.png"))
    assert pngs == ["drawdown.png", "equity.png", "rolling_sharpe.png", "turnover.png",
                    "weights.png"]  # fmt: skip
    for png in Path(uri).parent.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Every baseline evaluation has its own page too.
    reports = query(warehouse, "select policy, report_uri from ml.evaluations "
                               "where policy is not null")  # fmt: skip
    assert len(reports) == len(BASELINES) and all(Path(u).is_file() for u in reports.report_uri)


def test_point_in_time_members_only_as_in_training(warehouse: str) -> None:
    """An agent on a universe with point-in-time membership is evaluated, like it is trained,
    with non-members unavailable: 1/N then holds only the Dow members of 2010 among the
    symbols (JPM, KO, MSFT, WMT, XOM; AAPL joined in 2015, CHTR and GM were not members)."""
    from types import SimpleNamespace

    subject = HoldOne("KO")
    subject.agent = SimpleNamespace(universe="DOW30", point_in_time=True)
    (result,) = evaluate_policy(warehouse, subject, ["validation"], reports=False)
    got = daily(warehouse, result.baseline_evaluation_ids["1/N"])
    start, end = (dt.date.fromisoformat(d) for d in WINDOWS["validation"])
    members = ("JPM", "KO", "MSFT", "WMT", "XOM")
    ref = equal_weight_from_raw_bars(warehouse, members, start, end, bps=10.0)
    np.testing.assert_allclose(got["net_return"].to_numpy(), ref["net_return"].to_numpy(),
                               rtol=0, atol=1e-12)  # fmt: skip
    everyone = equal_weight_from_raw_bars(warehouse, SYMBOLS, start, end, bps=10.0)
    assert not np.allclose(got["net_return"], everyone["net_return"], rtol=0, atol=1e-6)
