"""Parsing of the time values clients put in query strings (Alpaca start/end, NDL dates)."""

from __future__ import annotations

import re

import pandas as pd

NY = "America/New_York"
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_bound(text: str, *, is_end: bool) -> int:
    """A ``start``/``end`` value -> UTC epoch nanoseconds (inclusive bound).

    Accepts ``YYYY-MM-DD`` (a whole New York day: start = its midnight, end = its last
    nanosecond), and RFC-3339 with ``Z`` or an offset and up to 9 fractional digits. A ``+``
    that arrived unencoded in a query string is decoded as a space; it is restored here."""
    raw = text.strip()
    if _DATE.match(raw):
        day = pd.Timestamp(raw)
        if is_end:
            day = day + pd.Timedelta(days=1)
        ns = int(day.tz_localize(NY).tz_convert("UTC").value)
        return ns - 1 if is_end else ns
    fixed = re.sub(r"(:\d{2}(?:\.\d+)?) (\d{2}:?\d{2})$", r"\1+\2", text.strip())
    m = _RFC3339.match(fixed)
    if not m:
        raise ValueError(f"invalid time {text!r}")
    day, hh, mm, ss, frac, tz = m.groups()
    base = pd.Timestamp(f"{day}T{hh}:{mm}:{ss}")
    if tz in ("Z", "z"):
        offset_min = 0
    else:
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset_min = sign * (int(digits[:2]) * 60 + int(digits[2:]))
    ns = int(base.value) - offset_min * 60_000_000_000
    if frac:
        ns += int(frac.ljust(9, "0"))
    return ns


def format_rfc3339(ns: int) -> str:
    """UTC ns -> ``2022-04-11T04:00:00Z`` (fraction only when non-zero, like the live feed)."""
    ts = pd.Timestamp(ns, unit="ns", tz="UTC")
    base = ts.strftime("%Y-%m-%dT%H:%M:%S")
    sub = ns % 1_000_000_000
    return f"{base}.{sub:09d}Z" if sub else f"{base}Z"
