"""Warehouse side of signals: the checks that read bars and features, and the writes.

Every function takes an open psycopg connection; the caller owns the transaction, so weights,
records and files of one run commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import psycopg


def features_through(conn: psycopg.Connection, symbols: Sequence[str]) -> dt.date | None:
    """The newest session with feature rows for any of ``symbols``."""
    row = conn.execute(
        "select max(session) from features.daily_features where symbol = any(%s)",
        [list(symbols)],
    ).fetchone()
    return row[0] if row else None


def bars_without_features(
    conn: psycopg.Connection, symbols: Sequence[str], first: dt.date, last: dt.date
) -> tuple[str, dt.date] | None:
    """The first (symbol, session) in range that has a raw bar but no feature row (bars were
    ingested after the features were built)."""
    return conn.execute(
        """
        select r.symbol, r.session from raw.bars_daily r
        where r.symbol = any(%(s)s) and r.session between %(a)s and %(b)s
          and not exists (select 1 from features.daily_features f
                          where f.symbol = r.symbol and f.session = r.session)
        order by r.session, r.symbol limit 1
        """,
        {"s": list(symbols), "a": first, "b": last},
    ).fetchone()


def features_out_of_date(
    conn: psycopg.Connection, symbols: Sequence[str], first: dt.date, last: dt.date
) -> tuple[str, dt.date] | None:
    """The first feature row in range whose bar is no longer the one in raw.bars_daily (a bar
    corrected or restated after the features were built)."""
    return conn.execute(
        """
        select f.symbol, f.session from features.daily_features f
        left join raw.bars_daily r
          on r.source = f.source and r.symbol = f.symbol and r.session = f.session
        where f.symbol = any(%(s)s) and f.session between %(a)s and %(b)s
          and (r.symbol is null
               or (r.open::float8, r.high::float8, r.low::float8, r.close::float8,
                   r.volume::float8)
                  is distinct from
                  (f.open::float8, f.high::float8, f.low::float8, f.close::float8,
                   f.volume::float8))
        order by f.session, f.symbol limit 1
        """,
        {"s": list(symbols), "a": first, "b": last},
    ).fetchone()


def universe_members(
    conn: psycopg.Connection, universe: str, sessions: Sequence[dt.date]
) -> dict[dt.date, set[str]] | None:
    """Members of ``universe`` on each session from ref.universe_members; None when the
    warehouse holds no membership for it."""
    rows = conn.execute(
        "select symbol, valid_from, valid_to from ref.universe_members where upper(universe) = "
        "upper(%s)",
        [universe],
    ).fetchall()
    if not rows:
        return None
    return {
        day: {s for s, start, end in rows if start <= day and (end is None or day < end)}
        for day in sessions
    }


def stored_weights(
    conn: psycopg.Connection, model: str, version: int, session: dt.date
) -> dict[str, float]:
    rows = conn.execute(
        "select symbol, weight from signals.target_weights where model_name = %s and "
        "model_version = %s and as_of_session = %s",
        [model, version, session],
    ).fetchall()
    return {s: float(w) for s, w in rows}


def write_weights(
    conn: psycopg.Connection,
    model: str,
    version: int,
    sessions: Sequence[dt.date],
    symbols: Sequence[str],
    weights: np.ndarray,
) -> int:
    """Replace the rows of (session, model, version) by ``weights`` [S, N]; return how many rows
    changed. Equal rows are left alone (created_at kept), so a re-run changes nothing."""
    changed = 0
    with conn.cursor() as cur:
        cur.execute(
            """
            create temporary table if not exists _tw_new_weights (
                as_of_session date, symbol text, weight double precision) on commit drop
            """
        )
        cur.execute("truncate _tw_new_weights")
        # One binary COPY: float8 travels as its 8 bytes (exact), and psycopg's C copy path
        # costs about a microsecond a row where a bound array parameter cost ~20.
        values = np.asarray(weights, dtype=np.float64).tolist()
        with cur.copy("copy _tw_new_weights from stdin (format binary)") as copy:
            copy.set_types(["date", "text", "float8"])
            for day, row in zip(sessions, values, strict=True):
                for sym, w in zip(symbols, row, strict=True):
                    copy.write_row((day, sym, w))
        cur.execute(
            """
            delete from signals.target_weights t
            where t.model_name = %(m)s and t.model_version = %(v)s
              and t.as_of_session = any(%(d)s)
              and not exists (select 1 from _tw_new_weights n
                              where n.as_of_session = t.as_of_session and n.symbol = t.symbol)
            """,
            {"m": model, "v": version, "d": list(sessions)},
        )
        changed += cur.rowcount
        cur.execute(
            """
            insert into signals.target_weights (as_of_session, model_name, model_version,
                                                symbol, weight)
            select as_of_session, %(m)s, %(v)s, symbol, weight from _tw_new_weights
            on conflict (as_of_session, model_name, model_version, symbol) do update
              set weight = excluded.weight, created_at = now()
              where signals.target_weights.weight is distinct from excluded.weight
            """,
            {"m": model, "v": version},
        )
        changed += cur.rowcount
    return changed


def log_generations(conn: psycopg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    cols = (
        "run_id", "model_name", "model_version", "kind", "as_of_session", "status", "message",
        "mode", "sessions_in_run", "features_through", "delay_seconds", "elapsed_ms",
        "n_symbols", "gross_weight", "reported", "file_uri", "file_sha256",
    )  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into signals.generations ({', '.join(cols)}) "
            f"values ({', '.join(['%s'] * len(cols))})",
            [
                [json.dumps(r.get(c) or {}) if c == "reported" else r.get(c) for c in cols]
                for r in rows
            ],
        )


def ensemble_version(
    conn: psycopg.Connection, name: str, rule: str, members: Sequence[Mapping[str, Any]]
) -> int:
    """The version of this exact blend (rule, member versions, coefficients), created if new."""
    payload = json.dumps({"rule": rule, "members": list(members)}, sort_keys=True)
    fingerprint = hashlib.sha256(payload.encode()).hexdigest()
    # Serialise concurrent generators of the same ensemble (the version number is max + 1).
    conn.execute("select pg_advisory_xact_lock(hashtext('signals.ensemble:' || %s))", [name])
    row = conn.execute(
        "select version from signals.ensemble_versions where ensemble_name = %s and "
        "fingerprint = %s",
        [name, fingerprint],
    ).fetchone()
    if row:
        return int(row[0])
    row = conn.execute(
        """
        insert into signals.ensemble_versions (ensemble_name, version, rule, members, fingerprint)
        select %(n)s, coalesce(max(version), 0) + 1, %(r)s, %(m)s, %(f)s
        from signals.ensemble_versions where ensemble_name = %(n)s
        returning version
        """,
        {"n": name, "r": rule, "m": json.dumps(list(members)), "f": fingerprint},
    ).fetchone()
    return int(row[0])


def validation_sharpe(conn: psycopg.Connection, model: str, version: int) -> float | None:
    """The validation-window Sharpe ratio of a model version from ml.evaluations (newest)."""
    exists = conn.execute("select to_regclass('ml.evaluations')").fetchone()[0]
    if exists is None:
        return None
    row = conn.execute(
        """
        select (metrics ->> 'sharpe_ratio')::float8 from ml.evaluations
        where model_name = %s and model_version = %s and window_name = 'validation'
        order by created_at desc limit 1
        """,
        [model, version],
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])
