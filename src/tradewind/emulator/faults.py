"""Switchable faults and the request log of the market emulator.

Faults are settable from Python (``emu.faults.set(...)``) and over HTTP
(``POST /_emulator/faults`` with the same keyword arguments as a JSON object), so a process that
only knows the URL (an Airflow task, a CLI run) can be tested against them too.

Counted faults (``rate_limit``, ``server_errors``, ``drop``, ``repeat_bar``) apply to the next N
matching requests (or paginated continuation pages) and then expire; ``latency`` and
``bad_bars`` stay until cleared. ``target`` restricts a fault to one emulated API:
``"alpaca_data"``, ``"alpaca_trading"`` or ``"ndl"`` (default: all of them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

APIS = ("alpaca_data", "alpaca_trading", "ndl")
BAD_BAR_KINDS = ("high_lt_low", "null", "nan", "negative")
DEFAULT_5XX = (500, 502, 503, 504)
# Header names whose values are never logged.
SECRET_HEADERS = frozenset({"apca-api-secret-key", "authorization", "x-api-token", "cookie"})
SECRET_PARAMS = frozenset({"api_key"})


@dataclass(frozen=True)
class BadBar:
    """Corrupt the bar(s) of ``symbol`` on session ``date`` (daily, intraday and WIKI rows).

    kind: ``high_lt_low`` swaps high and low; ``null`` sets ``field`` to JSON null; ``nan`` sets
    it to a bare ``NaN`` token (invalid JSON that Python's json module still reads); ``negative``
    negates it."""

    symbol: str
    date: str  # YYYY-MM-DD session date (New York)
    kind: str = "high_lt_low"
    field: str = "close"

    @classmethod
    def of(cls, spec: BadBar | Mapping[str, Any]) -> BadBar:
        if isinstance(spec, BadBar):
            return spec
        bad = cls(
            symbol=str(spec["symbol"]),
            date=pd.Timestamp(spec["date"]).strftime("%Y-%m-%d"),
            kind=str(spec.get("kind", "high_lt_low")),
            field=str(spec.get("field", "close")),
        )
        if bad.kind not in BAD_BAR_KINDS:
            raise ValueError(f"bad bar kind must be one of {BAD_BAR_KINDS}, not {bad.kind!r}")
        if bad.field not in ("open", "high", "low", "close", "volume", "vwap", "trade_count"):
            raise ValueError(f"unknown bar field {bad.field!r}")
        return bad


def _status_codes(spec: int | Sequence[int]) -> list[int]:
    """N -> N codes cycling through DEFAULT_5XX; a list -> those codes."""
    if isinstance(spec, int):
        return [DEFAULT_5XX[i % len(DEFAULT_5XX)] for i in range(spec)]
    return [int(c) for c in spec]


@dataclass
class _Rule:
    kind: str  # rate_limit | server_error | drop | repeat_bar | latency | accept_then_fail
    target: str | None
    remaining: int | None = None  # None = persistent
    value: Any = None  # status list for server_error, seconds for latency

    def matches(self, api: str) -> bool:
        return self.target is None or self.target == api


@dataclass
class Decision:
    """What the server must do to one request before (or instead of) answering it."""

    latency: float = 0.0
    action: str | None = None  # "drop" | "rate_limit" | "server_error"
    status: int | None = None


class Faults:
    """Thread-safe fault switchboard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._bad_bars: list[tuple[str | None, BadBar]] = []

    def set(
        self,
        *,
        rate_limit: int | None = None,
        server_errors: int | Sequence[int] | None = None,
        latency: float | None = None,
        drop: int | None = None,
        repeat_bar: int | None = None,
        accept_then_fail: int | Sequence[int] | None = None,
        bad_bars: Sequence[BadBar | Mapping[str, Any]] | None = None,
        bad_bar: BadBar | Mapping[str, Any] | None = None,
        target: str | None = None,
    ) -> None:
        """Arm faults; arguments left at None are unchanged, 0 disarms a counted fault.

        rate_limit=N: the next N requests get 429 (with X-RateLimit-Remaining: 0).
        server_errors=N or [codes]: the next N requests get 500/502/503/504 in turn (or the codes).
        latency=S: every request waits S seconds first (0 removes it).
        drop=N: the next N requests have their connection closed without any response.
        repeat_bar=N: the next N continuation pages (page 2+) start with the last bar/row of the
        previous page, as a buggy server would.
        accept_then_fail=N or [codes]: the next N order submissions (POST /v2/orders) are
        accepted by the account, then answered with 500/502/503/504 in turn (or the codes; 0 closes
        the connection instead), as when the broker placed the order and the reply was lost.
        bad_bar / bad_bars: corrupt bars for a symbol/date (see ``BadBar``); persistent."""
        if target is not None and target not in APIS:
            raise ValueError(f"target must be one of {APIS} or None, not {target!r}")
        bads = [BadBar.of(b) for b in (bad_bars or [])] + ([BadBar.of(bad_bar)] if bad_bar else [])
        with self._lock:
            if rate_limit is not None:
                self._replace("rate_limit", target, int(rate_limit))
            if server_errors is not None:
                codes = _status_codes(server_errors)
                self._replace("server_error", target, len(codes), codes)
            if drop is not None:
                self._replace("drop", target, int(drop))
            if repeat_bar is not None:
                self._replace("repeat_bar", target, int(repeat_bar))
            if accept_then_fail is not None:
                codes = _status_codes(accept_then_fail)
                self._replace("accept_then_fail", target, len(codes), codes)
            if latency is not None:
                self._rules = [
                    r for r in self._rules if not (r.kind == "latency" and r.target == target)
                ]
                if float(latency) > 0:
                    self._rules.append(_Rule("latency", target, None, float(latency)))
            for b in bads:
                self._bad_bars.append((target, b))

    def _replace(self, kind: str, target: str | None, count: int, value: Any = None) -> None:
        self._rules = [r for r in self._rules if not (r.kind == kind and r.target == target)]
        if count > 0:
            self._rules.append(_Rule(kind, target, count, value))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._bad_bars.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [asdict(r) for r in self._rules],
                "bad_bars": [{"target": t, **asdict(b)} for t, b in self._bad_bars],
            }

    # ---- used by the server -------------------------------------------------------------------

    def decide(self, api: str) -> Decision:
        """Consume at most one counted request fault for this request (drop, then 429, then 5xx)."""
        d = Decision()
        with self._lock:
            for r in self._rules:
                if r.kind == "latency" and r.matches(api):
                    d.latency = max(d.latency, float(r.value))
            for kind in ("drop", "rate_limit", "server_error"):
                rule = next((r for r in self._rules if r.kind == kind and r.matches(api)), None)
                if rule is None:
                    continue
                if kind == "server_error":
                    d.status = rule.value[len(rule.value) - int(rule.remaining or 0)]
                d.action = kind
                rule.remaining = int(rule.remaining or 0) - 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                break
        return d

    def take_repeat(self, api: str) -> bool:
        with self._lock:
            rule = next((r for r in self._rules if r.kind == "repeat_bar" and r.matches(api)), None)
            if rule is None:
                return False
            rule.remaining = int(rule.remaining or 0) - 1
            if rule.remaining <= 0:
                self._rules.remove(rule)
            return True

    def take_accept_then_fail(self, api: str) -> int | None:
        """The status (0 = drop) to answer an accepted order with, if that fault is armed."""
        with self._lock:
            rule = next(
                (r for r in self._rules if r.kind == "accept_then_fail" and r.matches(api)), None
            )
            if rule is None:
                return None
            status = rule.value[len(rule.value) - int(rule.remaining or 0)]
            rule.remaining = int(rule.remaining or 0) - 1
            if rule.remaining <= 0:
                self._rules.remove(rule)
            return int(status)

    def bad_bars_for(self, api: str) -> list[BadBar]:
        with self._lock:
            return [b for t, b in self._bad_bars if t is None or t == api]


@dataclass
class LoggedRequest:
    """One API request as received (secrets redacted) and what the emulator did with it."""

    seq: int
    time: float  # wall-clock epoch seconds
    api: str  # alpaca_data | alpaca_trading | ndl | control | unknown
    method: str
    path: str  # full request path, without the query string
    route: str  # path with the emulator's host prefix removed, e.g. /v2/stocks/bars
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    status: int | None = None  # None when the connection was dropped
    fault: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter (or of a JSON body key for NDL POSTs)."""
        vals = self.query.get(name)
        if vals:
            return vals[0]
        if isinstance(self.body, dict) and name in self.body:
            v = self.body[name]
            return v if isinstance(v, str) else str(v)
        return default


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def redact_query(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {k: (["***"] * len(v) if k in SECRET_PARAMS else list(v)) for k, v in query.items()}


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []
        self._seq = 0

    def add(self, **kwargs: Any) -> LoggedRequest:
        with self._lock:
            self._seq += 1
            item = LoggedRequest(seq=self._seq, time=time.time(), **kwargs)
            self._items.append(item)
            return item

    def items(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
