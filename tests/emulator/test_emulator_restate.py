"""A vendor restatement served by the emulator (issue 9, item 2), read with the official alpaca-py
client: after a split on an ex-date, raw bars from that day on trade at the new basis and every
adjusted bar before it is rescaled; other symbols and other dates are untouched; reset undoes it.
The expectations are computed here from the bars served before the event, not by the dataset."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import requests
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from emu_helpers import KEY_ID, SECRET, SYMBOLS, sdk_bars_frame

EX_DATE = pd.Timestamp("2015-03-16")  # after the dataset's own split and dividends
RATIO = 3.0
PRICES = ["open", "high", "low", "close", "vwap"]


def _pull(emu, adjustment: Adjustment) -> pd.DataFrame:
    client = StockHistoricalDataClient(KEY_ID, SECRET, url_override=emu.alpaca_data_url)
    bs = client.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=SYMBOLS, timeframe=TimeFrame.Day, start=datetime(2015, 1, 1),
            end=datetime(2015, 4, 1), adjustment=adjustment, feed=DataFeed.IEX,
        )
    )  # fmt: skip
    df = sdk_bars_frame(bs)
    df["session"] = df["timestamp"].dt.tz_convert("America/New_York").dt.tz_localize(None)
    return df.set_index(["symbol", "session"]).sort_index()


@pytest.mark.parametrize("via_http", [False, True])
def test_a_split_restates_the_adjusted_history(emu, via_http):
    before_raw, before_all = _pull(emu, Adjustment.RAW), _pull(emu, Adjustment.ALL)
    if via_http:
        r = requests.post(emu.url + "/_emulator/restate", timeout=10,
                          json={"symbol": "AAPL", "ex_date": "2015-03-16", "split_ratio": RATIO})  # fmt: skip
        assert r.status_code == 200, r.text
    else:
        emu.restate("AAPL", "2015-03-16", split_ratio=RATIO)
    raw, adj = _pull(emu, Adjustment.RAW), _pull(emu, Adjustment.ALL)
    assert raw.index.equals(before_raw.index) and adj.index.equals(before_all.index)

    sessions = raw.loc["AAPL"].index
    on_after = sessions >= EX_DATE
    # Raw: the bars from the ex-date on trade at a third of the price, three times the volume.
    r_new, r_old = raw.loc["AAPL"], before_raw.loc["AAPL"]
    np.testing.assert_allclose(r_new.loc[on_after, PRICES], r_old.loc[on_after, PRICES] / RATIO,
                               rtol=0, atol=5e-5)  # fmt: skip
    np.testing.assert_allclose(r_new.loc[on_after, "volume"], r_old.loc[on_after, "volume"] * RATIO)
    pd.testing.assert_frame_equal(r_new.loc[~on_after], r_old.loc[~on_after])
    # Adjusted: history before the ex-date is rescaled by the split; from it on, as traded.
    a_new, a_old = adj.loc["AAPL"], before_all.loc["AAPL"]
    np.testing.assert_allclose(a_new.loc[~on_after, "close"], a_old.loc[~on_after, "close"] / RATIO,
                               rtol=2e-4)  # fmt: skip
    np.testing.assert_allclose(a_new.loc[on_after, "close"], r_new.loc[on_after, "close"])
    # The other symbols did not move.
    for sym in SYMBOLS[1:]:
        pd.testing.assert_frame_equal(adj.loc[sym], before_all.loc[sym])
    # reset() returns to the vendor's earlier history.
    emu.reset()
    pd.testing.assert_frame_equal(_pull(emu, Adjustment.ALL), before_all)


def test_restate_refuses_nonsense(emu):
    with pytest.raises(ValueError, match="unknown symbol"):
        emu.restate("NOPE", "2015-03-16", split_ratio=2.0)
    with pytest.raises(ValueError, match="split_ratio"):
        emu.restate("AAPL", "2015-03-16")
    r = requests.post(emu.url + "/_emulator/restate", timeout=10,
                      json={"symbol": "AAPL", "ex_date": "2015-03-16", "split_ratio": -1})  # fmt: skip
    assert r.status_code == 400 and "split_ratio" in r.json()["message"]
