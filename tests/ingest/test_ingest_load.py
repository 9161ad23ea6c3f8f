"""Loading: one transaction per batch, idempotent upserts that never rewrite unchanged rows,
watermarks and run logs, strict mode, file hand-over between stages, GE as the commit gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ingest_helpers import bars, daily_batch, good_rows, rows, scalar

from tradewind.ingest import (
    Batch,
    QualityGateError,
    StrictModeError,
    ValidatedBatch,
    demo_ingest,
    extract,
    load,
    load_universe_members,
    run_ingest,
    validate,
)
from tradewind.ingest.batch import BatchMeta
from tradewind.ingest.loader import encode_copy_binary, read_watermarks
from tradewind.ingest.quality import screen
from tradewind.ingest.timeframes import DAILY, MINUTE

AS_OF = "2021-01-04T00:00:00+00:00"


def _synthetic(start="2020-01-02", end="2020-03-31", symbols=("AAPL", "MSFT")):
    return extract("synthetic", list(symbols), start, end, "1Day")


def test_rerun_changes_nothing_and_counts_are_right(db_url):
    v = validate(_synthetic(), as_of=AS_OF)
    first = load(v, db_url)
    n = len(v.valid)
    assert (first.rows_new, first.rows_updated, first.rows_unchanged) == (n, 0, 0)
    xmins = dict(rows(db_url, "select symbol || session, xmin::text from raw.bars_daily"))

    second = load(validate(_synthetic(), as_of=AS_OF), db_url)
    assert (second.rows_new, second.rows_updated, second.rows_unchanged) == (0, 0, n)
    # An upsert that changes no value does not rewrite the row: same tuple version (xmin).
    assert dict(rows(db_url, "select symbol || session, xmin::text from raw.bars_daily")) == xmins

    # A corrected bar is updated, a new one inserted; the others stay untouched.
    b = _synthetic()
    b.frame.loc[3, "close"] = float(b.frame.loc[3, "close"]) * 1.001
    b.frame.loc[3, "high"] = max(b.frame.loc[3, "high"], b.frame.loc[3, "close"])
    extra = _synthetic("2020-04-01", "2020-04-01")
    b = Batch(pd.concat([b.frame, extra.frame], ignore_index=True), b.meta)
    b.meta.end = "2020-04-01"
    third = load(validate(b, as_of=AS_OF), db_url)
    assert (third.rows_new, third.rows_updated, third.rows_unchanged) == (2, 1, n - 1)
    after = dict(rows(db_url, "select symbol || session, xmin::text from raw.bars_daily"))
    changed = {k for k in xmins if after[k] != xmins[k]}
    assert len(changed) == 1

    runs = rows(db_url, "select status, rows_new, rows_updated, rows_unchanged from "
                "ops.ingest_runs order by run_id")  # fmt: skip
    assert runs == [("succeeded", n, 0, 0), ("succeeded", 0, 0, n),
                    ("succeeded", 2, 1, n - 1)]  # fmt: skip


def test_watermarks_follow_the_loaded_bars(db_url):
    load(validate(_synthetic("2020-01-02", "2020-01-31"), as_of=AS_OF), db_url)
    load(validate(_synthetic("2020-03-02", "2020-03-31"), as_of=AS_OF), db_url)
    marks = read_watermarks(db_url, "synthetic", "1Day")
    first, last = marks["AAPL"]
    # Daily watermarks are 00:00 New York of the first and last loaded sessions.
    assert first.tz_convert("America/New_York") == pd.Timestamp("2020-01-02", tz="America/New_York")
    assert last.tz_convert("America/New_York") == pd.Timestamp("2020-03-31", tz="America/New_York")
    n = scalar(db_url, "select count(*) from raw.bars_daily where symbol = 'AAPL'")
    assert (
        scalar(db_url, "select rows_loaded from ops.ingest_watermarks where symbol = 'AAPL'") == n
    )


def test_strict_mode_loads_nothing_and_records_why(db_url):
    batch = daily_batch(good_rows("AAPL", ["2020-10-26", "2020-10-27", "2020-10-24"]))
    v = validate(batch, as_of=AS_OF)
    with pytest.raises(StrictModeError, match="1 quarantined"):
        load(v, db_url, strict=True)
    assert bars(db_url).empty
    assert scalar(db_url, "select status from ops.ingest_runs") == "rejected"
    assert rows(db_url, "select symbol, bar_time, reasons from ops.quarantine") == [
        ("AAPL", "2020-10-24", ["not a NYSE session"])
    ]
    # Without strict the good rows load and the run says what was refused, and where.
    summary = load(v, db_url)
    assert summary.rows_new == 2
    line = summary.line()
    assert "1 quarantined" in line and "not a NYSE session" in line and "AAPL 2020-10-24" in line


def test_batch_and_validated_batch_round_trip_through_files(tmp_path, db_url):
    batch = daily_batch(good_rows("AAPL", ["2020-10-26", "2020-10-27"]) +
                        [("AAPL", "2020-10-28", 1.0, 2.0, 0.5, "abc", 10.0)],
                        symbols=["AAPL"], start="2020-10-26", end="2020-10-28")  # fmt: skip
    batch.actions = pd.DataFrame({"symbol": ["AAPL"], "ex_date": [pd.Timestamp("2020-10-27")],
                                  "action": ["split"], "value": [4.0]})  # fmt: skip
    p = batch.save(tmp_path / "extract.parquet")
    again = Batch.load(p)
    assert again.meta == batch.meta
    pd.testing.assert_frame_equal(again.actions, batch.actions, check_dtype=False)
    assert again.frame["close"].tolist()[2] == "abc"

    v = validate(again, as_of=AS_OF)
    folder = v.save(tmp_path / "validated")
    v2 = ValidatedBatch.load(folder)
    pd.testing.assert_frame_equal(v2.valid, v.valid, check_dtype=False)
    assert v2.quarantined["reasons"].tolist() == [["close is not a number"]]
    assert v2.gate == v.gate and v2.as_of == v.as_of
    summary = load(v2, db_url)
    assert summary.rows_new == 2 and summary.actions_loaded == 1
    assert rows(
        db_url, "select symbol, ex_date::text, action, value from raw.corporate_actions"
    ) == [("AAPL", "2020-10-27", "split", 4.0)]


def test_great_expectations_disagreeing_blocks_the_commit(db_url):
    v, check = screen(_synthetic(), AS_OF)
    # Routing masks that disagree with GE (here: a row flagged that GE passes) must never load.
    bad = np.zeros(len(check.frame), dtype=bool)
    bad[0] = True
    check.masks["high_ge_low"] = bad
    with pytest.raises(QualityGateError, match="high_ge_low"):
        load(v, db_url, gate_check=check)
    assert bars(db_url).empty
    assert scalar(db_url, "select status from ops.ingest_runs") == "failed"


def test_run_ingest_runs_the_gate_while_loading(db_url):
    summary = run_ingest("synthetic", ["AAPL"], "2020-01-02", "2020-01-31", as_of=AS_OF,
                         url=db_url)  # fmt: skip
    from tradewind.calendar import sessions

    assert summary.rows_new == len(sessions("2020-01-02", "2020-01-31")) == 21
    gate = scalar(db_url, "select params->'gate' from ops.ingest_runs")
    assert len(gate) >= 20 and all(g["success"] for g in gate)


def test_binary_copy_encoding_round_trips(db_url):
    import psycopg

    from tradewind.ingest.loader import _COPY_HEADER, _COPY_TRAILER, _stage_ddl

    frame = pd.DataFrame({
        "symbol": ["A", "BRK.B", "A"],
        "ts": pd.to_datetime(["2020-01-02T14:30:00Z", "2020-01-02T14:31:00.5Z",
                              "1999-12-31T23:59:00Z"], format="ISO8601"),
        "open": [1.5, 2.25, 1e-9], "high": [2.0, 3.0, 1.0], "low": [1.0, 2.0, 1e-10],
        "close": [1.75, 2.5, 0.5], "volume": [0.0, 12.5, 3.0], "vwap": [np.nan, 2.4, 0.7],
        "trade_count": [np.nan, 7.0, 1.0],
    })  # fmt: skip
    with psycopg.connect(db_url) as c:
        c.execute(_stage_ddl(MINUTE))
        with c.cursor() as cur, cur.copy("copy _tw_stage from stdin (format binary)") as cp:
            cp.write(_COPY_HEADER)
            for chunk in encode_copy_binary(frame, MINUTE):
                cp.write(chunk)
            cp.write(_COPY_TRAILER)
        got = c.execute("select symbol, ts, open, volume, vwap, trade_count from _tw_stage "
                        "order by ts").fetchall()  # fmt: skip
    assert [g[0] for g in got] == ["A", "A", "BRK.B"]
    assert got[2][1] == pd.Timestamp("2020-01-02T14:31:00.5Z").to_pydatetime()
    assert got[0][2] == 1e-9 and got[2][3] == 12.5 and np.isnan(got[1][4])
    assert encode_copy_binary(frame.iloc[:0], DAILY) == []


def test_binary_copy_target_rows_in_frame_order_with_mixed_nulls_and_lengths(db_url):
    """The direct-COPY encoder against psycopg's own row adaptation: rows of every symbol
    length with vwap / trade_count NULL at random (the masked path) and in long runs (the
    fixed-width path, see loader._blocks) arrive with the same values, in the frame's order."""
    import psycopg

    from tradewind.ingest.loader import (
        _COPY_HEADER,
        _COPY_TRAILER,
        _blocks,
        _Field,
        encode_copy_binary_target,
    )

    rng = np.random.default_rng(5)
    cols = (
        "source, symbol, ts, open, high, low, close, volume, vwap, trade_count, adjustment, run_id"
    )
    for k, share_null in ((400, 0.5), (3_000, 0.0)):
        frame = pd.DataFrame({
            "symbol": rng.choice(["F", "GE", "IBM", "AAPL", "BRK.B", "GOOGL"], k),
            "ts": pd.Timestamp("2020-01-02T14:30:00Z") + pd.to_timedelta(np.arange(k), "min"),
            **{c: rng.random(k) * 100 for c in ("open", "high", "low", "close", "volume")},
            "vwap": np.where(rng.random(k) < share_null, np.nan, rng.random(k)),
            "trade_count": np.where(rng.random(k) < share_null, np.nan,
                                    rng.integers(0, 10**12, k).astype(float)),
        })  # fmt: skip
        if not share_null:  # sorted: a few long runs of one shape, the unmasked path
            frame = frame.sort_values("symbol", kind="stable").reset_index(drop=True)
        frame.loc[: k // 3, "vwap"] = np.nan  # a long run of NULLs as well
        with psycopg.connect(db_url) as c:
            for t in ("mine", "theirs"):
                c.execute(f"create temp table {t} (like raw.bars_minute including defaults)")
            with (
                c.cursor() as cur,
                cur.copy(f"copy mine ({cols}) from stdin (format binary)") as cp,
            ):
                cp.write(_COPY_HEADER)
                for chunk in encode_copy_binary_target(frame, MINUTE, "alpaca", "all", 42):
                    cp.write(chunk)
                cp.write(_COPY_TRAILER)
            with c.cursor() as cur, cur.copy(f"copy theirs ({cols}) from stdin") as cp:
                for r in frame.itertuples(index=False):
                    vwap = None if np.isnan(r.vwap) else r.vwap
                    count = None if np.isnan(r.trade_count) else int(r.trade_count)
                    cp.write_row(("alpaca", r.symbol, r.ts.to_pydatetime(), r.open, r.high,
                                  r.low, r.close, r.volume, vwap, count, "all", 42))  # fmt: skip
            mine = c.execute(f"select {cols} from mine order by ctid").fetchall()
            theirs = c.execute(f"select {cols} from theirs order by ctid").fetchall()
        assert len(_blocks(k, [_Field("text", None, lengths=np.array([len(x) for x in frame.symbol])),
                               _Field(">f8", None, null=frame["vwap"].isna().to_numpy())])) \
            == (1 if share_null else 7)  # fmt: skip
        assert len(mine) == k and mine == theirs
        assert [m[1] for m in mine] == frame["symbol"].tolist()


def test_direct_copy_writes_a_new_batch_in_key_order(db_url):
    """A new batch goes into the bars table sorted by (symbol, session) whatever the symbols'
    lengths: the heap is in index order (see loader._encode_tuples)."""
    sessions = ["2020-01-02", "2020-01-03", "2020-01-06"]
    syms = ["GE", "BRK.B", "F", "AAPL"]
    b = daily_batch([r for s in syms for r in good_rows(s, sessions)])
    load(validate(b, as_of=AS_OF), db_url)
    got = rows(db_url, "select symbol, session::text from raw.bars_daily order by ctid")
    assert got == sorted((s, d) for s in syms for d in sessions)


def test_universes_load_and_are_idempotent(db_url):
    first = load_universe_members(db_url)
    assert set(first.universes) >= {"DOW30", "NASDAQ100", "SP100"}
    assert first.new == first.rows > 0
    second = load_universe_members(db_url)
    assert (second.new, second.updated, second.removed) == (0, 0, 0)
    n = scalar(db_url, "select count(*) from ref.universe_members where universe = 'DOW30' "
               "and valid_from <= '2020-10-01' and (valid_to is null or valid_to > '2020-10-01')")  # fmt: skip
    assert n == 30


def test_universe_option_picks_point_in_time_members(db_url):
    summary = run_ingest("synthetic", None, "2020-01-02", "2020-01-10", universe="DOW30",
                         as_of=AS_OF, url=db_url)  # fmt: skip
    symbols = {r[0] for r in rows(db_url, "select distinct symbol from raw.bars_daily")}
    from tradewind.universes import members_between

    assert symbols == set(members_between("DOW30", "2020-01-02", "2020-01-10"))
    assert summary.rows_quarantined == 0


def test_demo_ingest_is_idempotent(db_url):
    universes, first = demo_ingest(db_url)
    from tradewind.calendar import sessions

    assert first.rows_new == 30 * len(sessions("2008-01-01", "2020-12-31"))
    assert first.rows_quarantined == 0 and universes.rows > 0
    _, second = demo_ingest(db_url)
    assert (second.rows_new, second.rows_updated) == (0, 0)
    assert scalar(db_url, "select min(session)::text || ' ' || max(session)::text "
                  "from raw.bars_daily") == "2008-01-02 2020-12-31"  # fmt: skip


def test_synthetic_subset_matches_full_market():
    full = extract("synthetic", None, "2020-01-02", "2020-02-28").frame
    one = extract("synthetic", ["MSFT"], "2020-01-02", "2020-02-28").frame
    want = full[full["symbol"] == "MSFT"].reset_index(drop=True)
    pd.testing.assert_frame_equal(one.reset_index(drop=True), want)


def test_empty_batch_loads_nothing_and_says_so(db_url):
    b = Batch(pd.DataFrame(columns=["symbol", "session", "open", "high", "low", "close",
                                    "volume"]),
              BatchMeta(source="test", symbols=["AAPL"]))  # fmt: skip
    summary = load(validate(b, as_of=AS_OF), db_url)
    assert (summary.rows_in, summary.rows_new, summary.status) == (0, 0, "succeeded")
    assert rows(db_url, "select symbol, kind from ops.data_warnings") == [("AAPL", "no_data")]
