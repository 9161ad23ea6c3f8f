"""Retrying vendor calls: exponential backoff with full jitter (tenacity), on top of the SDKs'
own fixed retries, bounded in attempts and in total time, then a clear failure.

Only transient failures are retried: HTTP 429 and 5xx, dropped connections and timeouts. A
``Retry-After`` or ``X-RateLimit-Reset`` the server sent stretches the wait (up to the bound).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5  # attempts = max_retries + 1
    backoff_max: float = 30.0  # seconds, one wait
    multiplier: float = 0.5  # first waits ~U(0, 0.5 s), doubling
    # Seconds for all attempts together; None: bounded by the attempts alone (each wait is at
    # most backoff_max, so waits add up to at most max_retries * backoff_max).
    total_max: float | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RetryPolicy:
        base = cls(settings.http_max_retries, settings.http_backoff_max_seconds)
        return cls(**{**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}})

    @property
    def attempts(self) -> int:
        return self.max_retries + 1


class GaveUp(Exception):
    """All attempts failed; ``last`` is the final error, ``attempts`` how many were made."""

    def __init__(self, last: BaseException, attempts: int, seconds: float) -> None:
        super().__init__(str(last))
        self.last, self.attempts, self.seconds = last, attempts, seconds


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool],
    server_wait: Callable[[BaseException], float | None] = lambda exc: None,
    describe: Callable[[BaseException], str] = str,
    what: str = "request",
) -> T:
    """``fn()`` until it succeeds, a non-retryable error (raised as is) or the bound
    (``GaveUp``)."""
    jitter = wait_random_exponential(multiplier=policy.multiplier, max=policy.backoff_max)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = server_wait(exc) if exc is not None else None
        return min(policy.backoff_max, max(jitter(state), hinted or 0.0))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.1fs",
            what, state.attempt_number, policy.attempts, describe(exc) if exc else "?",
            state.next_action.sleep if state.next_action else 0.0,
        )  # fmt: skip

    stop = stop_after_attempt(policy.attempts)
    if policy.total_max is not None:
        stop = stop | stop_after_delay(policy.total_max)
    retrying = Retrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    t0 = time.monotonic()
    try:
        return retrying(fn)
    except BaseException as exc:
        if retryable(exc):
            attempts = retrying.statistics.get("attempt_number", policy.attempts)
            raise GaveUp(exc, attempts, time.monotonic() - t0) from exc
        raise
