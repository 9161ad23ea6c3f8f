"""Signal generation end to end: real warehouse, real dbt features, a real trained tiny agent.

Independent references: the environment's evaluation of the same model version
(``tradewind.rl.evaluation.backtest`` over ``PortfolioEnv``) for the weights, the files read
back byte by byte and with pandas, and sha256 computed here for the records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from signals_testlib import MODEL, SYMBOLS, build_features

pytestmark = pytest.mark.integration

# Inside the tiny agent's test window, with bars two sessions ahead (the env needs its label).
A, B = dt.date(2019, 3, 1), dt.date(2019, 3, 29)
N = 21  # NYSE sessions in March 2019


def stored(url: str, session: dt.date | None = None) -> pd.DataFrame:
    with psycopg.connect(url) as c:
        rows = c.execute(
            "select as_of_session, model_name, model_version, symbol, weight, created_at "
            "from signals.target_weights where %(d)s::date is null or as_of_session = %(d)s "
            "order by 1, 2, 3, 4",
            {"d": session},
        ).fetchall()
    return pd.DataFrame(
        rows, columns=["session", "model", "version", "symbol", "weight", "created_at"]
    )


def generations(url: str) -> pd.DataFrame:
    with psycopg.connect(url) as c:
        cur = c.execute("select * from signals.generations order by generation_id")
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.is_file()}


def env_weights(url: str, artifact_uri: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The environment's evaluation of the model over [start, end], from all cash."""
    from tradewind.rl.artifacts import load_policy
    from tradewind.rl.data import load_market_data
    from tradewind.rl.evaluation import backtest

    policy = load_policy(artifact_uri)
    data = load_market_data(
        url, list(policy.symbols), start, end + dt.timedelta(days=7), policy.features,
        warmup_sessions=policy.window + 5,
    )  # fmt: skip
    bt = backtest(data, policy.env_config, policy, name=MODEL, window_name="check",
                  start=start, end=end)  # fmt: skip
    w = bt.weights
    w.index = [d.date() for d in w.index]
    return w


def test_backfill_equals_the_environments_evaluation(signals_env, signals_warehouse, tmp_path):
    from tradewind.signals import generate, read_weights

    results = generate(start=A, end=B, model=MODEL)
    (res,) = results
    assert res.status == "written" and res.version == 1 and len(res.sessions) == N
    expected = env_weights(signals_env, signals_warehouse.artifact_uri, A, B)
    assert list(expected.index) == res.sessions
    got = stored(signals_env).pivot(index="session", columns="symbol", values="weight")
    assert list(got.columns) == sorted(SYMBOLS)
    for sym in SYMBOLS:
        np.testing.assert_allclose(got[sym].to_numpy(), expected[f"w_{sym}"].to_numpy(),
                                   rtol=0, atol=1e-12)  # fmt: skip
    # The agent is not 1/N: the comparison would catch a chain started from the wrong weights.
    assert np.abs(got.to_numpy() - 1 / 7).max() > 1e-6

    # The next session alone, chained on the stored weights of B, is the env's next step too.
    nxt = dt.date(2019, 4, 1)
    generate(date=nxt, model=MODEL)
    longer = env_weights(signals_env, signals_warehouse.artifact_uri, A, nxt)
    one = stored(signals_env, nxt).set_index("symbol")["weight"]
    for sym in SYMBOLS:
        assert abs(one[sym] - longer.loc[nxt, f"w_{sym}"]) < 1e-12

    # Files: what the warehouse holds, to the written precision, under Quantopian's rules.
    folder = tmp_path / "weights" / MODEL
    hist = read_weights(str(folder))
    assert list(hist.columns) == ["date", "symbol", "weight"]
    assert sorted(set(hist["date"])) == [*res.sessions, nxt]
    assert (hist.groupby("date")["symbol"].apply(list) == [sorted(SYMBOLS)] * (N + 1)).all()
    merged = hist.merge(stored(signals_env), left_on=["date", "symbol"],
                        right_on=["session", "symbol"])  # fmt: skip
    assert len(merged) == (N + 1) * len(SYMBOLS)
    assert np.abs(merged["weight_x"] - merged["weight_y"]).max() <= 1e-10
    assert (hist.groupby("date")["weight"].sum() <= 1.0).all()
    day = read_weights(str(folder), date=A)
    assert (day["date"] == A).all() and len(day) == len(SYMBOLS)
    text = (folder / f"weights_{A}.csv").read_text()
    assert text.splitlines()[0] == "date,symbol,weight"
    assert text.splitlines()[1].startswith(f"{A.isoformat()},AAPL,0.")


def test_rerun_changes_nothing_and_files_are_byte_identical(signals_env, tmp_path):
    from tradewind.signals import generate

    generate(start=A, end=B, model=MODEL)
    before_rows = stored(signals_env)
    folder = tmp_path / "weights" / MODEL
    before_files = files_of(folder)
    assert len(before_files) == N + 1  # the sessions + history
    (again,) = generate(start=A, end=B, model=MODEL)
    assert again.status == "unchanged" and again.rows_changed == 0
    pd.testing.assert_frame_equal(stored(signals_env), before_rows)  # created_at included
    assert files_of(folder) == before_files
    # One session regenerated alone: the same bytes as in the backfill.
    (single,) = generate(date=dt.date(2019, 3, 15), model=MODEL)
    assert single.status == "unchanged"
    assert files_of(folder) == before_files

    # Records: one per session per run, checksum = the file's sha256, freshness, timing.
    log = generations(signals_env)
    assert len(log) == N + N + 1
    assert set(log["status"]) == {"written", "unchanged"}
    for row in log.itertuples():
        data = (folder / f"weights_{row.as_of_session}.csv").read_bytes()
        assert row.file_sha256 == hashlib.sha256(data).hexdigest()
        assert row.model_version == 1 and row.n_symbols == 6
        assert row.features_through == dt.date(2019, 6, 28)
        assert row.elapsed_ms > 0 and row.delay_seconds > 0
    assert set(log["mode"]) == {"backfill", "session"}


def test_no_lookahead_through_the_warehouse(signals_env, signals_warehouse, tmp_path):
    """Change every bar after T, rebuild the features with dbt: the weights for T stay."""
    from tradewind.signals import generate

    t = dt.date(2019, 3, 15)
    generate(start=A, end=t, model=MODEL)
    before = stored(signals_env, t)[["symbol", "weight"]]
    file_before = (tmp_path / "weights" / MODEL / f"weights_{t}.csv").read_bytes()
    with psycopg.connect(signals_env) as c:
        feats_before = c.execute(
            "select count(*), sum(lr_close) from features.daily_features where session > %s",
            [t],
        ).fetchone()
        n = c.execute(
            "update raw.bars_daily set open = open * 1.7, high = high * 1.9, low = low * 1.5, "
            "close = close * 1.8, volume = volume * 3 where session > %s",
            [t],
        ).rowcount
    assert n > 100
    build_features(signals_env, tmp_path / "dbt-target")
    with psycopg.connect(signals_env) as c:
        feats_after = c.execute(
            "select count(*), sum(lr_close) from features.daily_features where session > %s",
            [t],
        ).fetchone()
    assert feats_after[0] == feats_before[0] and feats_after[1] != pytest.approx(feats_before[1])
    (res,) = generate(date=t, model=MODEL)
    assert res.status == "unchanged"
    pd.testing.assert_frame_equal(stored(signals_env, t)[["symbol", "weight"]], before)
    assert (tmp_path / "weights" / MODEL / f"weights_{t}.csv").read_bytes() == file_before


def test_without_model_every_production_model_and_ensemble(signals_env, tmp_path):
    from tradewind.registry import register_candidate, resolve, set_stage
    from tradewind.signals import generate

    # A second production model: the same trained artifact registered under another name.
    mv = resolve(signals_env, MODEL)
    other = register_candidate(signals_env, "tiny_b", mv.artifact_uri)
    set_stage(signals_env, "tiny_b", other.version, "production", by="tests", reason="tests")
    (tmp_path / "ensembles" / "tiny_blend.yaml").write_text(
        "description: both tiny agents, equal weights\nmembers: [tiny, tiny_b@1]\nrule: equal\n"
    )
    (tmp_path / "ensembles" / "tiny_capped.yaml").write_text(
        "members: [tiny, tiny_b]\nrule: risk_capped\nmax_weight: 0.143\n"
    )
    results = generate(date=A)
    assert [(r.model, r.status) for r in results] == [
        ("tiny", "written"), ("tiny_b", "written"), ("tiny_blend", "written"),
        ("tiny_capped", "written"),
    ]  # fmt: skip
    rows = stored(signals_env, A).pivot(index="symbol", columns="model", values="weight")
    # Identical members: the equal blend is each of them; the capped blend cuts at 0.143.
    np.testing.assert_allclose(rows["tiny_blend"], rows["tiny"], atol=1e-15)
    np.testing.assert_allclose(rows["tiny_b"], rows["tiny"], atol=0)
    np.testing.assert_allclose(rows["tiny_capped"], np.minimum(rows["tiny"], 0.143), atol=1e-15)
    assert rows["tiny"].max() > 0.143 > rows["tiny"].min()  # the cap did something
    with psycopg.connect(signals_env) as c:
        ens = c.execute(
            "select ensemble_name, version, rule, members from signals.ensemble_versions order by 1"
        ).fetchall()
    assert [(e[0], e[1], e[2]) for e in ens] == [
        ("tiny_blend", 1, "equal"), ("tiny_capped", 1, "risk_capped"),
    ]  # fmt: skip
    assert ens[0][3] == [
        {"model": "tiny", "version": 1, "weight": 0.5},
        {"model": "tiny_b", "version": 1, "weight": 0.5},
    ]
    log = generations(signals_env)
    assert set(log["kind"]) == {"model", "ensemble"}
    assert log.loc[log.model_name == "tiny_blend", "reported"].iloc[0]["members"] == ens[0][3]
    assert (tmp_path / "weights" / "tiny_capped" / f"weights_{A}.csv").is_file()


def test_sharpe_ensemble_reads_validation_sharpe_and_skips_disabled(signals_env, tmp_path):
    from tradewind.registry import evaluate_model, register_candidate, resolve
    from tradewind.signals import SignalRefused, generate

    mv = resolve(signals_env, MODEL)
    register_candidate(signals_env, "tiny_b", mv.artifact_uri)
    folder = tmp_path / "ensembles"
    (folder / "by_sharpe.yaml").write_text("members: [tiny, tiny_b@1]\nrule: sharpe\n")
    (folder / "off.yaml").write_text("members: [tiny, tiny_b@1]\nenabled: false\n")
    with pytest.raises(SignalRefused, match=r"tiny@1 has no validation Sharpe in ml.evaluations"):
        generate(date=A, model="by_sharpe")
    for name in (MODEL, "tiny_b"):
        evaluate_model(signals_env, name, 1, windows=("validation",), baselines=False,
                       reports=False)  # fmt: skip
    results = generate(date=A)  # the production model and the enabled ensemble, not "off"
    assert [(r.model, r.status) for r in results] == [("tiny", "written"),
                                                      ("by_sharpe", "written")]  # fmt: skip
    with psycopg.connect(signals_env) as c:
        sharpes = dict(c.execute(
            "select model_name, (metrics->>'sharpe_ratio')::float8 from ml.evaluations "
            "where window_name = 'validation'"
        ).fetchall())  # fmt: skip
        (members,) = c.execute("select members from signals.ensemble_versions").fetchone()
    pos = {k: max(v, 0.0) for k, v in sharpes.items()}
    total = sum(pos.values())
    expected = {k: (v / total if total > 0 else 0.5) for k, v in pos.items()}
    assert {m["model"]: m["weight"] for m in members} == pytest.approx(expected, abs=1e-12)
    rows = stored(signals_env, A).pivot(index="symbol", columns="model", values="weight")
    np.testing.assert_allclose(rows["by_sharpe"], rows["tiny"], atol=1e-15)  # same members


def test_weights_to_an_object_store_url(signals_env):
    """The destination as an fsspec URL (memory:// stands in for s3:// here)."""
    import uuid

    from tradewind.signals import generate, read_weights

    base = f"memory://tw-{uuid.uuid4().hex}/weights"
    (res,) = generate(start=A, end=dt.date(2019, 3, 5), model=MODEL, weights_dir=base)
    assert res.files[0] == f"{base}/{MODEL}/weights_2019-03-01.csv"
    assert res.files[-1] == f"{base}/{MODEL}/weights_history.csv"
    hist = read_weights(f"{base}/{MODEL}")
    db = stored(signals_env)
    assert len(hist) == len(db) == 3 * len(SYMBOLS)
    assert np.abs(hist["weight"].to_numpy() - db["weight"].to_numpy()).max() <= 1e-10
    with psycopg.connect(signals_env) as c:
        uris = [r[0] for r in c.execute("select file_uri from signals.generations order by 1")]
    assert uris == res.files[:-1]
