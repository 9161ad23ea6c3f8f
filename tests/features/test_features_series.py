"""Returns within one price series, through dbt on a real PostgreSQL, and the warehouse -> env
contract.

Raw bars with the cases that made phantom returns (issue 9): a source switch with an overlap
(AAPL: alpaca, on another adjustment basis, starts mid-history), a quarantined row in the
preferred source (MSFT: alpaca's bar of 2010-03-15 missing, csv fills that session), a switch
without overlap (XOM: csv ends 2010-06-30, alpaca starts 2010-07-01), a restated vendor history
left half replaced (JPM: alpaca history_version 1 then 2, on different bases) and a listing gap
(KO: no bar 2010-08-02..06). The expectations are computed here from the raw rows with plain
Python dictionaries, not from tradewind code.
"""

from __future__ import annotations

import io
import math
import os
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest
from features_testlib import Databases, fixture_bars, nyse_calendar, read_frame

from tradewind.features import build
from tradewind.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

TOL = 1e-12
PRIORITY = ["alpaca", "quandl", "csv", "synthetic"]  # dbt_project.yml var source_priority
GAP = (date(2010, 8, 2), date(2010, 8, 6))
QUARANTINED = ("MSFT", date(2010, 3, 15))
AAPL_SWITCH = date(2010, 6, 1)
XOM_LAST_CSV, XOM_FIRST_ALPACA = date(2010, 6, 30), date(2010, 7, 1)
JPM_RESTATED = date(2010, 5, 3)
COLS = ["source", "symbol", "session", "open", "high", "low", "close", "volume", "adjustment"]


def raw_bars() -> pd.DataFrame:
    """Every raw row the scenario loads (source, adjustment, history_version included)."""
    bars = fixture_bars()
    bars = bars[~((bars.symbol == "KO") & bars.session.between(*GAP))]
    csv = bars.assign(source="csv", adjustment="split", history_version=1)
    csv = csv[~((csv.symbol == "XOM") & (csv.session > XOM_LAST_CSV))]

    def alpaca(symbol: str, factor: float, first=None, version: int = 1) -> pd.DataFrame:
        part = bars[(bars.symbol == symbol) & (bars.session >= (first or date(1900, 1, 1)))]
        scaled = part.assign(**{c: part[c] * factor for c in ("open", "high", "low", "close")})
        return scaled.assign(source="alpaca", adjustment="all", history_version=version)

    msft = alpaca("MSFT", 0.9)
    msft = msft[msft.session != QUARANTINED[1]]
    jpm = alpaca("JPM", 0.95)
    jpm_v2 = jpm[jpm.session >= JPM_RESTATED]
    jpm_v2 = jpm_v2.assign(
        **{c: jpm_v2[c] * 1.1 for c in ("open", "high", "low", "close")}, history_version=2
    )
    parts = [
        csv,
        alpaca("AAPL", 0.8, AAPL_SWITCH),
        msft,
        alpaca("XOM", 0.5, XOM_FIRST_ALPACA),
        jpm[jpm.session < JPM_RESTATED],
        jpm_v2,
    ]
    return pd.concat(parts, ignore_index=True)


def load(url: str, rows: pd.DataFrame) -> None:
    buf = io.StringIO()
    rows[[*COLS, "history_version"]].to_csv(buf, index=False, header=False, float_format="%.17g")
    with psycopg.connect(url) as c, c.cursor() as cur:
        cols = ", ".join([*COLS, "history_version"])
        with cur.copy(f"copy raw.bars_daily ({cols}) from stdin with (format csv)") as cp:
            cp.write(buf.getvalue())


class Raw:
    """The raw rows as dictionaries: series -> {session: bar}, and per symbol its bar sessions."""

    def __init__(self, rows: pd.DataFrame):
        self.series: dict[tuple, dict[date, dict]] = {}
        for r in rows.itertuples(index=False):
            key = (r.symbol, r.source, r.adjustment, int(r.history_version))
            self.series.setdefault(key, {})[r.session] = {"open": r.open, "close": r.close}
        self.sessions: dict[str, list[date]] = {}
        for (symbol, *_), bars in self.series.items():
            self.sessions.setdefault(symbol, [])
            self.sessions[symbol] = sorted(set(self.sessions[symbol]) | set(bars))

    def of(self, symbol: str) -> list[tuple[tuple, dict[date, dict]]]:
        """The symbol's series, best source first (priority, then name)."""
        found = [(k, v) for k, v in self.series.items() if k[0] == symbol]
        rank = {name: i for i, name in enumerate(PRIORITY)}
        return sorted(found, key=lambda kv: (rank.get(kv[0][1], len(PRIORITY)), kv[0][1:]))

    def close_changes(self, symbol: str, prev: date, day: date) -> dict[tuple, float]:
        """ln(close_day / close_prev) of every series holding both bars."""
        return {
            k[1:]: math.log(b[day]["close"] / b[prev]["close"])
            for k, b in self.of(symbol)
            if prev in b and day in b
        }

    def label(self, symbol: str, t1: date, t2: date) -> float | None:
        for _, b in self.of(symbol):
            if t1 in b and t2 in b:
                return math.log(b[t2]["open"] / b[t1]["open"])
        return None


@pytest.fixture(scope="module")
def series_built(pg_server_url, template_db, tmp_path_factory):
    dbs = Databases(pg_server_url)
    work, snapshot = f"tw_series_work_{os.getpid()}", f"tw_series_built_{os.getpid()}"
    target = tmp_path_factory.mktemp("dbt-series-target")
    url = dbs.create(work, template=template_db)
    rows = raw_bars()
    load(url, rows)
    result = build(url=url, target_path=target)
    dbs.create(snapshot, template=work)
    yield {"url": url, "rows": rows, "raw": Raw(rows), "target": target, "result": result,
           "dbs": dbs, "work": work, "snapshot": snapshot}  # fmt: skip
    dbs.drop(work, snapshot)


def features(url: str) -> pd.DataFrame:
    return read_frame(url, "select * from features.daily_features order by symbol, session")


def labels(url: str) -> pd.DataFrame:
    return read_frame(url, "select * from features.forward_returns order by symbol, session")


def test_build_succeeds_with_several_series(series_built):
    assert series_built["result"].success


def test_every_log_change_is_within_one_series(series_built):
    raw, f = series_built["raw"], features(series_built["url"])
    assert len(f) == sum(len(s) for s in raw.sessions.values())
    problems = []
    for r in f.itertuples(index=False):
        days = raw.sessions[r.symbol]
        i = days.index(r.session)
        changes = raw.close_changes(r.symbol, days[i - 1], r.session) if i else {}
        series = (r.series_source, r.series_adjustment, r.series_history_version)
        if r.lr_close is None or (isinstance(r.lr_close, float) and math.isnan(r.lr_close)):
            if changes:
                problems.append(f"{r.symbol} {r.session}: null although {list(changes)} link")
        elif series not in changes or abs(r.lr_close - changes[series]) > TOL:
            problems.append(f"{r.symbol} {r.session}: {r.lr_close} is no change of {series}")
    assert not problems, problems[:5]


def test_switch_quarantine_and_gap_cases(series_built):
    f = features(series_built["url"]).set_index(["symbol", "session"])
    raw = series_built["raw"]
    bars = fixture_bars().set_index(["symbol", "session"])["close"]

    def ln(symbol, a, b):
        return math.log(bars[(symbol, b)] / bars[(symbol, a)])

    # AAPL: alpaca starts (price bar switches) but its first bar has no previous alpaca bar:
    # csv's change, not ln(0.8 * ...), the phantom -22 %.
    row = f.loc[("AAPL", AAPL_SWITCH)]
    assert row["source"] == "alpaca" and row["series_source"] == "csv"
    assert row["lr_close"] == pytest.approx(ln("AAPL", date(2010, 5, 28), AAPL_SWITCH), abs=TOL)
    # MSFT: the quarantined alpaca bar; csv fills it, and the next session links through csv.
    q = f.loc[QUARANTINED]
    assert q["source"] == "csv" and q["series_source"] == "csv"
    nxt = f.loc[("MSFT", date(2010, 3, 16))]
    assert nxt["source"] == "alpaca" and nxt["series_source"] == "csv"
    assert nxt["lr_close"] == pytest.approx(ln("MSFT", *[QUARANTINED[1], date(2010, 3, 16)]))
    # XOM: no overlap, so no change on alpaca's first bar, and windows restart there.
    x = f.loc[("XOM", XOM_FIRST_ALPACA)]
    assert x["series_source"] == "alpaca" and pd.isna(x["lr_close"]) and pd.isna(x["vol_5"])
    assert pd.isna(f.loc[("XOM", date(2010, 7, 8)), "ret_mean_5"])  # 5 alpaca bars: not yet
    assert not pd.isna(f.loc[("XOM", date(2010, 7, 9)), "ret_mean_5"])  # 6 bars: 5 changes
    # JPM: history versions are separate series.
    j = f.loc[("JPM", JPM_RESTATED)]
    assert j["series_source"] == "csv"  # alpaca's version 2 has no previous bar yet
    assert j["lr_close"] == pytest.approx(ln("JPM", date(2010, 4, 30), JPM_RESTATED), abs=TOL)
    # KO: the listing gap is spanned by one series, gap_sessions says how far.
    k = f.loc[("KO", date(2010, 8, 9))]
    assert k["gap_sessions"] == 5
    assert k["lr_close"] == pytest.approx(ln("KO", date(2010, 7, 30), date(2010, 8, 9)), abs=TOL)
    assert raw.close_changes("XOM", XOM_LAST_CSV, XOM_FIRST_ALPACA) == {}


def test_every_label_is_within_one_series(series_built):
    raw, lab = series_built["raw"], labels(series_built["url"])
    cal = nyse_calendar(fixture_bars())
    nxt = {d: cal[i + 1] for i, d in enumerate(cal[:-1])}
    problems = []
    for r in lab.itertuples(index=False):
        t1 = nxt.get(r.session)
        t2 = nxt.get(t1) if t1 else None
        want = raw.label(r.symbol, t1, t2) if t2 else None
        got = None if pd.isna(r.fwd_open_lr) else r.fwd_open_lr
        if (want is None) != (got is None) or (want is not None and abs(got - want) > TOL):
            problems.append(f"{r.symbol} {r.session}: {got} != {want}")
    assert not problems, problems[:5]
    by = lab.set_index(["symbol", "session"])
    # XOM's label of 06-29 would span csv (06-30) -> alpaca (07-01): null, not ln 0.5.
    assert pd.isna(by.loc[("XOM", date(2010, 6, 29)), "fwd_open_lr"])
    assert by.loc[("XOM", date(2010, 6, 30)), "label_source"] == "alpaca"


def test_env_rewards_match_the_raw_bars(series_built):
    """The contract: marts built by dbt, read by the project's loader, stepped by the env; each
    reward equals the portfolio growth computed from the raw opens of one series."""
    from tradewind.rl.data import load_market_data
    from tradewind.rl.env import PortfolioEnv

    raw = series_built["raw"]
    symbols = sorted(raw.sessions)
    start, end = date(2010, 2, 1), date(2010, 12, 31)
    data = load_market_data(series_built["url"], symbols, start, end, warmup_sessions=3)
    request = np.array([1.0] * len(symbols) + [0.5])
    env = PortfolioEnv(
        data, window=3, action_kind="weights", random_start=False, fixed_bps=0.0
    )  # fmt: skip
    env.reset(seed=0)
    got, done = [], False
    while not done:
        _, reward, terminated, truncated, info = env.step(request)
        got.append((str(info["session"]), reward))
        done = terminated or truncated

    days = sorted(set().union(*map(set, raw.sessions.values())))
    listed = {s: set(v) for s, v in raw.sessions.items()}
    unavailable_seen = set()
    for session, reward in got:
        t = days.index(date.fromisoformat(session))
        rel = {}
        for s in symbols:
            if t + 2 >= len(days):  # no bar after the data: no label
                break
            t1, t2 = days[t + 1], days[t + 2]
            lab = raw.label(s, t1, t2)
            if all(d in listed[s] for d in (days[t], t1, t2)) and lab is not None:
                rel[s] = math.exp(lab)
            elif days[t] in listed[s]:
                unavailable_seen.add(s)
        total = len(rel) + 0.5
        growth = sum(r / total for r in rel.values()) + 0.5 / total
        assert reward == pytest.approx(math.log(growth), abs=1e-12), session
    assert len(got) > 200
    # XOM at 06-29 (labels across the switch) was held out, as were KO around its gap.
    assert {"XOM", "KO"} <= unavailable_seen


def test_incremental_sees_a_change_in_a_fallback_series(series_built):
    """A corrected csv bar of AAPL where alpaca holds the price bar: only bars_digest shows it."""
    dbs = series_built["dbs"]
    url = dbs.create(series_built["work"], template=series_built["snapshot"])
    day = date(2010, 6, 10)
    before = features(url).set_index(["symbol", "session"])
    assert before.loc[("AAPL", day), "series_source"] == "csv"
    with psycopg.connect(url) as c:
        c.execute(
            "update raw.bars_daily set close = close * 1.01, high = greatest(high, close * 1.01) "
            "where source = 'csv' and symbol = 'AAPL' and session = %s",
            (day,),
        )
    build(url=url, target_path=series_built["target"], select=["+daily_features"])
    after = features(url).set_index(["symbol", "session"])
    assert after.loc[("AAPL", day), "lr_close"] != before.loc[("AAPL", day), "lr_close"]
    assert after.loc[("AAPL", day), "source"] == "alpaca"
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("create table scratch_df as select * from features.daily_features")
    build(url=url, full_refresh=True, target_path=series_built["target"],
          select=["daily_features"])  # fmt: skip
    diff = read_frame(
        url,
        "(select * from scratch_df except all select * from features.daily_features) union all "
        "(select * from features.daily_features except all select * from scratch_df)",
    )
    assert diff.empty, f"incremental differs from a full refresh in {len(diff)} rows"


def test_series_choice_var_is_validated(series_built):
    from tradewind.features import FeatureBuildError

    with pytest.raises(FeatureBuildError, match="series_choice"):
        build(
            url=series_built["url"],
            target_path=series_built["target"],
            select=["daily_features"],
            vars={"series_choice": "newest"},
        )
    assert (PROJECT_ROOT / "dbt" / "README.md").read_text().count("series_choice") >= 1


def test_pandas_reference_equals_the_warehouse_on_several_series(series_built):
    """The one pandas copy (MarketData.from_bars, synthetic paths, benchmark) gives the SQL's
    features and labels on multi-series bars too."""
    from features_testlib import assert_frames_close, expected_labels

    from tradewind.features import reference

    rows = series_built["rows"]
    url = series_built["dbs"].create(series_built["work"], template=series_built["snapshot"])
    want = reference.daily_features(rows, nyse_calendar(rows))
    got = features(url)
    assert_frames_close(got, want, [c for c in want.columns if not c.startswith("series_")])
    g, w = got.sort_values(["symbol", "session"]), want.sort_values(["symbol", "session"])
    for col in ("series_source", "series_adjustment", "series_history_version"):
        assert g[col].astype(str).tolist() == w[col].astype(str).tolist(), col
    lab_want = expected_labels(rows)
    lab_got = labels(url)
    assert_frames_close(lab_got, lab_want, ["open", "next_open", "next2_open", "fwd_open_lr"])


def test_incremental_build_skips_an_unchanged_seed(series_built):
    """The NYSE seed is reloaded only when the table differs from the file."""
    from tradewind.features.runner import SEED_TABLE, seed_is_loaded

    url = series_built["dbs"].create(series_built["work"], template=series_built["snapshot"])
    project = PROJECT_ROOT / "dbt"
    assert seed_is_loaded(url, project)
    with psycopg.connect(url) as c:
        c.execute(
            f"update {SEED_TABLE} set market_close = market_close - interval '3 hours' "
            "where session = '2010-11-26'"
        )
    assert not seed_is_loaded(url, project)
    result = build(url=url, target_path=series_built["target"])
    assert any(n["resource_type"].endswith("seed") for n in result.nodes)  # reloaded
    assert seed_is_loaded(url, project)
    again = build(url=url, target_path=series_built["target"])
    assert not any(n["resource_type"].endswith("seed") for n in again.nodes)
