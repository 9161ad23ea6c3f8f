"""The bad-input corpus: every case is quarantined (with a clear reason) or rejected whole, the
good rows of the same batch load, earlier data stays intact, and no bad row reaches the bars."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from ingest_helpers import bars, daily_batch, good_rows, rows, scalar

from tradewind.ingest import BatchRejected, load, validate
from tradewind.ingest.batch import Batch, BatchMeta

WEEK = ["2020-10-26", "2020-10-27", "2020-10-28", "2020-10-29", "2020-10-30"]
AS_OF = "2020-10-30T21:00:00+00:00"  # after Friday's 16:00 ET close


def _with(rows_: list[tuple], i: int, **changes) -> list[tuple]:
    names = ["symbol", "session", "open", "high", "low", "close", "volume"]
    out = list(rows_)
    row = dict(zip(names, out[i], strict=True))
    row.update(changes)
    out[i] = tuple(row[n] for n in names)
    return out


def _base(symbol: str = "AAPL") -> list[tuple]:
    return good_rows(symbol, WEEK)


def case_nan():
    return daily_batch(_with(_base(), 1, close=float("nan")))


def case_negative_price():
    return daily_batch(_with(_base(), 1, open=-5.0))


def case_high_lt_low():
    return daily_batch(_with(_base(), 2, high=90.0, low=95.0))


def case_duplicate_rows():
    r = _base()
    return daily_batch(r + [r[3]])


def case_conflicting_duplicates():
    r = _base()
    return daily_batch(r + [_with(r, 3, close=r[3][5] + 0.5)[3]])


def case_out_of_order_pages():
    r = _base() + _base("MSFT")
    return daily_batch(r[3:5] + r[:3] + r[5:])  # a later page of AAPL arrived first


def case_unknown_symbol():
    # ZZZZ was asked for and the source has nothing; XYZ was not asked for but came back.
    return daily_batch(_base() + [("XYZ", WEEK[0], 10.0, 11.0, 9.0, 10.5, 5.0)],
                       symbols=["AAPL", "ZZZZ"])  # fmt: skip


def case_empty_result():
    return daily_batch([], symbols=["AAPL", "MSFT"])


def case_missing_column():
    b = daily_batch(_base())
    b.frame = b.frame.drop(columns=["volume"])
    return b


def case_string_in_number():
    return daily_batch(_with(_base(), 2, close="abc"))


def case_mistyped_column():
    b = daily_batch(_base())
    b.frame["high"] = ["n/a?", "x", "y", "z", "w"]
    return b


def case_bar_for_tomorrow():
    return daily_batch(_base() + good_rows("AAPL", ["2020-11-02"]))


def case_non_session_dates():
    return daily_batch(_base() + good_rows("AAPL", ["2020-10-24", "2020-11-26"]))


def case_partial_current_day():
    return daily_batch(_base())  # validated as of 14:00 ET on Friday 2020-10-30


def case_infinite():
    return daily_batch(_with(_base(), 0, high=math.inf))


def case_negative_volume():
    return daily_batch(_with(_base(), 4, volume=-1.0))


def case_malformed_symbol():
    return daily_batch(_with(_base(), 4, symbol="A$B"))


def case_unparseable_date():
    return daily_batch(_with(_base(), 4, session="2020-13-45"))


def case_outside_interval():
    return daily_batch(_base(), start="2020-10-27", end="2020-10-30")


def case_repeated_keys_with_missing_parts():
    # Two AAPL rows without a session (different values) and two rows with neither part: no bar
    # is identified, so nothing conflicts; all four are quarantined (the old check crashed).
    no_session = [("AAPL", None, 1.0, 2.0, 0.5, 1.5, 10.0), ("AAPL", None, 3.0, 4.0, 2.0, 3.5, 9.0)]
    no_key = [(None, None, 1.0, 2.0, 0.5, 1.5, 1.0)] * 2
    return daily_batch(_base() + no_session + no_key)


def case_zero_volume_and_jump():
    r = _with(_base(), 1, volume=0.0)
    r = _with(r, 3, open=250.0, high=260.0, low=240.0, close=255.0)
    return daily_batch(r)


# (builder, as_of, expected): ("quarantine", reason, n) | ("reject", text) | ("ok", warning kinds)
CASES = {
    "nan": (case_nan, AS_OF, ("quarantine", "close is missing", 1)),
    "negative_price": (case_negative_price, AS_OF, ("quarantine", "open <= 0", 1)),
    "high_lt_low": (case_high_lt_low, AS_OF, ("quarantine", "high < low", 1)),
    "duplicate_rows": (case_duplicate_rows, AS_OF, ("quarantine", "duplicate row", 1)),
    "conflicting_duplicates": (
        case_conflicting_duplicates,
        AS_OF,
        ("reject", "conflicting duplicates"),
    ),  # fmt: skip
    "out_of_order_pages": (case_out_of_order_pages, AS_OF, ("ok", {"out_of_order"})),
    "unknown_symbol": (case_unknown_symbol, AS_OF, ("quarantine", "symbol not requested", 1)),
    "empty_result": (case_empty_result, AS_OF, ("ok", {"no_data"})),
    "missing_column": (case_missing_column, AS_OF, ("reject", "missing column(s): volume")),
    "string_in_number": (case_string_in_number, AS_OF, ("quarantine", "close is not a number", 1)),
    "mistyped_column": (case_mistyped_column, AS_OF, ("reject", "mistyped column(s)")),
    "bar_for_tomorrow": (
        case_bar_for_tomorrow,
        AS_OF,
        ("quarantine", "session not closed at as-of time", 1),
    ),  # fmt: skip
    "non_session_dates": (case_non_session_dates, AS_OF, ("quarantine", "not a NYSE session", 2)),
    "partial_current_day": (
        case_partial_current_day,
        "2020-10-30T14:00:00-04:00",
        ("quarantine", "session not closed at as-of time", 1),
    ),  # fmt: skip
    "infinite": (case_infinite, AS_OF, ("quarantine", "high is not finite", 1)),
    "negative_volume": (case_negative_volume, AS_OF, ("quarantine", "volume < 0", 1)),
    "malformed_symbol": (case_malformed_symbol, AS_OF, ("quarantine", "symbol is malformed", 1)),
    "unparseable_date": (case_unparseable_date, AS_OF, ("quarantine", "session is not a date", 1)),
    "outside_interval": (
        case_outside_interval,
        AS_OF,
        ("quarantine", "outside the requested interval", 1),
    ),  # fmt: skip
    "zero_volume_and_jump": (case_zero_volume_and_jump, AS_OF, ("ok", {"zero_volume", "jump"})),
    "repeated_keys_with_missing_parts": (
        case_repeated_keys_with_missing_parts,
        AS_OF,
        ("quarantine", "session is missing", 4),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_quarantined_or_rejected(name):
    build, as_of, expected = CASES[name]
    batch = build()
    v = validate(batch, as_of=as_of)
    if expected[0] == "reject":
        assert not v.ok
        assert expected[1] in v.rejection
        assert v.valid.empty
        return
    assert v.ok, v.rejection
    # Nothing dropped silently: every input row is valid or quarantined.
    assert len(v.valid) + len(v.quarantined) == len(batch.frame)
    if expected[0] == "quarantine":
        _, reason, n = expected
        assert len(v.quarantined) == n, v.quarantined
        assert all(reason in r for r in v.quarantined["reasons"]), v.quarantined["reasons"]
        assert v.reason_counts()[reason] == n
    else:
        assert v.quarantined.empty, v.quarantined
        assert expected[1] <= set(v.warnings["kind"]), v.warnings
    # Great Expectations ran and agrees: every rule with a quarantined row failed there too.
    if len(batch.frame):
        assert len(v.gate) >= 20
        failed = {g["rule"] for g in v.gate if not g["success"]}
        assert bool(failed) == (not v.quarantined.empty) or name == "duplicate_rows"


def test_payload_keeps_the_cell_as_it_arrived():
    v = validate(case_string_in_number(), as_of=AS_OF)
    row = v.quarantined.iloc[0]
    assert row["symbol"] == "AAPL" and row["bar_time"] == WEEK[2]
    assert '"close": "abc"' in row["payload"]
    assert row["reasons"] == ["close is not a number"]  # not also "close is missing"


def test_half_day_closes_at_one():
    # 2020-11-27 (day after Thanksgiving) closes at 13:00 ET = 18:00 UTC.
    b = daily_batch(good_rows("AAPL", ["2020-11-27"]))
    assert validate(b, as_of="2020-11-27T18:00:00+00:00").quarantined.empty
    late = validate(b, as_of="2020-11-27T17:59:59+00:00")
    assert late.quarantined["reasons"].tolist() == [["session not closed at as-of time"]]


def test_minute_bar_incomplete_at_as_of():
    ts = pd.to_datetime(["2020-10-30T14:30:00Z", "2020-10-30T14:31:00Z", "2020-10-31T14:31:00Z"])
    frame = pd.DataFrame({"symbol": "AAPL", "ts": ts, "open": 10.0, "high": 11.0, "low": 9.0,
                          "close": 10.5, "volume": 100.0})  # fmt: skip
    v = validate(Batch(frame, BatchMeta(source="t", timeframe="1Min")),
                 as_of="2020-10-30T14:31:30+00:00")  # fmt: skip
    reasons = dict(zip(v.quarantined["bar_time"], v.quarantined["reasons"], strict=True))
    assert reasons == {
        "2020-10-30T14:31:00+00:00": ["bar not complete at as-of time"],
        "2020-10-31T14:31:00+00:00": ["not a NYSE session", "bar not complete at as-of time"],
    }
    assert v.valid["ts"].tolist() == [pd.Timestamp("2020-10-30T14:30:00Z")]


def test_the_corpus_against_the_warehouse(db_url):
    """Earlier data intact, the good rows of each batch loaded, zero bad rows in the bars."""
    earlier = daily_batch(good_rows("AAPL", ["2020-10-19", "2020-10-20"]) +
                          good_rows("MSFT", ["2020-10-19"]), source="earlier")  # fmt: skip
    load(validate(earlier, as_of=AS_OF), db_url)
    before = bars(db_url)
    assert len(before) == 3
    for name, (build, as_of, expected) in CASES.items():
        batch = build()
        batch.meta.source = f"case_{name}"
        v = validate(batch, as_of=as_of)
        if expected[0] == "reject":
            with pytest.raises(BatchRejected, match="nothing loaded"):
                load(v, db_url)
            status = scalar(db_url, "select status from ops.ingest_runs where source = %s",
                            batch.meta.source)  # fmt: skip
            assert status == "rejected"
            assert bars(db_url, source=batch.meta.source).empty
            continue
        summary = load(v, db_url)
        assert summary.rows_quarantined == len(v.quarantined)
        loaded = bars(db_url, source=batch.meta.source)
        assert len(loaded) == len(v.valid) == summary.rows_new
        # The loaded rows are exactly the valid rows.
        got = loaded[["symbol", "session", "open", "close"]].reset_index(drop=True)
        want = v.valid[["symbol", "session", "open", "close"]].assign(
            session=v.valid["session"].dt.date
        )
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_dtype=False)
        # Every quarantined row is in ops.quarantine with its reasons, and not in the bars.
        q = rows(db_url, "select symbol, bar_time, reasons from ops.quarantine where run_id = %s",
                 summary.run_id)  # fmt: skip
        assert len(q) == len(v.quarantined)
        for sym, bar_time, reasons in q:
            assert reasons
            if name != "duplicate_rows":
                assert loaded[(loaded["symbol"] == sym) &
                              (loaded["session"].astype(str) == bar_time)].empty  # fmt: skip
    after = bars(db_url, source="earlier")
    pd.testing.assert_frame_equal(before, after)
    # The table's own constraints hold for everything that got in.
    all_bars = bars(db_url)
    assert (all_bars[["open", "high", "low", "close"]].to_numpy() > 0).all()
    assert (all_bars["low"] <= np.minimum(all_bars["open"], all_bars["close"])).all()
