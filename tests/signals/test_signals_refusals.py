"""Every refusal: one clear line, no weights, no files; the refusal itself is recorded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from signals_testlib import MODEL

pytestmark = pytest.mark.integration

T = dt.date(2019, 3, 15)


def execute(url: str, sql: str, params=None) -> int:
    with psycopg.connect(url) as c:
        return c.execute(sql, params).rowcount


def count(url: str, sql: str, params=None) -> int:
    with psycopg.connect(url) as c:
        return c.execute(sql, params).fetchone()[0]


def assert_refused(url: str, weights: Path, match: str, **kwargs) -> str:
    from tradewind.signals import SignalRefused, generate

    with pytest.raises(SignalRefused, match=match) as info:
        generate(model=kwargs.pop("model", MODEL), **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert count(url, "select count(*) from signals.target_weights") == 0
    assert not weights.exists() or not any(p.is_file() for p in weights.rglob("*"))
    return message


def refused_records(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(
            "select model_name, as_of_session, status, message from signals.generations"
        ).fetchall()


@pytest.fixture
def weights(signals_env, tmp_path) -> Path:
    return tmp_path / "weights"


def test_not_a_session(signals_env, weights):
    assert_refused(signals_env, weights, r"^2019-03-02 is not a NYSE trading session$",
                   date="2019-03-02")  # fmt: skip


def test_features_missing_for_the_session(signals_env, weights):
    msg = assert_refused(signals_env, weights, r"no features for 2019-07-01", date="2019-07-01")
    assert "features end at 2019-06-28" in msg
    (rec,) = refused_records(signals_env)
    assert rec[:3] == (MODEL, dt.date(2019, 7, 1), "refused") and rec[3] == msg


def test_features_stale_new_bars_not_built(signals_env, weights):
    execute(
        signals_env,
        "insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume) "
        "select source, symbol, '2019-07-01', open, high, low, close, volume "
        "from raw.bars_daily where session = '2019-06-28'",
    )
    assert_refused(signals_env, weights,
                   r"features are stale: bars for 2019-07-01 are in the warehouse", date="2019-07-01")  # fmt: skip


def test_features_stale_bar_corrected_after_the_build(signals_env, weights):
    execute(signals_env, "update raw.bars_daily set close = close * 1.01, high = high * 1.01 "
            "where symbol = 'BA' and session = %s", [T - dt.timedelta(days=2)])  # fmt: skip
    assert_refused(signals_env, weights,
                   r"features are stale: the bar of BA on 2019-03-13 changed", date=T)  # fmt: skip


def test_features_incomplete_for_the_universe(signals_env, weights):
    execute(signals_env, "delete from raw.bars_daily where symbol = 'CVX' and session = %s", [T])
    execute(signals_env, "delete from features.daily_features where symbol = 'CVX' and "
            "session = %s", [T])  # fmt: skip
    assert_refused(signals_env, weights,
                   r"features for 2019-03-15 are incomplete: no row for CVX", date=T)  # fmt: skip
    # A backfill containing that session is refused whole.
    assert_refused(signals_env, weights, r"incomplete: no row for CVX",
                   start="2019-03-01", end="2019-03-29")  # fmt: skip


def test_not_enough_history_for_the_window(signals_env, weights):
    assert_refused(signals_env, weights, r"not enough history for 2017-06-06: the window needs 8",
                   date="2017-06-06")  # fmt: skip


def test_model_and_universe_disagree(signals_env, weights):
    execute(signals_env, "update ref.universe_members set valid_to = '2019-01-02' where "
            "universe = 'DOW30' and symbol in ('AAPL', 'AXP', 'BA', 'CAT') and valid_to is null")  # fmt: skip
    assert_refused(signals_env, weights,
                   r"universe DOW30 disagree on 2019-03-15: only 2 of 6 are members", date=T)  # fmt: skip


def test_weights_beyond_the_max_weight(signals_env, weights, monkeypatch):
    from tradewind.settings import reset_settings_cache

    # The tiny agent has no max weight of its own, so TRADEWIND_MAX_WEIGHT bounds it.
    monkeypatch.setenv("TRADEWIND_MAX_WEIGHT", "0.1")
    reset_settings_cache()
    assert_refused(signals_env, weights, r"tiny@1 \(row 0\): \w+ weight 0\.1\d+ exceeds the max "
                   r"weight 0\.1", date=T)  # fmt: skip


def test_unknown_model(signals_env, weights):
    assert_refused(signals_env, weights, r"nope", date=T, model="nope@3")


def test_delisted_symbol_gets_zero_and_is_reported_new_members_reported(signals_env, weights):
    from tradewind.signals import generate

    execute(signals_env, "update ref.universe_members set valid_to = '2019-03-01' where "
            "universe = 'DOW30' and symbol = 'CVX' and valid_to is null")  # fmt: skip
    (res,) = generate(date=T, model=MODEL)
    assert res.status == "written"
    note = res.reported[0]
    assert note["not_members"] == ["CVX"]
    assert "JPM" in note["new_members"] and "AAPL" not in note["new_members"]
    with psycopg.connect(signals_env) as c:
        w = dict(c.execute("select symbol, weight from signals.target_weights").fetchall())
        rec = c.execute("select reported from signals.generations").fetchone()[0]
    assert w["CVX"] == 0.0 and len(w) == 6 and all(v > 0 for s, v in w.items() if s != "CVX")
    assert rec["not_members"] == ["CVX"]
    assert f"{T},CVX,0.0000000000" in (weights / MODEL / f"weights_{T}.csv").read_text()


def test_a_published_file_never_changes_silently(signals_env, weights):
    from tradewind.signals import SignalRefused, generate

    generate(date=T, model=MODEL)
    path = weights / MODEL / f"weights_{T}.csv"
    original = path.read_bytes()
    path.write_bytes(original.replace(b",AAPL,0.", b",AAPL,0.9", 1))
    with pytest.raises(SignalRefused, match=r"is already published with other weights; pass "
                       r"--replace"):  # fmt: skip
        generate(date=T, model=MODEL)
    assert path.read_bytes() != original
    (res,) = generate(date=T, model=MODEL, replace=True)
    assert path.read_bytes() == original and res.status == "unchanged"
