"""Minute bars: regular session and hourly buckets (issue 9, item 5). Extended-hours minutes
(pre- and post-market, and after a half day's 13:00 close) stay out of ``raw.bars_hourly``, whose
buckets start at the 09:30 New York open, on plain PostgreSQL (a view) and on TimescaleDB (the
continuous aggregate, on the PGlite build). Expected buckets are computed here with pandas from
the inserted minutes and tradewind.calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from tradewind.calendar import calendar_bounds, session_close_utc, session_open_utc, sessions

NY = "America/New_York"
DAYS = ["2019-11-27", "2019-11-29"]  # a full session; the half day after Thanksgiving (13:00)
COLS = ["open", "high", "low", "close", "volume", "minutes"]


def _minutes(symbol: str) -> pd.DataFrame:
    """Every minute 04:00-19:59 New York on DAYS, as Alpaca's extended-hours feed has them."""
    rng = np.random.default_rng(5)
    parts = []
    for d in DAYS:
        ts = pd.date_range(f"{d} 04:00", f"{d} 19:59", freq="1min", tz=NY).tz_convert("UTC")
        close = 50 + np.cumsum(rng.normal(0, 0.05, len(ts)))
        opn = np.r_[close[0], close[:-1]]
        parts.append(pd.DataFrame({
            "symbol": symbol, "ts": ts, "open": opn, "high": np.maximum(opn, close) + 0.01,
            "low": np.minimum(opn, close) - 0.01, "close": close,
            "volume": rng.integers(1, 500, len(ts)).astype(float),
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _expected(m: pd.DataFrame) -> pd.DataFrame:
    """Regular-session minutes by the calendar, in hours counted from each session's open."""
    keep = np.zeros(len(m), dtype=bool)
    for d in DAYS:
        o, c = pd.Timestamp(session_open_utc(d)), pd.Timestamp(session_close_utc(d))
        keep |= ((m["ts"] >= o) & (m["ts"] < c)).to_numpy()
    r = m[keep].copy()
    opens = r["ts"].dt.tz_convert(NY).dt.normalize() + pd.Timedelta(hours=9, minutes=30)
    r["bucket"] = opens.dt.tz_convert("UTC") + (r["ts"] - opens).dt.floor("1h")
    g = r.sort_values("ts").groupby(["symbol", "bucket"])
    out = g.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                close=("close", "last"), volume=("volume", "sum"), minutes=("ts", "size"))  # fmt: skip
    return out.reset_index()


def _insert(url: str, m: pd.DataFrame) -> None:
    # INSERT ... unnest, not COPY: the PGlite server crashes on COPY FROM STDIN.
    with psycopg.connect(url) as c:
        c.execute(
            "insert into raw.bars_minute (source, symbol, ts, open, high, low, close, volume) "
            "select 'alpaca', * from unnest(%s::text[], %s::timestamptz[], %s::float8[], "
            "%s::float8[], %s::float8[], %s::float8[], %s::float8[])",
            [m["symbol"].tolist(), m["ts"].dt.to_pydatetime().tolist(), *(m[c].tolist() for c in
             ("open", "high", "low", "close", "volume"))],
        )  # fmt: skip


def _hourly(url: str, symbol: str) -> pd.DataFrame:
    with psycopg.connect(url) as c:
        got = c.execute(
            "select symbol, bucket, open, high, low, close, volume, minutes from raw.bars_hourly "
            "where symbol = %s order by bucket", (symbol,)
        ).fetchall()  # fmt: skip
    df = pd.DataFrame(got, columns=["symbol", "bucket", *COLS])
    df["bucket"] = pd.to_datetime(df["bucket"], utc=True)
    return df


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert got["bucket"].tolist() == want["bucket"].tolist()
    for col in COLS:
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-12)
    local = got["bucket"].dt.tz_convert(NY)
    assert set(local.dt.strftime("%M")) == {"30"}  # every bucket starts at hh:30 New York
    per_day = got.groupby(local.dt.date)["minutes"].sum()
    assert per_day.tolist() == [390, 210]  # 09:30-16:00 and 09:30-13:00, nothing else
    assert local.iloc[0].strftime("%H:%M") == "09:30"


# raw.nyse_close_time lists the early closes through this date (migration 018); a later
# calendar needs a new migration, and this test says so once the calendar reaches past it.
SQL_CALENDAR_END = "2028-12-31"


def test_early_closes_in_sql_match_the_calendar(db_url):
    lo, hi = calendar_bounds()
    assert hi.isoformat() <= SQL_CALENDAR_END or pytest.fail(
        f"tradewind.calendar now reaches {hi}: extend raw.nyse_close_time in a new migration"
    )
    days = sessions(lo, hi)
    closes = [pd.Timestamp(session_close_utc(d)).tz_convert(NY).strftime("%H:%M:%S") for d in days]
    with psycopg.connect(db_url) as c:
        got = c.execute(
            "select d::text, raw.nyse_close_time(d)::text from unnest(%s::date[]) as d", (days,)
        ).fetchall()
    assert [t for _, t in got] == closes
    opens = {pd.Timestamp(session_open_utc(d)).tz_convert(NY).strftime("%H:%M") for d in days}
    assert opens == {"09:30"}  # the function's fixed open holds for every session


def test_plain_view_keeps_extended_hours_out(db_url):
    m = _minutes("EXTH")
    _insert(db_url, m)
    _check(_hourly(db_url, "EXTH"), _expected(m))
    with psycopg.connect(db_url) as c:
        pre_post = c.execute(
            "select count(*) filter (where not raw.is_regular_minute(ts)), count(*) "
            "from raw.bars_minute"
        ).fetchone()
    assert pre_post == (len(m) - 600, len(m))


def test_the_gate_reports_extended_hours_and_agrees_with_sql(db_url):
    from tradewind.ingest import validate
    from tradewind.ingest.batch import Batch, BatchMeta
    from tradewind.ingest.quality import regular_session_mask

    m = _minutes("GATE")
    v = validate(Batch(m, BatchMeta(source="t", timeframe="1Min")), "2019-12-02T00:00:00Z")
    assert len(v.valid) == len(m) and len(v.quarantined) == 0  # stored, not refused
    assert f"{len(m) - 600:,} of {len(m):,} bar(s) are outside the regular session" in (
        " ".join(v.meta.notes)
    )
    ns = m["ts"].dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    with psycopg.connect(db_url) as c:
        sql = c.execute(
            "select raw.is_regular_minute(t) from unnest(%s::timestamptz[]) with ordinality "
            "as x(t, i) order by i", (m["ts"].dt.to_pydatetime().tolist(),)
        ).fetchall()  # fmt: skip
    assert regular_session_mask(ns).tolist() == [r for (r,) in sql]


@pytest.mark.timescale
def test_continuous_aggregate_keeps_extended_hours_out(timescale_url):
    m = _minutes("EXTT")
    _insert(timescale_url, m)
    with psycopg.connect(timescale_url, autocommit=True) as c:
        kind = c.execute(
            "select count(*) from timescaledb_information.continuous_aggregates "
            "where view_schema = 'raw' and view_name = 'bars_hourly'"
        ).fetchone()[0]
        assert kind == 1
        c.execute("call refresh_continuous_aggregate('raw.bars_hourly', null, null)")
    _check(_hourly(timescale_url, "EXTT"), _expected(m))


def _regular(m: pd.DataFrame) -> pd.DataFrame:
    keep = np.zeros(len(m), dtype=bool)
    for d in DAYS:
        o, c = pd.Timestamp(session_open_utc(d)), pd.Timestamp(session_close_utc(d))
        keep |= ((m["ts"] >= o) & (m["ts"] < c)).to_numpy()
    return m[keep]


def test_dbt_five_minute_bars_keep_extended_hours_out(db_url, tmp_path):
    """dbt's int_bars_5min, like the daily and hourly rollups, holds regular-session minutes only
    (it held every minute the feed delivered before): expected from the calendar with pandas."""
    from tradewind.features import build

    m = _minutes("FIVE")
    _insert(db_url, m)
    build(url=db_url, select=["+int_bars_5min"], target_path=tmp_path / "target")
    with psycopg.connect(db_url) as c:
        got = c.execute(
            "select symbol, bucket, open, high, low, close, volume, minutes "
            "from features_intermediate.int_bars_5min order by bucket"
        ).fetchall()
    got = pd.DataFrame(got, columns=["symbol", "bucket", *COLS])
    got["bucket"] = pd.to_datetime(got["bucket"], utc=True)

    r = _regular(m).assign(bucket=lambda d: d["ts"].dt.floor("5min")).sort_values("ts")
    want = r.groupby(["symbol", "bucket"]).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"),
        close=("close", "last"), volume=("volume", "sum"), minutes=("ts", "size"),
    ).reset_index()  # fmt: skip
    assert got["bucket"].tolist() == want["bucket"].tolist()
    for col in COLS:
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-12)
    local = got["bucket"].dt.tz_convert(NY)
    assert got.groupby(local.dt.date)["minutes"].sum().tolist() == [390, 210]
    assert (local.dt.strftime("%H:%M").min(), local.dt.strftime("%H:%M").max()) == (
        "09:30",
        "15:55",
    )
