"""A process killed between the COPY into staging and the upsert leaves no partial batch behind
(bars, watermarks, quarantine, warnings all as before), and the next run completes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from ingest_helpers import bars, rows, scalar

from tradewind.ingest import load, run_ingest, validate

AS_OF = "2021-01-04T00:00:00+00:00"

# Loads synthetic bars for [start, end] plus one bad row (so quarantine and warnings would be
# written too), and dies with os._exit right after the rows are staged.
CHILD = textwrap.dedent(
    """
    import os, sys
    import pandas as pd
    from tradewind.ingest import extract, load, validate

    url, start, end = sys.argv[1:4]
    batch = extract("synthetic", ["AAPL", "MSFT"], start, end)
    bad = batch.frame.iloc[[0]].assign(session=pd.Timestamp("2020-06-06"))  # a Saturday
    batch.frame = pd.concat([batch.frame, bad], ignore_index=True)
    v = validate(batch, as_of="2021-01-04T00:00:00+00:00")
    assert len(v.quarantined) == 1
    load(v, url, on_staged=lambda: os._exit(17))
    print("not reached")
    """
)


def _crash(url: str, start: str, end: str) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, url, start, end], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 17, proc.stderr[-2000:]
    assert "not reached" not in proc.stdout


def _state(url: str):
    return (
        bars(url),
        rows(
            url,
            "select source, symbol, timeframe, first_time, last_time, rows_loaded "
            "from ops.ingest_watermarks order by symbol",
        ),  # fmt: skip
        scalar(url, "select count(*) from ops.quarantine"),
        scalar(url, "select count(*) from ops.data_warnings"),
        scalar(url, "select count(*) from raw.corporate_actions"),
    )


@pytest.mark.parametrize("existing", [False, True], ids=["fresh-insert", "upsert-over-data"])
def test_crash_between_staging_and_upsert_leaves_nothing(db_url, existing):
    if existing:
        run_ingest("synthetic", ["AAPL", "MSFT"], "2020-01-02", "2020-03-31", as_of=AS_OF,
                   url=db_url)  # fmt: skip
    before = _state(db_url)
    _crash(db_url, "2020-02-03", "2020-06-30")
    after = _state(db_url)
    assert after[0].equals(before[0])
    assert after[1:] == before[1:]
    # The crashed run is visible as a run that never finished.
    assert (
        scalar(db_url, "select status from ops.ingest_runs order by run_id desc limit 1")
        == "running"
    )

    # The next run completes and loads everything the crashed one would have.
    from tradewind.ingest import extract

    v = validate(extract("synthetic", ["AAPL", "MSFT"], "2020-02-03", "2020-06-30"), as_of=AS_OF)
    summary = load(v, db_url)
    assert summary.status == "succeeded"
    expected_new = len(v.valid) - (len(before[0]) - 2 * 21 if existing else 0)
    assert summary.rows_new == expected_new
    assert len(bars(db_url)) == len(before[0]) + expected_new
    marks = rows(db_url, "select symbol, last_time::date::text from ops.ingest_watermarks "
                 "order by symbol")  # fmt: skip
    assert marks == [("AAPL", "2020-06-30"), ("MSFT", "2020-06-30")]
