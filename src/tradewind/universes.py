"""Stock universes (DOW30, NASDAQ100, SP100) as index membership with validity dates.

Membership lives in CSV files shipped in ``tradewind/data/universes/`` with the columns
``universe,symbol,valid_from,valid_to`` (``#`` lines are comments). ``valid_from`` is inclusive
and ``valid_to`` exclusive, both being the effective date of an index change (changes take
effect before the open), so on a change date the new member is in and the old one is out. An
empty ``valid_to`` means still a member as of the last change the file records. Each file's
header says how far back it is exact; asking about a date before a universe's recorded history
raises instead of silently answering with today's (survivorship-biased) members.

User-defined universes: a comma list (``"AAPL,MSFT"``; one symbol: ``"AAPL,"``), a CSV file with
a ``symbol`` column (or one symbol per line), or a CSV in the membership format above.
:func:`resolve_symbols` accepts any of these or a built-in universe name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from tradewind.calendar import DateLike, to_date

COLUMNS: tuple[str, ...] = ("universe", "symbol", "valid_from", "valid_to")
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]*$")


def normalize_universe_name(name: str) -> str:
    """``"nasdaq-100"``, ``"S&P 100"`` -> ``"NASDAQ100"``, ``"SP100"``."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def normalize_symbol(symbol: str) -> str:
    """Upper-cased, stripped ticker; raises ``ValueError`` for anything not ticker-like."""
    s = str(symbol).strip().upper()
    if not _SYMBOL_RE.match(s):
        raise ValueError(f"not a ticker symbol: {symbol!r}")
    return s


def _data_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def _parse_membership(text: str, origin: str) -> list[tuple[str, str, date, date | None]]:
    lines = _data_lines(text)
    if not lines:
        return []
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{origin}: membership CSV lacks column(s) {missing}")
    reader.fieldnames = header
    rows = []
    for lineno, rec in enumerate(reader, start=2):
        where = f"{origin}, data row {lineno - 1}"
        try:
            universe = normalize_universe_name(rec["universe"] or "")
            symbol = normalize_symbol(rec["symbol"] or "")
            valid_from = date.fromisoformat((rec["valid_from"] or "").strip())
            raw_to = (rec["valid_to"] or "").strip()
            valid_to = date.fromisoformat(raw_to) if raw_to else None
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if not universe:
            raise ValueError(f"{where}: empty universe name")
        if valid_to is not None and valid_to <= valid_from:
            raise ValueError(f"{where}: valid_to {valid_to} is not after valid_from {valid_from}")
        rows.append((universe, symbol, valid_from, valid_to))
    return rows


def _check_no_overlap(rows: Iterable[tuple[str, str, date, date | None]]) -> None:
    by_key: dict[tuple[str, str], list[tuple[date, date | None]]] = {}
    for universe, symbol, start, end in rows:
        by_key.setdefault((universe, symbol), []).append((start, end))
    for (universe, symbol), spans in by_key.items():
        spans.sort()
        for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False):
            if end is None or end > next_start:
                raise ValueError(f"{universe}/{symbol}: overlapping membership periods")


def _frame(rows: list[tuple[str, str, date, date | None]]) -> pd.DataFrame:
    _check_no_overlap(rows)
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    frame = pd.DataFrame(
        {
            "universe": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            # Plain datetime.date objects (None = open-ended): no timezone or Timestamp casting.
            "valid_from": pd.Series([r[2] for r in rows], dtype=object),
            "valid_to": pd.Series([r[3] for r in rows], dtype=object),
        },
        columns=list(COLUMNS),
    )
    return frame


@lru_cache(maxsize=1)
def _builtin_rows() -> tuple[tuple[str, str, date, date | None], ...]:
    folder = resources.files("tradewind").joinpath("data", "universes")
    rows: list[tuple[str, str, date, date | None]] = []
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".csv"))
    if not names:
        raise RuntimeError("no universe CSV files found in tradewind/data/universes")
    for name in names:
        text = folder.joinpath(name).read_text(encoding="utf-8")
        rows.extend(_parse_membership(text, f"tradewind/data/universes/{name}"))
    return tuple(rows)


@lru_cache(maxsize=1)
def _builtin_frame() -> pd.DataFrame:
    # Shared read-only copy for look-ups; load_universes hands callers their own copy.
    return _frame(list(_builtin_rows()))


def load_universes(path: str | Path | None = None) -> pd.DataFrame:
    """Membership rows ``universe, symbol, valid_from, valid_to`` (dates; ``None`` = open).

    ``path``: a membership CSV or a folder of them; default: the files shipped with tradewind.
    """
    if path is None:
        return _builtin_frame().copy()
    p = Path(path)
    files = sorted(p.glob("*.csv")) if p.is_dir() else [p]
    rows: list[tuple[str, str, date, date | None]] = []
    for f in files:
        rows.extend(_parse_membership(f.read_text(encoding="utf-8"), str(f)))
    return _frame(rows)


def known_universes(frame: pd.DataFrame | None = None) -> list[str]:
    """Names of the universes in ``frame`` (default: the shipped ones)."""
    frame = _builtin_frame() if frame is None else frame
    return sorted(set(frame["universe"]))


Span = tuple[str, date, date | None]  # symbol, valid_from (inclusive), valid_to (exclusive)


@lru_cache(maxsize=1)
def _builtin_spans() -> dict[str, tuple[Span, ...]]:
    return _spans_by_universe(_builtin_frame())


def _spans_by_universe(frame: pd.DataFrame) -> dict[str, tuple[Span, ...]]:
    out: dict[str, list[Span]] = {}
    for universe, symbol, start, end in frame[list(COLUMNS)].itertuples(index=False):
        out.setdefault(universe, []).append((symbol, start, end))
    return {k: tuple(v) for k, v in out.items()}


def _spans_of(universe: str, frame: pd.DataFrame | None) -> tuple[Span, ...]:
    spans = _builtin_spans() if frame is None else _spans_by_universe(frame)
    key = normalize_universe_name(universe)
    if key not in spans:
        known = ", ".join(sorted(spans))
        raise ValueError(
            f"unknown universe {universe!r}; known universes: {known}. For your own symbols "
            "give a comma-separated list ('AAPL,MSFT'; one symbol: 'AAPL,') or a CSV file path."
        )
    return spans[key]


def history_start(universe: str, frame: pd.DataFrame | None = None) -> date:
    """First date the membership of ``universe`` is recorded for."""
    return min(start for _, start, _ in _spans_of(universe, frame))


def _clip_to_history(
    universe: str, day: date, first: date, what: str, allow_before_history: bool
) -> date:
    if day >= first:
        return day
    if allow_before_history:
        return first
    raise ValueError(
        f"{normalize_universe_name(universe)} membership is recorded from {first} only; "
        f"{what} {day} is earlier. Use allow_before_history=True to take the earliest "
        "recorded members (survivorship-biased), or give the symbols explicitly."
    )


def members(
    universe: str,
    on: DateLike | None = None,
    *,
    frame: pd.DataFrame | None = None,
    allow_before_history: bool = False,
) -> list[str]:
    """Sorted members of ``universe`` on date ``on`` (default: the current members)."""
    spans = _spans_of(universe, frame)
    if on is None:
        return sorted({sym for sym, _, end in spans if end is None})
    first = min(start for _, start, _ in spans)
    day = _clip_to_history(universe, to_date(on), first, "date", allow_before_history)
    return sorted({sym for sym, start, end in spans if start <= day and (end is None or day < end)})


def members_between(
    universe: str,
    start: DateLike,
    end: DateLike,
    *,
    frame: pd.DataFrame | None = None,
    allow_before_history: bool = False,
) -> list[str]:
    """Sorted symbols that were members of ``universe`` on any day of ``[start, end]``."""
    lo, hi = to_date(start), to_date(end)
    if hi < lo:
        raise ValueError(f"end {hi} is before start {lo}")
    spans = _spans_of(universe, frame)
    first = min(s for _, s, _ in spans)
    lo = _clip_to_history(universe, lo, first, "start", allow_before_history)
    hi = max(hi, lo)
    return sorted({sym for sym, s, e in spans if s <= hi and (e is None or e > lo)})


def parse_symbols(text: str | Sequence[str]) -> list[str]:
    """``"aapl, MSFT,,"`` -> ``["AAPL", "MSFT"]`` (order kept, duplicates dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        if str(item).strip():
            s = normalize_symbol(item)
            if s not in out:
                out.append(s)
    if not out:
        raise ValueError(f"no symbols in {text!r}")
    return out


def read_symbol_file(path: str | Path, on: DateLike | None = None) -> list[str]:
    """Symbols from a user CSV: membership format (one universe), a ``symbol`` column, or one
    symbol per line. ``on`` picks the members of a membership file on that date."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"symbol file not found: {p}")
    text = p.read_text(encoding="utf-8")
    lines = _data_lines(text)
    if not lines:
        raise ValueError(f"{p}: no symbols")
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    if all(c in header for c in COLUMNS):
        frame = _frame(_parse_membership(text, str(p)))
        names = known_universes(frame)
        if len(names) != 1:
            raise ValueError(f"{p}: holds universes {names}; use load_universes/members")
        return members(names[0], on, frame=frame)
    if "symbol" in header:
        col = header.index("symbol")
        values = [row[col] for row in csv.reader(lines[1:]) if len(row) > col]
    else:
        values = [row[0] for row in csv.reader(lines) if row]
    return parse_symbols(values)


def resolve_symbols(spec: str | Sequence[str], on: DateLike | None = None) -> list[str]:
    """Symbols for a universe name, a comma list, a CSV path, or a list of symbols.

    Universe names win; then anything with a comma is a list; then an existing file or a
    ``.csv`` path; anything else is reported as an unknown universe.
    """
    if not isinstance(spec, str):
        return parse_symbols(spec)
    key = normalize_universe_name(spec)
    if key and key in known_universes():
        return members(key, on)
    if "," in spec:
        return parse_symbols(spec)
    if spec.lower().endswith(".csv") or Path(spec).is_file():
        return read_symbol_file(spec, on)
    _spans_of(spec, None)  # raises the "unknown universe" error listing the known ones
    raise AssertionError("unreachable")


__all__ = [
    "COLUMNS",
    "history_start",
    "known_universes",
    "load_universes",
    "members",
    "members_between",
    "normalize_symbol",
    "normalize_universe_name",
    "parse_symbols",
    "read_symbol_file",
    "resolve_symbols",
]
