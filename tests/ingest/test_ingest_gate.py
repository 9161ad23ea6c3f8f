"""Great Expectations' half of the gate across batches: the in-memory context is built once
per process and reused, so a second batch must get its own verdict (no state carried over
from the first), also when two batches are checked at the same time."""

from __future__ import annotations

import threading

from ingest_helpers import daily_batch, good_rows

from tradewind.ingest.quality import screen

WEEK = ["2020-10-26", "2020-10-27", "2020-10-28", "2020-10-29", "2020-10-30"]
AS_OF = "2020-10-30T21:00:00+00:00"


def _failed(gate: list[dict]) -> dict[str, int]:
    return {g["rule"]: g["unexpected_count"] for g in gate if not g["success"]}


def _bad_batch():
    rows = good_rows("MSFT", WEEK) + good_rows("IBM", WEEK[:3])
    rows[6] = ("IBM", WEEK[1], 50.0, 40.0, 45.0, 42.0, 100.0)  # high < low, high < open
    return daily_batch(rows)


def test_a_bad_row_in_a_second_batch_is_caught_after_a_clean_one():
    clean, clean_check = screen(daily_batch(good_rows("AAPL", WEEK)), AS_OF)
    gate_1 = clean_check.run()
    assert len(gate_1) >= 20 and _failed(gate_1) == {}

    bad, bad_check = screen(_bad_batch(), AS_OF)
    gate_2 = bad_check.run()  # raises QualityGateError if GE and the masks disagree
    # Worked out by hand from the row (open 50, high 40, low 45, close 42): high is below the
    # other three and close below low; open >= low holds.
    want = {"high_ge_low": 1, "high_ge_open": 1, "high_ge_close": 1, "close_ge_low": 1}
    assert _failed(gate_2) == want
    reasons = [["high < low", "high < open", "high < close", "close < low"]]
    assert bad.quarantined["reasons"].tolist() == reasons
    assert bad.quarantined["symbol"].tolist() == ["IBM"]

    # And the first batch again: clean again, nothing left over from the bad one.
    assert _failed(clean_check.run()) == {}


def test_two_batches_checked_at_once_get_their_own_verdicts():
    _, clean_check = screen(daily_batch(good_rows("AAPL", WEEK)), AS_OF)
    _, bad_check = screen(_bad_batch(), AS_OF)
    out: dict[str, list[dict]] = {}

    def run(name, check):
        out[name] = check.run()

    threads = [threading.Thread(target=run, args=(n, c))
               for n, c in (("clean", clean_check), ("bad", bad_check)) * 2]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _failed(out["clean"]) == {}
    assert set(_failed(out["bad"])) == {
        "high_ge_low",
        "high_ge_open",
        "high_ge_close",
        "close_ge_low",
    }
