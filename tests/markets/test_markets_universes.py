"""Universe membership files and the functions that read them."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest

from tradewind import calendar, universes
from tradewind.markets.synthetic import DOW30_2020

# The 2020 Dow 30 members after the 2020-08-31 change, written out independently.
DOW_END_2020 = sorted(DOW30_2020)


def test_packaged_files_are_found_through_the_package():
    folder = resources.files("tradewind").joinpath("data", "universes")
    names = {p.name for p in folder.iterdir()}
    assert {"dow30.csv", "nasdaq100.csv", "sp100.csv"} <= names
    frame = universes.load_universes()
    assert list(frame.columns) == ["universe", "symbol", "valid_from", "valid_to"]
    assert universes.known_universes() == ["DOW30", "NASDAQ100", "SP100"]
    assert all(type(d) is date for d in frame["valid_from"])
    assert all(d is None or type(d) is date for d in frame["valid_to"])


def test_every_file_documents_its_source():
    folder = resources.files("tradewind").joinpath("data", "universes")
    for name in ("dow30.csv", "nasdaq100.csv", "sp100.csv"):
        text = folder.joinpath(name).read_text(encoding="utf-8")
        assert any(line.startswith("# source:") for line in text.splitlines()), name


def test_dow30_has_exactly_30_members_on_every_session_2008_2024():
    for d in calendar.sessions("2008-01-01", "2024-12-31"):
        assert len(universes.members("DOW30", d)) == 30, d


def test_dow30_known_changes():
    m = universes.members
    assert m("DOW30", "2020-12-31") == DOW_END_2020
    # 2008-02-19: BAC and CVX in for MO and HON.
    assert {"MO", "HON"} <= set(m("DOW30", "2008-02-15"))
    after = set(m("DOW30", "2008-02-19"))
    assert {"BAC", "CVX"} <= after and not {"MO", "HON"} & after
    # 2008-09-22: KFT for AIG; 2009-06-08: CSCO/TRV for C/GM; 2012-09-24: UNH for KFT.
    assert "AIG" in m("DOW30", "2008-09-19") and "KFT" in m("DOW30", "2008-09-22")
    assert {"C", "GM"} <= set(m("DOW30", "2009-06-05"))
    assert {"CSCO", "TRV"} <= set(m("DOW30", "2009-06-08"))
    assert "UNH" in m("DOW30", "2012-09-24") and "KFT" not in m("DOW30", "2012-09-24")
    # 2013-09-23: GS/NKE/V for AA/BAC/HPQ; 2015-03-19: AAPL for T.
    assert {"GS", "NKE", "V"} <= set(m("DOW30", "2013-09-23"))
    assert not {"AA", "BAC", "HPQ"} & set(m("DOW30", "2013-09-23"))
    assert "AAPL" in m("DOW30", "2015-03-19") and "T" not in m("DOW30", "2015-03-19")
    # 2018-06-26 WBA for GE; 2019-04-02 DOW for DWDP; 2020-08-31 AMGN/HON/CRM for XOM/PFE/RTX.
    assert "GE" in m("DOW30", "2018-06-25") and "WBA" in m("DOW30", "2018-06-26")
    assert "DWDP" in m("DOW30", "2019-04-01") and "DOW" in m("DOW30", "2019-04-02")
    assert {"XOM", "PFE", "RTX"} <= set(m("DOW30", "2020-08-28"))
    assert {"AMGN", "HON", "CRM"} <= set(m("DOW30", "2020-08-31"))


def test_current_members_and_between():
    current = universes.members("DOW30")
    assert len(current) == 30 and "NVDA" in current and "INTC" not in current
    span = universes.members_between("DOW30", "2020-08-01", "2020-09-30")
    assert len(span) == 33
    assert {"XOM", "PFE", "RTX", "AMGN", "HON", "CRM"} <= set(span)
    assert universes.members_between("DOW30", "2020-09-01", "2020-09-30") == DOW_END_2020
    with pytest.raises(ValueError, match="before start"):
        universes.members_between("DOW30", "2020-09-30", "2020-09-01")


def test_sp100_and_nasdaq100_late_2020():
    sp = universes.members("SP100", "2020-10-28")
    assert len(sp) == 100
    assert "BRK.B" in sp and "TRV" not in sp and "HPQ" not in sp
    assert {"GOOG", "GOOGL", "AMT", "RTX", "OXY"} <= set(sp) and "TSLA" not in sp
    assert "TSLA" in universes.members("SP100", "2020-12-21")
    assert set(DOW_END_2020) - {"TRV"} <= set(sp)
    ndx = universes.members("NASDAQ100", "2020-11-30")
    assert len(ndx) == 103 and {"AAPL", "MRNA", "LBTYA"} <= set(ndx)
    after = universes.members("NASDAQ100", "2020-12-21")
    assert len(after) == 102 and {"AEP", "TEAM"} <= set(after) and "ULTA" not in after


def test_dates_before_recorded_history_raise_unless_allowed():
    assert universes.history_start("SP100") == date(2020, 1, 1)
    with pytest.raises(ValueError, match="recorded from 2020-01-01"):
        universes.members("SP100", "2015-06-01")
    with pytest.raises(ValueError, match="recorded from 2008-01-01"):
        universes.members_between("DOW30", "2007-01-01", "2008-12-31")
    earliest = universes.members("SP100", "2015-06-01", allow_before_history=True)
    assert earliest == universes.members("SP100", "2020-01-01")
    span = universes.members_between("SP100", "2008-01-01", "2020-09-30", allow_before_history=True)
    assert {"UTX", "RTX", "RTN", "AMT"} <= set(span) and "TSLA" not in span


def test_unknown_universe_lists_known_ones():
    with pytest.raises(ValueError, match="known universes: DOW30, NASDAQ100, SP100"):
        universes.members("DOW31")
    with pytest.raises(ValueError, match="unknown universe 'RUSSELL'"):
        universes.resolve_symbols("RUSSELL")


def test_universe_names_are_normalised():
    assert universes.members("dow-30", "2020-12-31") == DOW_END_2020
    assert universes.members("S&P 100", "2020-10-28") == universes.members("SP100", "2020-10-28")
    assert universes.resolve_symbols("nasdaq100") == universes.members("NASDAQ100")


def test_user_lists_comma_and_files(tmp_path):
    assert universes.resolve_symbols(" aapl, MSFT,,aapl ") == ["AAPL", "MSFT"]
    assert universes.resolve_symbols("AAPL,") == ["AAPL"]
    assert universes.resolve_symbols(["brk.b", "spy"]) == ["BRK.B", "SPY"]
    with pytest.raises(ValueError, match="not a ticker"):
        universes.resolve_symbols("AAPL MSFT,IBM")

    plain = tmp_path / "mine.csv"
    plain.write_text("# my picks\nAAPL\nmsft\n\nIBM\n")
    assert universes.resolve_symbols(str(plain)) == ["AAPL", "MSFT", "IBM"]

    with_header = tmp_path / "with_header.csv"
    with_header.write_text("name,symbol\nApple,AAPL\nNvidia,NVDA\n")
    assert universes.read_symbol_file(with_header) == ["AAPL", "NVDA"]

    membership = tmp_path / "custom.csv"
    membership.write_text(
        "universe,symbol,valid_from,valid_to\n"
        "MYU,AAA,2020-01-01,2020-06-01\nMYU,BBB,2020-06-01,\nMYU,CCC,2020-01-01,\n"
    )
    assert universes.read_symbol_file(membership, on="2020-03-02") == ["AAA", "CCC"]
    assert universes.read_symbol_file(membership) == ["BBB", "CCC"]
    frame = universes.load_universes(membership)
    assert universes.members("MYU", "2020-06-01", frame=frame) == ["BBB", "CCC"]

    with pytest.raises(ValueError, match="not found"):
        universes.resolve_symbols(str(tmp_path / "missing.csv"))


def test_malformed_membership_files_are_rejected(tmp_path):
    bad_order = tmp_path / "bad_order.csv"
    bad_order.write_text("universe,symbol,valid_from,valid_to\nX,AAA,2020-06-01,2020-01-01\n")
    with pytest.raises(ValueError, match="not after valid_from"):
        universes.load_universes(bad_order)
    overlap = tmp_path / "overlap.csv"
    overlap.write_text(
        "universe,symbol,valid_from,valid_to\nX,AAA,2020-01-01,\nX,AAA,2020-06-01,\n"
    )
    with pytest.raises(ValueError, match="overlapping"):
        universes.load_universes(overlap)
    bad_date = tmp_path / "bad_date.csv"
    bad_date.write_text("universe,symbol,valid_from,valid_to\nX,AAA,01/02/2020,\n")
    with pytest.raises(ValueError, match="data row 1"):
        universes.load_universes(bad_date)
    missing = tmp_path / "missing_col.csv"
    missing.write_text("universe,symbol,valid_from\nX,AAA,2020-01-01\n")
    with pytest.raises(ValueError, match="lacks column"):
        universes.load_universes(missing)
