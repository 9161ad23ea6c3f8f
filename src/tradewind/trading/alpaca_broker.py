"""``AlpacaBroker``: the broker interface over alpaca-py's ``TradingClient`` (paper by default).

Idempotency: ``submit`` looks the client order id up (``GET /v2/orders:by_client_order_id``)
before sending; a 422 "client_order_id must be unique" is an answer (the order exists: fetch
it); a 5xx, a 429 past the SDK's own retries, a dropped connection or a timeout is followed by
another lookup before any new attempt, so an order the broker accepted before the error is
found and never sent twice. Retries use tenacity with the settings' limits.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from tradewind.settings import Settings, get_settings
from tradewind.trading.errors import BrokerError, LiveTradingRefused, TradingError
from tradewind.trading.model import Account, Asset, Clock, OrderIntent, OrderRecord, SubmitResult

log = logging.getLogger(__name__)

PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DUPLICATE_CODE = 40010001


def is_live_url(url: str | None) -> bool:
    """None and the paper host are paper; loopback is a local emulator; anything else (the live
    host or an unknown one) counts as live, so only an explicit opt-in reaches it."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return not (host == PAPER_HOST or host in LOOPBACK)


class BrokerHTTPError(BrokerError):
    """A definite answer that is not a success (401, 403, 404, 422 ...)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class _Transient(Exception):
    """A failure after which the order may or may not exist: look it up, then retry."""


def _api_error_text(exc: Exception) -> tuple[int | None, int | None, str]:
    status = getattr(exc, "status_code", None)
    text = str(exc)
    try:
        body = json.loads(text)
        return status, body.get("code"), str(body.get("message", text))
    except (ValueError, AttributeError):
        first = " ".join(text.split())[:160]
        return status, None, first


def _f(x: Any) -> float | None:
    return None if x in (None, "") else float(x)


def order_record(o: Any) -> OrderRecord:
    return OrderRecord(
        client_order_id=o.client_order_id,
        broker_order_id=str(o.id),
        symbol=o.symbol,
        side=getattr(o.side, "value", str(o.side)),
        qty=_f(o.qty),
        notional=_f(o.notional),
        time_in_force=getattr(o.time_in_force, "value", str(o.time_in_force)),
        status=getattr(o.status, "value", str(o.status)),
        filled_qty=_f(o.filled_qty) or 0.0,
        filled_avg_price=_f(o.filled_avg_price),
        submitted_at=o.submitted_at,
        filled_at=o.filled_at,
        raw=json.loads(o.model_dump_json()),
    )


class AlpacaBroker:
    """Alpaca Trading API v2. ``url`` (or ``TRADEWIND_ALPACA_TRADING_URL``) may point at the
    local emulator; a live endpoint is refused before any request unless live trading is on."""

    name = "alpaca"
    sells_fund_buys = False

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        url: str | None = None,
        key_id: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        s = settings or get_settings()
        url = url or s.alpaca_trading_url
        live = is_live_url(url)
        if live and not s.live_trading:
            host = urlsplit(url).hostname
            raise LiveTradingRefused(
                f"refusing the live trading endpoint {host}: set TRADEWIND_LIVE_TRADING=true "
                "to trade real money, or unset TRADEWIND_ALPACA_TRADING_URL for paper trading"
            )
        key = key_id or (s.alpaca_api_key_id.get_secret_value() if s.alpaca_api_key_id else None)
        secret = secret_key or (
            s.alpaca_api_secret_key.get_secret_value() if s.alpaca_api_secret_key else None
        )
        if not key or not secret:
            raise TradingError("--broker alpaca needs APCA_API_KEY_ID and APCA_API_SECRET_KEY")
        from alpaca.trading.client import TradingClient

        self.paper = not live
        self.url = url
        self._client = TradingClient(key, secret, paper=self.paper, url_override=url or None)
        # alpaca-py sends without a timeout: a hung connection would block the run for ever.
        # Its requests Session is the one place to set one; a timed-out order is looked up
        # before any retry like any other transient failure.
        adapter = _TimeoutAdapter(s.broker_timeout_seconds)
        self._client._session.mount("http://", adapter)
        self._client._session.mount("https://", adapter)
        self._attempts = max(1, s.http_max_retries + 1)
        self._backoff_max = s.http_backoff_max_seconds
        self._account_id: str | None = None

    # ---- plumbing ------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        """Run a read-only call with retries on transient failures."""
        from alpaca.common.exceptions import APIError

        def once():
            try:
                return fn(*args, **kwargs)
            except APIError as exc:
                status, _, msg = _api_error_text(exc)
                if status is None or status >= 500 or status == 429:
                    raise _Transient(f"{what}: HTTP {status} {msg}") from None
                raise BrokerHTTPError(
                    f"Alpaca refused the {what} request: HTTP {status} {msg}", status
                ) from None
            except requests.RequestException as exc:
                raise _Transient(f"{what}: {type(exc).__name__}") from None

        try:
            for attempt in self._retrying():
                with attempt:
                    return once()
        except _Transient as exc:
            raise BrokerError(
                f"Alpaca unreachable after {self._attempts} attempts: {exc}"
            ) from None

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=self._backoff_max),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )

    # ---- the broker interface ------------------------------------------------------------
    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self.account()
        return str(self._account_id)

    def account(self) -> Account:
        a = self._call("account", self._client.get_account)
        self._account_id = str(a.id)
        raw = {
            k: (str(v) if v is not None else None)
            for k, v in {
                "account_number": a.account_number,
                "status": getattr(a.status, "value", a.status),
                "cash": a.cash,
                "equity": a.equity,
                "buying_power": a.buying_power,
                "long_market_value": a.long_market_value,
                "multiplier": a.multiplier,
            }.items()
        }
        return Account(
            account_id=str(a.id),
            cash=float(a.cash),
            equity=float(a.equity),
            buying_power=float(a.buying_power),
            sells_fund_buys=self.sells_fund_buys,
            raw=raw,
        )

    def positions(self) -> dict[str, float]:
        return {p.symbol: float(p.qty) for p in self.position_details()}

    def position_details(self) -> list[Any]:
        return list(self._call("positions", self._client.get_all_positions))

    def assets(self, symbols) -> dict[str, Asset | None]:
        out: dict[str, Asset | None] = {}
        for sym in symbols:
            try:
                a = self._call(f"asset {sym}", self._client.get_asset, sym)
            except BrokerHTTPError as exc:
                if exc.status == 404:
                    out[sym] = None
                    continue
                raise
            active = getattr(a.status, "value", str(a.status)) == "active"
            out[sym] = Asset(
                sym, tradable=bool(a.tradable) and active, fractionable=bool(a.fractionable)
            )
        return out

    def clock(self) -> Clock:
        c = self._call("clock", self._client.get_clock)
        return Clock(now=c.timestamp, is_open=bool(c.is_open), next_open=c.next_open)

    def cost_rates(self, symbols, session: date) -> dict[str, float]:
        return {}  # commission-free; price moves are covered by the cash buffer

    def find(self, client_order_id: str) -> OrderRecord | None:
        try:
            o = self._call("order lookup", self._client.get_order_by_client_id, client_order_id)
        except BrokerHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        return order_record(o)

    def open_orders(self) -> list[OrderRecord]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        req = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        return [order_record(o) for o in self._call("orders", self._client.get_orders, req)]

    def submit(self, intent: OrderIntent) -> SubmitResult:
        """Place ``intent`` unless an order with its client id exists (see the module doc)."""
        from alpaca.common.exceptions import APIError
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import MarketOrderRequest

        coid = intent.client_order_id
        if not coid:
            raise ValueError("an order needs its deterministic client_order_id")
        found = self.find(coid)
        if found is not None:
            return SubmitResult(found, sent=False)
        request = MarketOrderRequest(
            symbol=intent.symbol,
            qty=round(intent.qty, 9),
            side=OrderSide(intent.side),
            time_in_force=TimeInForce(intent.time_in_force),
            client_order_id=coid,
        )
        posted = False

        def attempt_once() -> SubmitResult:
            nonlocal posted
            if posted:  # an earlier attempt may have reached the broker: look before sending
                again = self.find(coid)
                if again is not None:
                    return SubmitResult(again, sent=True)
            posted = True
            try:
                return SubmitResult(order_record(self._client.submit_order(request)), sent=True)
            except APIError as exc:
                status, code, msg = _api_error_text(exc)
                if status == 422 and (code == DUPLICATE_CODE and "unique" in msg):
                    # The order exists (our own earlier attempt, or a run that died before
                    # recording it): that is the answer.
                    return SubmitResult(self.find(coid), sent=False)
                if status is None or status >= 500 or status == 429:
                    log.warning("order %s: HTTP %s, looking it up before retrying", coid, status)
                    raise _Transient(f"HTTP {status} {msg}") from None
                return SubmitResult(None, sent=False, error=f"HTTP {status}: {msg}")
            except requests.RequestException as exc:
                log.warning("order %s: %s, looking it up before retrying", coid, type(exc).__name__)
                raise _Transient(type(exc).__name__) from None

        try:
            for attempt in self._retrying():
                with attempt:
                    return attempt_once()
        except _Transient as exc:
            again = self.find(coid)
            if again is not None:
                return SubmitResult(again, sent=True)
            raise BrokerError(
                f"order {coid} not placed after {self._attempts} attempts: {exc}"
            ) from None
        raise AssertionError("unreachable")
