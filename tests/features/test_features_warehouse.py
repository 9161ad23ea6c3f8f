"""The dbt feature warehouse on a real PostgreSQL, with real (committed) Yahoo bars.

One build per module; each scenario then starts from a copy of the built database (CREATE
DATABASE ... TEMPLATE), under a fixed database name so dbt's partial parsing stays valid.
"""

from __future__ import annotations

import json
import os
from datetime import date

import numpy as np
import pandas as pd
import pytest
from features_testlib import (
    KEY,
    Databases,
    assert_frames_close,
    copy_bars,
    execute,
    expected_features,
    expected_labels,
    fixture_bars,
    read_frame,
)

from tradewind.features import build, docs_generate, feature_lookback, reference
from tradewind.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

T = date(2010, 6, 15)
NEW_SESSION = date(2011, 1, 3)  # the NYSE session after the fixture's last (2010-12-31)
UNIVERSE = [("SAMPLE5", s, date(2009, 1, 1), None) for s in ("JPM", "KO", "MSFT", "WMT", "XOM")] + [
    ("SAMPLE5", "AIG", date(2009, 10, 1), date(2010, 6, 1))
]  # valid_to exclusive
# (symbol, ts UTC, open, high, low, close, volume): 2010-12-30 regular hours 14:30-21:00 UTC.
MINUTES_BUILT = [
    ("AAPL", "2010-12-30 14:30+00", 10.0, 10.5, 9.5, 10.2, 100.0),
    ("AAPL", "2010-12-30 14:31+00", 10.2, 10.3, 10.1, 10.1, 50.0),
    ("AAPL", "2010-12-30 15:10+00", 10.1, 10.1, 9.9, 10.0, 70.0),
    ("MSFT", "2010-12-30 20:59+00", 28.0, 28.1, 27.9, 28.05, 500.0),
]


@pytest.fixture(scope="module")
def built(pg_server_url, template_db, tmp_path_factory):
    """A migrated database holding the fixture bars and a full build of the features."""
    dbs = Databases(pg_server_url)
    work, snapshot = f"tw_feat_work_{os.getpid()}", f"tw_feat_built_{os.getpid()}"
    target = tmp_path_factory.mktemp("dbt-target")
    url = dbs.create(work, template=template_db)
    bars = fixture_bars()
    copy_bars(url, bars)
    execute(
        url,
        "insert into ref.universe_members (universe, symbol, valid_from, valid_to) values "
        + ", ".join(["(%s, %s, %s, %s)"] * len(UNIVERSE)),
        [v for row in UNIVERSE for v in row],
    )
    insert_minutes(url, MINUTES_BUILT)
    result = build(url=url, target_path=target)
    dbs.create(snapshot, template=work)
    yield {"dbs": dbs, "work": work, "snapshot": snapshot, "target": target, "bars": bars,
           "result": result}  # fmt: skip
    dbs.drop(work, snapshot)


@pytest.fixture
def fresh(built):
    """The work database reset to the built snapshot; its URL."""
    return built["dbs"].create(built["work"], template=built["snapshot"])


def insert_minutes(url: str, rows) -> None:
    for row in rows:
        execute(
            url,
            "insert into raw.bars_minute (source, symbol, ts, open, high, low, close, volume) "
            "values ('alpaca', %s, %s, %s, %s, %s, %s, %s)",
            row,
        )


def _features(url: str) -> pd.DataFrame:
    return read_frame(url, "select * from features.daily_features order by symbol, session")


def _labels(url: str) -> pd.DataFrame:
    return read_frame(url, "select * from features.forward_returns order by symbol, session")


def _row_versions(url: str, table: str) -> pd.DataFrame:
    # xmin changes whenever a row is written: it shows which rows a run touched.
    return read_frame(url, f"select symbol, session, xmin::text as xmin from {table}")


def _touched(before: pd.DataFrame, after: pd.DataFrame) -> set[tuple[str, date]]:
    m = after.merge(before, on=KEY, how="left", suffixes=("", "_before"))
    return set(map(tuple, m.loc[m["xmin"] != m["xmin_before"], KEY].itertuples(index=False)))


INCREMENTAL = {
    "int_daily_bars": "features_intermediate",
    "daily_features": "features",
    "forward_returns": "features",
    "int_bars_5min": "features_intermediate",
    "int_bars_hourly": "features_intermediate",
    "int_bars_daily_from_minute": "features_intermediate",
}


def _assert_equals_full_refresh(url: str, target) -> None:
    """Snapshot every incremental model, rebuild them from scratch, compare every bit."""
    execute(url, "create schema if not exists scratch")
    for t, schema in INCREMENTAL.items():
        execute(url, f"create table scratch.{t} as select * from {schema}.{t}")
    # int_daily_bars+: a full refresh of it drops the views built on it (int_series_bars, ...),
    # so they are rebuilt in the same run.
    select = ["int_daily_bars+", *(t for t in INCREMENTAL if t != "int_daily_bars")]
    build(url=url, full_refresh=True, target_path=target, select=select)
    for t, schema in INCREMENTAL.items():
        diff = read_frame(
            url,
            f"(select * from scratch.{t} except all select * from {schema}.{t}) union all "
            f"(select * from {schema}.{t} except all select * from scratch.{t})",
        )
        assert diff.empty, f"{t}: incremental differs from full refresh in {len(diff)} rows"


def test_build_reports_success_and_runs_unit_tests(built):
    result = built["result"]
    assert result.success
    kinds = {n["resource_type"] for n in result.nodes}
    assert {"model", "test", "seed", "unit_test"} <= kinds
    assert not [n for n in result.nodes if n["status"] not in ("success", "pass")]


def test_features_match_independent_computation(built):
    url = built["dbs"].url(built["snapshot"])
    bars = built["bars"]
    actual = _features(url)
    assert len(actual) == len(bars)
    expected = expected_features(bars)
    assert_frames_close(actual, expected)
    # And the contract columns the RL side reads, by name.
    assert {"lr_open", "lr_high", "lr_low", "lr_close", "lr_volume"} <= set(actual.columns)
    first = actual.groupby("symbol")["session"].transform("min") == actual["session"]
    assert actual.loc[first, "lr_close"].isna().all()
    assert actual.loc[~first, "lr_close"].notna().all()


def test_labels_match_independent_computation(built):
    url = built["dbs"].url(built["snapshot"])
    bars = built["bars"]
    actual = _labels(url)
    expected = expected_labels(bars)
    assert_frames_close(actual, expected, ["open", "next_open", "next2_open", "fwd_open_lr"])
    assert list(actual["next_session"]) == list(expected["next_session"])


def test_zero_volume_and_late_listing_are_handled(built):
    url = built["dbs"].url(built["snapshot"])
    f = _features(url).set_index(KEY)
    # CHTR 2010-01-06 is a zero-volume stale print: no log change of volume into or out of it.
    assert pd.isna(f.loc[("CHTR", date(2010, 1, 6)), "lr_volume"])
    assert pd.isna(f.loc[("CHTR", date(2010, 1, 7)), "lr_volume"])
    # GM lists on 2010-11-18: 30 bars, so no 60-bar window ever fills.
    gm = f.loc["GM"]
    assert len(gm) == 30 and gm["vol_60"].isna().all() and gm["vol_20"].notna().sum() == 10


def test_no_lookahead(fresh, built):
    """Change every bar after T (prices, volumes, deletions, new bars, a new symbol), rebuild from
    scratch: no feature row at or before T changes, while rows after T and labels do."""
    before_f, before_l = _features(fresh), _labels(fresh)
    rng = np.random.default_rng(7)
    after_t = execute(fresh, "select 1 from raw.bars_daily where session > %s", [T])
    assert after_t > 1000
    # Deterministic pseudo-random factors per bar: prices x[0.5, 1.5), volumes x[0, 3).
    h = "abs(hashtext(symbol || session::text))"
    execute(
        fresh,
        f"update raw.bars_daily set open = open * f, high = high * f, low = low * f, "
        f"close = close * f, volume = volume * g "
        f"from (select symbol as s, session as d, 0.5 + ({h} %% 1000) / 1000.0 as f, "
        f"             3 * ({h} %% 997) / 997.0 as g "
        f"      from raw.bars_daily where session > %s) as k "
        f"where symbol = k.s and session = k.d",
        [T],
    )
    execute(
        fresh,
        f"delete from raw.bars_daily where session > %s and ({h} / 1000) %% 5 = 0",
        [T],
    )
    # GM bars before its listing but after T, and a symbol that exists only after T.
    extra = pd.DataFrame(
        {
            "symbol": ["GM", "GM", "ZZZ", "ZZZ"],
            "session": [date(2010, 7, 1), date(2010, 7, 2), T.replace(day=16), T.replace(day=17)],
            "open": rng.uniform(10, 20, 4),
        }
    )
    extra["close"] = extra["open"]
    extra["high"] = extra["open"] * 1.1
    extra["low"] = extra["open"] * 0.9
    extra["volume"] = 1e6
    copy_bars(fresh, extra, source="alpaca")

    build(url=fresh, full_refresh=True, target_path=built["target"])
    after_f, after_l = _features(fresh), _labels(fresh)

    old = before_f[before_f["session"] <= T].reset_index(drop=True)
    new = after_f[after_f["session"] <= T].reset_index(drop=True)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    # The perturbation was real: later features moved.
    moved = after_f[after_f["session"] > T].merge(
        before_f[before_f["session"] > T], on=KEY, suffixes=("", "_old")
    )
    assert (moved["lr_close"] - moved["lr_close_old"]).abs().max() > 0.1
    # Labels look ahead by construction: at T they changed, two sessions earlier they did not.
    lab = after_l.merge(before_l, on=KEY, suffixes=("", "_old"))
    at_t = lab[lab["session"] == T]
    assert not np.allclose(at_t["fwd_open_lr"], at_t["fwd_open_lr_old"], equal_nan=True)
    early = lab[lab["session"] <= date(2010, 6, 11)]  # T-2 sessions and before
    pd.testing.assert_series_equal(
        early["fwd_open_lr"], early["fwd_open_lr_old"], check_names=False, check_exact=True
    )


def test_incremental_new_session_touches_only_its_rows(fresh, built):
    last = read_frame(fresh, "select * from raw.bars_daily where session = '2010-12-31'")
    new = last.assign(
        session=NEW_SESSION,
        open=last["close"] * 1.01,
        close=last["close"] * 0.99,
        high=last["close"] * 1.02,
        low=last["close"] * 0.98,
        volume=last["volume"] * 1.5,
    )
    copy_bars(fresh, new)
    # Minute bars of the new session, and one arriving late for 2010-12-30.
    insert_minutes(
        fresh,
        [
            ("AAPL", "2011-01-03 14:30+00", 10.0, 10.0, 10.0, 10.0, 10.0),
            ("AAPL", "2010-12-30 14:34+00", 10.1, 11.0, 10.1, 10.9, 30.0),
        ],
    )
    vf = _row_versions(fresh, "features.daily_features")
    vl = _row_versions(fresh, "features.forward_returns")
    v5 = read_frame(fresh, "select * from features_intermediate.int_bars_5min")

    build(url=fresh, target_path=built["target"])

    touched_f = _touched(vf, _row_versions(fresh, "features.daily_features"))
    assert touched_f == {(s, NEW_SESSION) for s in new["symbol"]}
    touched_l = _touched(vl, _row_versions(fresh, "features.forward_returns"))
    # Labels of T-2 and T-1 learn their T+2 and T+1 open; the new session gets its (null) label.
    assert {d for _, d in touched_l} == {date(2010, 12, 30), date(2010, 12, 31), NEW_SESSION}
    five = read_frame(
        fresh, "select * from features_intermediate.int_bars_5min order by symbol, bucket"
    )
    assert len(five) == len(v5) + 1
    late = five[(five["symbol"] == "AAPL") & (five["minutes"] == 3)]
    assert late[["open", "high", "low", "close", "volume"]].values.tolist() == [
        [10.0, 11.0, 9.5, 10.9, 180.0]
    ]
    _assert_equals_full_refresh(fresh, built["target"])


def test_incremental_late_corrections_recompute_exactly_the_affected_rows(fresh, built):
    bars = built["bars"]
    lookback = feature_lookback()
    corrected = ("AAPL", date(2010, 3, 1))
    deleted = ("MSFT", date(2010, 8, 2))
    late = ("KO", date(2010, 10, 1))
    execute(
        fresh,
        "update raw.bars_daily set close = close * 1.02, high = greatest(high, close * 1.02) "
        "where symbol = %s and session = %s",
        corrected,
    )
    execute(fresh, "delete from raw.bars_daily where symbol = %s and session = %s", deleted)
    ko = bars[(bars["symbol"] == late[0]) & (bars["session"] == late[1])]
    copy_bars(fresh, ko.assign(volume=ko["volume"] * 1.1), source="alpaca")  # preferred source
    vf = _row_versions(fresh, "features.daily_features")

    build(url=fresh, target_path=built["target"])

    def sessions_from(symbol: str, first: date, count: int) -> list[date]:
        days = sorted(bars.loc[(bars["symbol"] == symbol) & (bars["session"] >= first), "session"])
        return days[:count]

    affected = set(sessions_from(*corrected, lookback + 1))
    affected |= set(sessions_from(*late, lookback + 1))
    affected |= {deleted[1]} | set(sessions_from(deleted[0], deleted[1], lookback + 1)[1:])
    after = _row_versions(fresh, "features.daily_features")
    expected_rows = set(
        map(tuple, after.loc[after["session"].isin(affected), KEY].itertuples(index=False))
    )
    assert _touched(vf, after) == expected_rows
    assert len(after) == len(vf) - 1

    f = _features(fresh).set_index(KEY)
    assert f.loc[("MSFT", date(2010, 8, 3)), "gap_sessions"] == 1
    assert f.loc[("MSFT", date(2010, 8, 3)), "prev_session"] == date(2010, 7, 30)
    assert bool(f.loc[late, "source_changed"]) and f.loc[late, "source"] == "alpaca"
    assert bool(f.loc[("KO", date(2010, 10, 4)), "source_changed"])
    cal = read_frame(
        fresh,
        "select is_missing from features_intermediate.int_daily_bars_calendar "
        "where symbol = %s and session = %s",
        deleted,
    )
    assert cal["is_missing"].tolist() == [True]
    _assert_equals_full_refresh(fresh, built["target"])


def test_incremental_deletions_and_a_renumbered_calendar_equal_a_full_refresh(fresh, built):
    """Deleted bars where no earlier bar anchors the numbering (a symbol's first bar), where no
    later bar is left (its last), every bar of a symbol, and a bar on a date the NYSE calendar
    lacks (every later session is renumbered): the incremental tables equal a full refresh,
    int_daily_bars included, and nothing of the deleted symbol is left."""
    execute(fresh, "delete from raw.bars_daily where symbol = 'CHTR' and session = '2010-01-05'")
    execute(fresh, "delete from raw.bars_daily where symbol = 'GM' and session = '2010-12-31'")
    execute(fresh, "delete from raw.bars_daily where symbol = 'AIG'")
    ko = read_frame(
        fresh, "select * from raw.bars_daily where symbol = 'KO' and session = '2010-06-11'"
    )
    copy_bars(fresh, ko.assign(session=date(2010, 6, 12)))  # a Saturday
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")

    build(url=fresh, target_path=built["target"])

    bars = read_frame(
        fresh, "select * from features_intermediate.int_daily_bars order by symbol, session"
    )
    assert "AIG" not in set(bars["symbol"]) and "AIG" not in set(_features(fresh)["symbol"])
    chtr = bars[bars["symbol"] == "CHTR"]
    assert chtr["session"].iloc[0] == date(2010, 1, 6) and chtr["bar_index"].iloc[0] == 1
    assert bars.loc[bars["symbol"] == "GM", "session"].max() == date(2010, 12, 30)
    # Only the bars of symbols with a change were rewritten (the Saturday renumbers the later
    # sessions of every symbol trading after it: all of them here but AIG, deleted).
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    assert {s for s, _ in touched} == {
        "AAPL",
        "CHTR",
        "GM",
        "JPM",
        "KO",
        "MS",
        "MSFT",
        "WMT",
        "XOM",
    }
    _assert_equals_full_refresh(fresh, built["target"])


def test_incremental_int_daily_bars_rewrites_only_changed_symbol_tails(fresh, built):
    """A corrected bar rewrites its symbol's rows from that bar on; other symbols are untouched
    (a table rebuilt every run rewrote all of them)."""
    execute(
        fresh,
        "update raw.bars_daily set volume = volume + 1 where symbol = 'MSFT' and session = '2010-12-01'",
    )
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    build(url=fresh, target_path=built["target"])
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    msft = read_frame(
        fresh,
        "select symbol, session from raw.bars_daily where symbol = 'MSFT' and session >= '2010-12-01'",
    )
    assert touched == set(map(tuple, msft[KEY].itertuples(index=False)))
    _assert_equals_full_refresh(fresh, built["target"])


def test_docs_generate_catalogs_the_marts(fresh, built):
    where = docs_generate(url=fresh, target_path=built["target"])
    catalog = json.loads((where / "catalog.json").read_text())
    names = {
        n["metadata"]["schema"] + "." + n["metadata"]["name"] for n in catalog["nodes"].values()
    }
    assert {"features.daily_features", "features.forward_returns"} <= names
    assert (where / "index.html").exists()


def test_lookback_is_the_longest_window():
    assert feature_lookback() == 60
    assert feature_lookback({"return_windows": [5, 120], "rsi_window": 14}) == 120


def test_universe_cross_sections_use_members_of_the_day(built):
    url = built["dbs"].url(built["snapshot"])
    actual = read_frame(url, "select * from features.universe_daily_features")
    features = expected_features(built["bars"])
    members = []
    for universe, symbol, start, end in UNIVERSE:
        rows = features[(features["symbol"] == symbol) & (features["session"] >= start)]
        if end is not None:
            rows = rows[rows["session"] < end]
        members.append(rows.assign(universe=universe))
    expected = pd.concat(members, ignore_index=True)
    for col in ("lr_close", "vol_20"):
        expected[f"xs_z_{col}"], expected[f"xs_rank_{col}"] = reference.cross_section(
            expected, col, ["universe", "session"]
        )
    assert len(actual) == len(expected)
    cols = ["xs_z_lr_close", "xs_rank_lr_close", "xs_z_vol_20", "xs_rank_vol_20"]
    assert_frames_close(actual, expected[[*KEY, *cols]], cols)
    aig = actual[actual["symbol"] == "AIG"]["session"]
    assert aig.min() == date(2009, 10, 1) and aig.max() < date(2010, 6, 1)


def test_daily_bars_from_minutes_keep_regular_hours(built):
    url = built["dbs"].url(built["snapshot"])
    daily = read_frame(
        url, "select symbol, open, high, low, close, volume, minutes "
        "from features_intermediate.int_bars_daily_from_minute order by symbol"
    )  # fmt: skip
    assert daily.values.tolist() == [
        ["AAPL", 10.0, 10.5, 9.5, 10.0, 220.0, 3],
        ["MSFT", 28.0, 28.1, 27.9, 28.05, 500.0, 1],
    ]
    # Hours from the 09:30 New York open (14:30 UTC in December), not UTC clock hours.
    hourly = read_frame(url, "select symbol, bucket, minutes from features_intermediate."
                        "int_bars_hourly order by symbol, bucket")  # fmt: skip
    assert [(s, str(b), m) for s, b, m in hourly.values.tolist()] == [
        ("AAPL", "2010-12-30 14:30:00+00:00", 3), ("MSFT", "2010-12-30 20:30:00+00:00", 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path", sorted((PROJECT_ROOT / "sql" / "examples").glob("*.sql")), ids=lambda p: p.name
)
def test_analyst_examples_run(built, path):
    url = built["dbs"].url(built["snapshot"])
    text = "\n".join(ln for ln in path.read_text().splitlines() if not ln.strip().startswith("--"))
    statements = [s for s in text.split(";") if s.strip()]
    assert statements
    for sql in statements:
        rows = read_frame(url, sql)
        # The real fixture has no gaps, so the gap report is rightly empty on it.
        assert len(rows) or path.name == "04_missing_sessions.sql", f"{path.name}: no rows"


def test_incremental_build_tests_only_the_sessions_it_can_rewrite(fresh, built):
    """On a built warehouse an incremental build skips the unit tests and runs the data tests on
    the sessions from two NYSE sessions before the earliest new bar (what it can rewrite); any
    other dbt run tests all history again."""
    import exchange_calendars as xcals

    from tradewind.features.runner import (
        FeatureBuildError,
        reset_test_scope,
        run_dbt,
        set_test_scope,
    )

    # The history was loaded two days ago, its last session (2010-12-31) yesterday, and built
    # then; now a new session arrives. The scope allows an hour before the newest bar built for
    # loads whose transactions overlap a build, so it starts two sessions before yesterday's.
    for table in ("raw.bars_daily", "features_intermediate.int_daily_bars"):
        execute(
            fresh,
            f"update {table} set ingested_at = ingested_at - case when session = '2010-12-31' "
            "then interval '1 day' else interval '2 days' end",
        )
    last = read_frame(fresh, "select * from raw.bars_daily where session = '2010-12-31'")
    copy_bars(fresh, last.assign(session=NEW_SESSION))
    two_before = xcals.get_calendar("XNYS").sessions_window(pd.Timestamp("2010-12-31"), -3)[0]
    assert set_test_scope(fresh) == two_before.date() == date(2010, 12, 29)
    reset_test_scope(fresh)

    # A defect in a row the build does not rewrite, before the scope: not judged by this run...
    old = ("AAPL", date(2010, 3, 1))
    bad = "update features.daily_features set lr_close = 'infinity' where symbol = %s and session = %s"
    execute(fresh, bad, old)
    result = build(url=fresh, target_path=built["target"])
    kinds = {n["resource_type"].split(".")[-1].lower() for n in result.nodes}
    assert "test" in kinds and "unit_test" not in kinds and "seed" not in kinds
    scope = read_frame(fresh, "select tests_from::text as d from ops.feature_test_scope")
    assert scope["d"].tolist() == ["-infinity"]
    # ...but by any build or test run outside the runner's incremental build (all history).
    with pytest.raises(FeatureBuildError, match="is_finite_daily_features_lr_close"):
        run_dbt(["test", "--select", "daily_features"], url=fresh, target_path=built["target"])

    # A defect inside the scope (the session before the newest one) fails the incremental build.
    execute(
        fresh,
        "update features.daily_features set lr_close = 0 where symbol = %s and session = %s",
        old,
    )
    execute(fresh, bad, ("AAPL", date(2010, 12, 31)))
    with pytest.raises(FeatureBuildError, match="is_finite_daily_features_lr_close"):
        build(url=fresh, target_path=built["target"])


def test_a_deleted_bar_widens_the_incremental_test_scope(fresh, built):
    """A bar deleted since the last build has no ingested_at to show it: the build still tests
    from two sessions before it (int_daily_bars' post_hook), so a defect in a row after it that
    the build does not rewrite is judged (with the scope of the new session alone it was not)."""
    from tradewind.features.runner import FeatureBuildError

    for table in ("raw.bars_daily", "features_intermediate.int_daily_bars"):
        execute(fresh, f"update {table} set ingested_at = ingested_at - interval '2 days'")
    last = read_frame(fresh, "select * from raw.bars_daily where session = '2010-12-31'")
    copy_bars(fresh, last.assign(session=NEW_SESSION))
    execute(fresh, "delete from raw.bars_daily where symbol = 'AAPL' and session = '2010-06-15'")
    # More than `lookback` bars after the deleted one: a row this build does not rewrite.
    bad = "update features.daily_features set lr_close = 'infinity' where symbol = %s and session = %s"
    execute(fresh, bad, ("XOM", date(2010, 10, 1)))
    with pytest.raises(FeatureBuildError, match="is_finite_daily_features_lr_close"):
        build(url=fresh, target_path=built["target"])
    scope = read_frame(fresh, "select tests_from::text as d from ops.feature_test_scope")
    assert scope["d"].tolist() == ["-infinity"]


# --- Change capture (migration 060): the incremental scope from the bars' change log ------------


def _log_entries(url: str, table: str = "ops.bar_changes") -> pd.DataFrame:
    return read_frame(url, f"select id, symbol, from_session, op from {table} order by id")


def _tail(url: str, symbol: str, first: date) -> set[tuple[str, date]]:
    rows = read_frame(
        url,
        "select symbol, session from raw.bars_daily where symbol = %s and session >= %s",
        (symbol, first),
    )
    return set(map(tuple, rows[KEY].itertuples(index=False)))


def test_incremental_scope_comes_from_the_change_log(fresh, built):
    """With the capture intact the build reads the log, not the digests: an entry logged by hand
    for a bar nobody changed still rewrites that symbol's tail (the digests would find nothing)."""
    assert read_frame(fresh, "select ops.bar_capture_intact() as ok")["ok"].tolist() == [True]
    execute(
        fresh,
        "insert into ops.bar_changes (symbol, from_session, op) values ('KO', '2010-11-01', 'test')",
    )
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    vf = _row_versions(fresh, "features.daily_features")
    build(url=fresh, target_path=built["target"])
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    assert touched == _tail(fresh, "KO", date(2010, 11, 1))
    # The marts compare only that tail with their copy: equal, so nothing of theirs is rewritten.
    assert _touched(vf, _row_versions(fresh, "features.daily_features")) == set()
    # Consumed: the next build has nothing to do.
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    build(url=fresh, target_path=built["target"])
    assert _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars")) == set()


def test_a_restated_symbol_rebuilds_exactly_that_symbol(fresh, built):
    """Every bar of one symbol updated (a vendor restatement): its rows and only its rows of
    int_daily_bars are rewritten, one log entry per statement and symbol, from its first bar.
    (Incremental = full refresh on the log path: the tests above; on the digest path: below.)"""
    execute(
        fresh,
        "update raw.bars_daily set open = open * 1.01, high = high * 1.01, low = low * 1.01, "
        "close = close * 1.01 where symbol = 'MSFT'",
    )
    log = _log_entries(fresh)
    first = read_frame(fresh, "select min(session) as d from raw.bars_daily where symbol = 'MSFT'")
    assert log[["symbol", "from_session", "op"]].values.tolist()[-1:] == [
        ["MSFT", first["d"].iloc[0], "update"]
    ]
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    build(url=fresh, target_path=built["target"])
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    assert touched == _tail(fresh, "MSFT", date.min)
    new = read_frame(
        fresh, "select close from features_intermediate.int_daily_bars where symbol = 'MSFT'"
    )
    raw = read_frame(fresh, "select close from raw.bars_daily where symbol = 'MSFT'")
    assert sorted(new["close"]) == sorted(raw["close"])  # the restated values, not the old


def test_an_upsert_with_unchanged_values_leaves_the_scope_empty(fresh, built):
    """A re-load of identical values (an upsert without the loader's `where distinct`, an update
    of ingested_at only, a no-op update) logs nothing and rewrites nothing."""
    before = _log_entries(fresh)
    cols = "source, symbol, session, open, high, low, close, volume, vwap, trade_count, adjustment"
    execute(
        fresh,
        f"insert into raw.bars_daily as b ({cols}) select {cols} from raw.bars_daily "
        "where symbol = 'AAPL' on conflict (source, symbol, session) do update set "
        "open = excluded.open, close = excluded.close, ingested_at = now(), run_id = 7",
    )
    execute(fresh, "update raw.bars_daily set volume = volume where symbol = 'JPM'")
    execute(fresh, "update raw.bars_daily set ingested_at = now() where symbol = 'KO'")
    assert _log_entries(fresh).equals(before)
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    vf = _row_versions(fresh, "features.daily_features")
    build(url=fresh, target_path=built["target"])
    assert _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars")) == set()
    assert _touched(vf, _row_versions(fresh, "features.daily_features")) == set()


def test_changes_the_capture_missed_are_found_by_the_digests(fresh, built):
    """The log is trusted only while it can be complete. A change made while a trigger was
    disabled (enabled again before the build), one made while a trigger was dropped, and a
    TRUNCATE followed by a re-load without one symbol: each is found (the digest fallback), and
    the tables equal a full refresh."""
    execute(fresh, "alter table raw.bars_daily disable trigger tw_log_bar_update")
    execute(
        fresh,
        "update raw.bars_daily set volume = volume + 1 where symbol = 'MSFT' and session = '2010-12-01'",
    )
    execute(fresh, "alter table raw.bars_daily enable always trigger tw_log_bar_update")
    assert read_frame(fresh, "select ops.bar_capture_intact() as ok")["ok"].tolist() == [True]
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    build(url=fresh, target_path=built["target"])
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    assert touched == _tail(fresh, "MSFT", date(2010, 12, 1))

    execute(fresh, "drop trigger tw_log_bar_delete on raw.bars_daily")
    execute(fresh, "delete from raw.bars_daily where symbol = 'KO' and session = '2010-09-01'")
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    build(url=fresh, target_path=built["target"])
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    assert {s for s, _ in touched} == {"KO"}
    assert min(d for _, d in touched) == date(2010, 9, 2)
    _assert_equals_full_refresh(fresh, built["target"])


def test_a_truncate_is_never_mistaken_for_a_complete_log(fresh, built):
    """TRUNCATE has no transition table: it logs "anything may have changed". Re-loading every
    symbol but one afterwards logs inserts only for those reloaded; the missing one still goes."""
    # Re-loaded as they were (ingested_at too: a re-load of the same values is no change).
    execute(
        fresh,
        "create table public.kept as select * from raw.bars_daily where symbol <> 'WMT'; "
        "truncate raw.bars_daily; insert into raw.bars_daily select * from public.kept",
    )
    ops = _log_entries(fresh)["op"].tolist()
    assert "truncate" in ops and set(ops[ops.index("truncate") + 1 :]) == {"insert"}
    build(url=fresh, target_path=built["target"])
    for table in ("features_intermediate.int_daily_bars", "features.daily_features"):
        left = read_frame(fresh, f"select count(*) as n from {table} where symbol = 'WMT'")
        assert left["n"].tolist() == [0], table


def test_a_failed_build_keeps_the_log_entries(fresh, built):
    """An error inside int_daily_bars' transaction (after its watermark moved), then one inside
    daily_features' (after int_daily_bars committed): each model's watermark stays where it was,
    so the next build still sees the change."""
    from tradewind.features.runner import FeatureBuildError

    execute(
        fresh,
        "create function public.tw_test_fail() returns trigger language plpgsql as $$ "
        "begin if tg_table_name = 'feature_changes' then raise exception 'tw_test_boom'; end if; "
        "if new.model like '%.daily_features' then raise exception 'tw_test_boom'; end if; "
        "return new; end $$",
    )
    execute(
        fresh,
        "create trigger tw_test_fail before insert on ops.feature_changes "
        "for each row execute function public.tw_test_fail()",
    )
    execute(
        fresh,
        "update raw.bars_daily set volume = volume * 2 where symbol = 'XOM' and session = '2010-12-15'",
    )
    entries = _log_entries(fresh)
    vb = _row_versions(fresh, "features_intermediate.int_daily_bars")
    with pytest.raises(FeatureBuildError, match="tw_test_boom"):
        build(url=fresh, target_path=built["target"])
    assert _log_entries(fresh).equals(entries)  # not pruned: the rollback kept them
    assert _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars")) == set()

    execute(fresh, "drop trigger tw_test_fail on ops.feature_changes")
    execute(
        fresh,
        "create trigger tw_test_fail before insert or update on ops.feature_watermarks "
        "for each row execute function public.tw_test_fail()",
    )
    vf = _row_versions(fresh, "features.daily_features")
    with pytest.raises(FeatureBuildError, match="tw_test_boom"):
        build(url=fresh, target_path=built["target"])
    touched = _touched(vb, _row_versions(fresh, "features_intermediate.int_daily_bars"))
    assert touched == _tail(fresh, "XOM", date(2010, 12, 15))  # committed this time
    assert _touched(vf, _row_versions(fresh, "features.daily_features")) == set()

    execute(fresh, "drop trigger tw_test_fail on ops.feature_watermarks")
    build(url=fresh, target_path=built["target"])
    touched_f = _touched(vf, _row_versions(fresh, "features.daily_features"))
    assert ("XOM", date(2010, 12, 15)) in touched_f
    volume = read_frame(
        fresh,
        "select f.volume = b.volume as same from features.daily_features f "
        "join raw.bars_daily b using (symbol, session) "
        "where symbol = 'XOM' and session = '2010-12-15'",
    )
    assert volume["same"].tolist() == [True]
