"""Risk checks run before anything is sent. Pure functions returning the list of breaches; the
caller raises ``RiskBreach`` with all of them (one line) and sends nothing.

Defaults (``Settings``) let a first rebalance build the whole portfolio from cash: turnover 1.0
is below ``max_turnover`` 2.0, gross exposure of a long-only book is at most 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd

from tradewind import calendar as nyse
from tradewind.trading.model import Asset, Clock, Targets
from tradewind.trading.planner import Plan

WEIGHT_TOL = 1e-9  # weights arrive as doubles; a bound is breached only beyond rounding


@dataclass(frozen=True)
class RiskLimits:
    max_weight: float = 0.25
    max_gross_exposure: float = 1.0
    max_turnover: float = 2.0
    max_target_age_sessions: int = 0
    kill_switch: bool = False

    @classmethod
    def from_settings(cls, settings) -> RiskLimits:
        return cls(
            max_weight=settings.max_weight,
            max_gross_exposure=settings.max_gross_exposure,
            max_turnover=settings.max_turnover,
            max_target_age_sessions=settings.max_target_age_sessions,
            kill_switch=settings.trading_kill_switch,
        )


def check_session(session: date, limits: RiskLimits) -> list[str]:
    """The kill switch and the market calendar: nothing else matters if these fail."""
    out = []
    if limits.kill_switch:
        out.append("the kill switch is on (TRADEWIND_TRADING_KILL_SWITCH=true)")
    if not nyse.is_session(session):
        out.append(f"{session} is not an NYSE session (market holiday or weekend)")
    return out


def check_targets(
    targets: Targets | None,
    session: date,
    limits: RiskLimits,
    assets: Mapping[str, Asset | None],
    newest_session: date | None = None,
) -> list[str]:
    """Targets exist, are fresh, finite, within bounds, and name symbols the broker knows."""
    if targets is None:
        when = f" (newest targets: {newest_session})" if newest_session else ""
        return [f"no target weights for {session}{when}"]
    out = []
    if targets.as_of_session != session:
        age = len(nyse.sessions(targets.as_of_session, session)) - 1
        if age > limits.max_target_age_sessions:
            out.append(
                f"stale targets: newest are for {targets.as_of_session}, {age} session(s) "
                f"before {session} (max {limits.max_target_age_sessions})"
            )
    w = targets.weights
    bad = [s for s, x in w.items() if not math.isfinite(x)]
    if bad:
        out.append(f"non-finite target weights for {', '.join(sorted(bad))}")
    neg = [s for s, x in w.items() if math.isfinite(x) and x < -WEIGHT_TOL]
    if neg:
        out.append(f"negative target weights (long-only) for {', '.join(sorted(neg))}")
    big = [
        f"{s} {x:.4f}"
        for s, x in sorted(w.items())
        if math.isfinite(x) and x > limits.max_weight + WEIGHT_TOL
    ]
    if big:
        out.append(f"weights above the max weight {limits.max_weight:g}: {', '.join(big)}")
    gross = sum(abs(x) for x in w.values() if math.isfinite(x))
    if gross > limits.max_gross_exposure + WEIGHT_TOL:
        out.append(f"gross exposure {gross:.4f} above the limit {limits.max_gross_exposure:g}")
    unknown = sorted(s for s in w if assets.get(s) is None)
    if unknown:
        out.append(f"unknown symbol(s) at the broker: {', '.join(unknown)}")
    return out


def check_clock(clock: Clock | None, session: date) -> list[str]:
    """Orders for the open of T+1 may only be placed between the close of T and that open."""
    if clock is None:
        return []
    target_open = pd.Timestamp(nyse.session_open_utc(nyse.next_session(session)))
    close_t = pd.Timestamp(nyse.session_close_utc(session))
    now = pd.Timestamp(clock.now).tz_convert("UTC")
    if clock.is_open:
        return [f"the market is open now ({now:%Y-%m-%d %H:%M} UTC): rebalance after the close"]
    if now < close_t:
        return [f"session {session} has not closed yet (now {now:%Y-%m-%d %H:%M} UTC)"]
    if pd.Timestamp(clock.next_open).tz_convert("UTC") != target_open:
        return [
            f"too late for {session}: the next open is "
            f"{pd.Timestamp(clock.next_open):%Y-%m-%d %H:%M}, not the open of "
            f"{nyse.next_session(session)}"
        ]
    return []


def check_plan(plan: Plan, limits: RiskLimits) -> list[str]:
    out = []
    if plan.turnover > limits.max_turnover + WEIGHT_TOL:
        out.append(f"turnover {plan.turnover:.4f} above the limit {limits.max_turnover:g}")
    return out
