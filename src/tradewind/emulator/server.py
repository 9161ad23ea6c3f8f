"""The loopback HTTP server that emulates Alpaca (market data + paper trading) and Nasdaq Data Link.

One server, three base URLs (like the three real hosts; a client pointed at the wrong one gets
404s, as it would for real):

- ``emu.alpaca_data_url``    = ``http://127.0.0.1:PORT/alpaca-data``    (pass as ``url_override``)
- ``emu.alpaca_trading_url`` = ``http://127.0.0.1:PORT/alpaca-trading`` (pass as ``url_override``)
- ``emu.ndl_api_base``       = ``http://127.0.0.1:PORT/api/v3``  (``ApiConfig.api_base``; also set
  ``ApiConfig.api_protocol = "http://"`` or the SDK's retries are not mounted)

For hand use the root also answers ``/v2/stocks/...`` (data) and other ``/v2/...`` (trading).
Control routes, never logged and never faulted: ``/_emulator/health``, ``/_emulator/faults``
(GET, POST JSON = ``Faults.set`` kwargs, DELETE), ``/_emulator/requests`` (GET, DELETE),
``/_emulator/reset`` (POST), ``/_emulator/fill`` (POST ``{"prices": {...}, "session": ...}``),
``/_emulator/time`` (GET, POST ``{"now": ...}``), ``/_emulator/restate`` (POST ``{"symbol": ...,
"ex_date": ..., "split_ratio": ..., "dividend": ...}``: the vendor restates that symbol's
adjusted history after a corporate action; ``reset`` undoes it).
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd

from tradewind.emulator import alpaca_data, ndl
from tradewind.emulator.broker import Broker
from tradewind.emulator.common import Reply, nginx_html
from tradewind.emulator.dataset import NY, Dataset, make_dataset
from tradewind.emulator.faults import (
    Faults,
    LoggedRequest,
    RequestLog,
    redact_headers,
    redact_query,
)

DATA_PREFIX = "/alpaca-data"
TRADING_PREFIX = "/alpaca-trading"


@dataclass
class EmulatorConfig:
    """Behaviour knobs. Keys: None accepts any non-empty key id/secret (and NDL key)."""

    page_cap: int = 10_000  # max bars per Alpaca page, whatever ``limit`` asks (>= 1)
    default_limit: int = 1000  # Alpaca ``limit`` when absent (API default)
    ndl_page_size: int = 100  # WIKI rows per page when ``qopts.per_page`` is absent
    ndl_page_cap: int = 10_000  # max rows per page even with ``qopts.per_page``
    alpaca_key_id: str | None = None
    alpaca_secret_key: str | None = None
    ndl_api_key: str | None = None
    rate_limit_per_minute: int = 200  # reported in X-RateLimit-Limit
    enforce_rate_limit: bool = False  # really answer 429 past the per-minute limit
    gzip: bool = True  # gzip bodies > 256 bytes when the client accepts it (as Alpaca does)
    html_401_without_headers: bool = False  # nginx HTML 401 when no auth header at all
    initial_cash: float = 100_000.0
    now: Any = None  # fixed emulator time (see MarketEmulator.set_time); None = wall clock


def _to_ns(value: Any) -> int:
    """Timestamp-like -> UTC ns; naive values are New York local time (market time)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(NY)
    return int(ts.tz_convert("UTC").value)


class MarketEmulator:
    """Serve a ``Dataset`` over loopback HTTP in a background thread.

    >>> with MarketEmulator(make_dataset(["AAPL"]), page_cap=50) as emu:  # doctest: +SKIP
    ...     StockHistoricalDataClient("k", "s", url_override=emu.alpaca_data_url)
    """

    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: EmulatorConfig | None = None,
        **overrides: Any,
    ) -> None:
        cfg = config or EmulatorConfig()
        known = {f.name for f in fields(EmulatorConfig)}
        bad = set(overrides) - known
        if bad:
            raise TypeError(f"unknown emulator options: {sorted(bad)}")
        self.config = EmulatorConfig(**{**asdict(cfg), **overrides})
        self._dataset = dataset if dataset is not None else make_dataset()
        self._before_restatements: Dataset | None = None
        self._host, self._port = host, port
        self.faults = Faults()
        self.log = RequestLog()
        self.lock = threading.RLock()
        self._fixed_now: int | None = None if self.config.now is None else _to_ns(self.config.now)
        self.broker = Broker(self._dataset, self.now_ns, self.config.initial_cash)
        self._rate_counts: dict[tuple[str, int], int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> MarketEmulator:
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"emu": self})
        server = ThreadingHTTPServer((self._host, self._port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"market-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> MarketEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def alpaca_data_url(self) -> str:
        return self.url + DATA_PREFIX

    @property
    def alpaca_trading_url(self) -> str:
        return self.url + TRADING_PREFIX

    @property
    def ndl_api_base(self) -> str:
        return self.url + "/api/v3"

    # ---- data and state -----------------------------------------------------------------------

    @property
    def dataset(self) -> Dataset:
        return self._dataset

    def load(self, dataset: Dataset) -> None:
        """Serve another dataset from now on (the account keeps its state)."""
        with self.lock:
            self._dataset = dataset
            self.broker.dataset = dataset
            self._before_restatements = None

    def restate(
        self, symbol: str, ex_date: Any, *, split_ratio: float = 1.0, dividend: float = 0.0
    ) -> Dataset:
        """The vendor restates ``symbol``'s history: a split or dividend on ``ex_date`` (see
        ``Dataset.restated``). Served from now on; ``reset()`` returns to the data before."""
        with self.lock:
            before = self._before_restatements or self._dataset
            restated = self._dataset.restated(
                symbol, ex_date, split_ratio=split_ratio, dividend=dividend
            )
            self._dataset = restated
            self.broker.dataset = restated
            self._before_restatements = before
            return restated

    def now_ns(self) -> int:
        return self._fixed_now if self._fixed_now is not None else time.time_ns()

    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self.now_ns(), unit="ns", tz="UTC")

    def set_time(self, value: Any) -> None:
        """Fix the emulator's clock (naive values are New York time); None = wall clock.

        The clock drives /v2/clock, order timestamps and statuses, the default ``start`` of bar
        requests, and which bars a fill may use (no lookahead)."""
        with self.lock:
            self._fixed_now = None if value is None else _to_ns(value)

    def fill_open_orders(
        self,
        prices: Mapping[str, float | str] | None = None,
        *,
        session: Any = None,
        partial: Mapping[str, float] | None = None,
        reject: Any = None,
    ) -> list[dict[str, Any]]:
        """Fill open orders (see ``Broker.fill_open_orders``; ``partial`` {symbol: fraction}
        fills only that part, ``reject`` [symbols] rejects them at the open); a fixed clock moves
        forward to the latest fill time. Returns the filled orders as the API would show them."""
        with self.lock:
            filled = self.broker.fill_open_orders(prices, session, partial=partial, reject=reject)
            if self._fixed_now is not None and filled:
                latest = max(_to_ns(o["filled_at"]) for o in filled)
                self._fixed_now = max(self._fixed_now, latest)
            return filled

    @property
    def requests(self) -> list[LoggedRequest]:
        """API requests received so far (control routes excluded), oldest first."""
        return self.log.items()

    def requests_for(self, api: str | None = None, route: str | None = None) -> list[LoggedRequest]:
        """Requests of one API (``alpaca_data``/``alpaca_trading``/``ndl``) whose route starts
        with ``route`` (e.g. ``/v2/stocks/bars`` or ``/datatables/WIKI/PRICES``)."""
        return [
            r
            for r in self.log.items()
            if (api is None or r.api == api) and (route is None or r.route.startswith(route))
        ]

    def clear_requests(self) -> None:
        self.log.clear()

    def reset(self) -> None:
        """Clear faults, the request log, the account and any restatement; a dataset given to
        ``load`` stays."""
        with self.lock:
            if self._before_restatements is not None:
                self._dataset = self.broker.dataset = self._before_restatements
                self._before_restatements = None
            self.faults.clear()
            self.log.clear()
            self.broker.reset()
            self._rate_counts.clear()
            self._fixed_now = None if self.config.now is None else _to_ns(self.config.now)

    # ---- request processing (called from handler threads) ---------------------------------------

    def rate_headers(self, api: str, count: bool = True) -> dict[str, str]:
        window = int(time.time() // 60)
        with self.lock:
            key = (api, window)
            if count:
                self._rate_counts[key] = self._rate_counts.get(key, 0) + 1
            used = self._rate_counts.get(key, 0)
        limit = self.config.rate_limit_per_minute
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": str((window + 1) * 60),
        }

    def over_rate_limit(self, api: str) -> bool:
        window = int(time.time() // 60)
        with self.lock:
            return self._rate_counts.get((api, window), 0) > self.config.rate_limit_per_minute


# ------------------------------------------------------------------------------------------------


def _alpaca_auth(emu: MarketEmulator, headers: Any) -> Reply | None:
    key, secret = headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY")
    auth = headers.get("Authorization")
    if not key and not secret and auth and auth.startswith("Basic "):
        import base64

        try:
            key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            key = secret = None
    cfg = emu.config
    if not key and not secret and not auth and cfg.html_401_without_headers:
        return nginx_html(401, "Authorization Required")
    ok = bool(key) and bool(secret)
    if ok and cfg.alpaca_key_id is not None:
        ok = key == cfg.alpaca_key_id
    if ok and cfg.alpaca_secret_key is not None:
        ok = secret == cfg.alpaca_secret_key
    return None if ok else Reply(401, {"message": "unauthorized."})


def _ndl_auth(emu: MarketEmulator, headers: Any, params: dict[str, list[str]]) -> Reply | None:
    key = headers.get("x-api-token") or (params.get("api_key") or [None])[0]
    if not key:
        return ndl.ndl_error(
            401,
            "QEPx01",
            "You must be logged in to view this resource. Please include your API key "
            "(register for a free account).",
        )
    if emu.config.ndl_api_key is not None and key != emu.config.ndl_api_key:
        return ndl.ndl_error(
            400,
            "QEAx01",
            "We could not recognize your API key. Please check your API key and try again.",
        )
    return None


def _fault_reply(api: str, action: str, status: int | None) -> Reply:
    if action == "rate_limit":
        if api == "ndl":
            return ndl.ndl_error(
                429,
                "QELx04",
                "You have exceeded the API speed limit of 300 calls per 10 seconds.",
            )
        return Reply(429, {"code": 42910000, "message": "too many requests"})
    status = status or 500
    if api == "ndl":
        if status == 500:
            return ndl.ndl_error(500, "QEMx01", "Something went wrong. Please try again.")
        if status == 503:
            return ndl.ndl_error(503, "QEXx01", "The request took too long. Try again later.")
        if status == 502:
            return ndl.ndl_error(502, "QEXx02", "We are experiencing connectivity issues.")
    elif status == 500:
        return Reply(500, {"code": 50010000, "message": "internal server error occurred"})
    reasons = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
    return nginx_html(status, reasons.get(status, "Server Error"))


_ORDER_ID = re.compile(r"^/v2/orders/([^/]+)$")
_POSITION = re.compile(r"^/v2/positions/([^/]+)$")
_ASSET = re.compile(r"^/v2/assets/([^/]+)$")
_SINGLE_BARS = re.compile(r"^/v2/stocks/([^/]+)/bars$")
_NDL_TABLE = re.compile(r"^/datatables/([^/]+)/([^/.]+)(?:\.(\w+))?$")
_NDL_META = re.compile(r"^/datatables/([^/]+)/([^/.]+)/metadata(?:\.json)?$")


def _route_trading(emu: MarketEmulator, method: str, route: str, query: dict, body: Any) -> Reply:
    b = emu.broker
    route = route.replace("%3A", ":").replace("%3a", ":")
    with emu.lock:
        if route == "/v2/account" and method == "GET":
            return Reply(200, b.account_json())
        if route == "/v2/clock" and method == "GET":
            return Reply(200, b.clock_json())
        if route == "/v2/calendar" and method == "GET":
            return b.calendar_json(query)
        if route == "/v2/assets" and method == "GET":
            return b.list_assets(query)
        if m := _ASSET.match(route):
            return b.get_asset(unquote(m.group(1))) if method == "GET" else _not_allowed()
        if route == "/v2/positions":
            if method == "GET":
                return b.list_positions()
            if method == "DELETE":
                return b.close_all_positions(query)
            return _not_allowed()
        if m := _POSITION.match(route):
            sym = unquote(m.group(1))
            if method == "GET":
                return b.get_position(sym)
            if method == "DELETE":
                return b.close_position(sym, query)
            return _not_allowed()
        if route == "/v2/orders:by_client_order_id" and method == "GET":
            return b.get_by_client_id(query)
        if route == "/v2/orders":
            if method == "GET":
                return b.list_orders(query)
            if method == "POST":
                return b.submit_order(body)
            if method == "DELETE":
                return b.cancel_all()
            return _not_allowed()
        if m := _ORDER_ID.match(route):
            oid = unquote(m.group(1))
            if method == "GET":
                return b.get_order(oid)
            if method == "DELETE":
                return b.cancel_order(oid)
            if method == "PATCH":
                return b.replace_order(oid, body)
            return _not_allowed()
    return Reply(404, {"code": 40410000, "message": "endpoint not found"})


def _not_allowed() -> Reply:
    return Reply(405, {"code": 40510000, "message": "method not allowed"})


def _route_data(emu: MarketEmulator, method: str, route: str, query: dict) -> Reply:
    if method != "GET":
        return _not_allowed()
    common = {
        "now_ns": emu.now_ns(),
    }
    if route == "/v2/stocks/bars/latest":
        return alpaca_data.handle_latest_bars(emu.dataset, query, **common)
    single = _SINGLE_BARS.match(route)
    if route == "/v2/stocks/bars" or single:
        return alpaca_data.handle_bars(
            emu.dataset,
            query,
            page_cap=max(1, emu.config.page_cap),
            default_limit=emu.config.default_limit,
            repeat=lambda: emu.faults.take_repeat("alpaca_data"),
            bad_bars=emu.faults.bad_bars_for("alpaca_data"),
            path_symbol=unquote(single.group(1)) if single else None,
            **common,
        )
    return Reply(404, {"code": 40410000, "message": "endpoint not found"})


def _route_ndl(emu: MarketEmulator, method: str, route: str, params: dict) -> Reply:
    if method not in ("GET", "POST"):
        return ndl.unknown_route()
    if m := _NDL_META.match(route):
        if (m.group(1), m.group(2)) != ("WIKI", "PRICES"):
            return ndl.not_found_table()
        return ndl.metadata()
    m = _NDL_TABLE.match(route)
    if not m:
        return ndl.unknown_route()
    if (m.group(1), m.group(2)) != ("WIKI", "PRICES"):
        return ndl.not_found_table()
    return ndl.handle_prices(
        emu.dataset,
        params,
        (m.group(3) or "json").lower(),
        page_size=max(1, emu.config.ndl_page_size),
        page_cap=max(1, emu.config.ndl_page_cap),
        repeat=lambda: emu.faults.take_repeat("ndl"),
        bad_bars=emu.faults.bad_bars_for("ndl"),
        base_url=emu.url,
    )


def _classify(path: str) -> tuple[str, str]:
    """(api, route) for a request path."""
    if path.startswith("/_emulator/") or path == "/_emulator":
        return "control", path[len("/_emulator") :]
    if path.startswith(DATA_PREFIX + "/"):
        return "alpaca_data", path[len(DATA_PREFIX) :]
    if path.startswith(TRADING_PREFIX + "/"):
        return "alpaca_trading", path[len(TRADING_PREFIX) :]
    if path.startswith("/api/v3/"):
        return "ndl", path[len("/api/v3") :]
    if path.startswith("/v2/stocks/"):
        return "alpaca_data", path
    if path.startswith("/v2/"):
        return "alpaca_trading", path
    return "unknown", path


class _Handler(BaseHTTPRequestHandler):
    emu: MarketEmulator  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    timeout = 60  # idle keep-alive connections end; threads do not pile up

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the request log replaces stderr chatter

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    # ---------------------------------------------------------------------------------------

    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return raw, None
        try:
            return raw, json.loads(raw)
        except ValueError:
            return raw, raw.decode("utf-8", "replace")[:2000]

    def _dispatch(self, method: str) -> None:
        emu = self.emu
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        _raw, body = self._read_body()
        api, route = _classify(path)
        if api == "control":
            self._send(self._control(method, route, query, body), api=None)
            return
        entry = emu.log.add(
            api=api,
            method=method,
            path=path,
            route=route,
            query=redact_query(query),
            headers=redact_headers(dict(self.headers.items())),
            body=body,
        )
        if api == "unknown":
            entry.status = 404
            self._send(Reply(404, {"message": "Not Found"}), api=None)
            return
        decision = emu.faults.decide(api)
        if decision.latency > 0:
            entry.extra["latency"] = decision.latency
            time.sleep(decision.latency)
        if decision.action == "drop":
            entry.fault = "drop"
            self._drop()
            return
        if decision.action is not None:
            entry.fault = decision.action
            reply = _fault_reply(api, decision.action, decision.status)
            if decision.action == "rate_limit":
                reply.headers.update(emu.rate_headers(api))
                reply.headers["X-RateLimit-Remaining"] = "0"
            entry.status = reply.status
            self._send(reply, api=None)
            return
        params = query
        if api == "ndl" and method == "POST":
            params = {**query, **ndl.params_from_json(body)}
        denied = (
            _ndl_auth(emu, self.headers, params)
            if api == "ndl"
            else _alpaca_auth(emu, self.headers)
        )
        if denied is not None:
            entry.status = denied.status
            self._send(denied, api=None)
            return
        if emu.config.enforce_rate_limit:
            headers = emu.rate_headers(api)
            if emu.over_rate_limit(api):
                reply = _fault_reply(api, "rate_limit", None)
                reply.headers.update(headers)
                entry.status, entry.fault = 429, "rate_limit_enforced"
                self._send(reply, api=None)
                return
        try:
            if api == "alpaca_data":
                reply = _route_data(emu, method, route, query)
            elif api == "alpaca_trading":
                reply = _route_trading(emu, method, route, query, body)
            else:
                reply = _route_ndl(emu, method, route, params)
        except Exception as exc:  # an emulator bug must surface as a 500, not a hang
            reply = Reply(500, {"code": 50010000, "message": f"emulator error: {exc!r}"})
        if (
            api == "alpaca_trading"
            and method == "POST"
            and route == "/v2/orders"
            and reply.status == 200
            and (lost := emu.faults.take_accept_then_fail(api)) is not None
        ):
            # The order is in the book; only the answer is lost.
            entry.fault = "accept_then_fail"
            if lost == 0:
                self._drop()
                return
            reply = _fault_reply(api, "server_error", lost)
        entry.status = reply.status
        self._send(reply, api=api)

    def _drop(self) -> None:
        """Close the socket without a response (a proxy or server dying mid-request)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, reply: Reply, api: str | None) -> None:
        payload = reply.payload()
        headers = dict(reply.headers)
        if api is not None and api != "control":
            rate = self.emu.rate_headers(api, count=not self.emu.config.enforce_rate_limit)
            headers = {**rate, **headers}
        if (
            self.emu.config.gzip
            and len(payload) > 256
            and "gzip" in (self.headers.get("Accept-Encoding") or "")
            and reply.content_type.split(";")[0] in ("application/json", "text/csv")
        ):
            payload = gzip.compress(payload, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.status != 204:
                self.send_header("Content-Length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if reply.status != 204 and self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- control routes -------------------------------------------------------------------

    def _control(self, method: str, route: str, query: dict, body: Any) -> Reply:
        emu = self.emu
        body = body if isinstance(body, dict) else {}
        try:
            if route == "/health":
                return Reply(
                    200,
                    {
                        "ok": True,
                        "alpaca_data_url": emu.alpaca_data_url,
                        "alpaca_trading_url": emu.alpaca_trading_url,
                        "ndl_api_base": emu.ndl_api_base,
                        "symbols": emu.dataset.symbols,
                    },
                )
            if route == "/faults":
                if method == "POST":
                    emu.faults.set(**body)
                elif method == "DELETE":
                    emu.faults.clear()
                return Reply(200, emu.faults.snapshot())
            if route == "/requests":
                if method == "DELETE":
                    emu.clear_requests()
                    return Reply(200, [])
                return Reply(200, [asdict(r) for r in emu.requests])
            if route == "/reset" and method == "POST":
                emu.reset()
                return Reply(200, {"ok": True})
            if route == "/restate" and method == "POST":
                emu.restate(
                    str(body["symbol"]), body["ex_date"],
                    split_ratio=float(body.get("split_ratio", 1.0)),
                    dividend=float(body.get("dividend", 0.0)),
                )  # fmt: skip
                return Reply(200, {"ok": True, "symbol": body["symbol"]})
            if route == "/fill" and method == "POST":
                filled = emu.fill_open_orders(
                    body.get("prices"),
                    session=body.get("session"),
                    partial=body.get("partial"),
                    reject=body.get("reject"),
                )
                return Reply(200, filled)
            if route == "/time":
                if method == "POST":
                    emu.set_time(body.get("now"))
                return Reply(200, {"now": emu.now().isoformat()})
            if m := re.match(r"^/ndl/export/([^/]+)\.zip$", route):
                return ndl.handle_export_file(emu.dataset, m.group(1))
        except (TypeError, ValueError, KeyError) as exc:
            return Reply(400, {"message": str(exc)})
        return Reply(404, {"message": "unknown control route"})


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    dataset: Dataset | None = None,
    *,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    announce: bool = True,
    **config: Any,
) -> None:
    """Run an emulator until interrupted (Ctrl-C) or until ``stop`` is set. Blocks.

    ``config`` takes ``EmulatorConfig`` fields (e.g. ``page_cap=100``)."""
    emu = MarketEmulator(dataset, host=host, port=port, **config).start()
    if announce:
        print(f"tradewind market emulator on {emu.url}", flush=True)
        print(f"  Alpaca data     url_override={emu.alpaca_data_url}", flush=True)
        print(f"  Alpaca trading  url_override={emu.alpaca_trading_url}", flush=True)
        print(
            f"  Nasdaq DL       ApiConfig.api_base={emu.ndl_api_base} (api_protocol='http://')",
            flush=True,
        )
        print(f"  symbols: {','.join(emu.dataset.symbols)}", flush=True)
    if ready is not None:
        ready.set()
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
