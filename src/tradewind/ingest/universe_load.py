"""Universe membership files -> ``ref.universe_members``, and symbol lists for ``--universe``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tradewind.ingest.errors import IngestError


@dataclass
class UniverseLoad:
    universes: list[str]
    rows: int
    new: int
    updated: int
    removed: int

    def line(self) -> str:
        return (
            f"universes {', '.join(self.universes)}: {self.rows} membership rows "
            f"({self.new} new, {self.updated} updated, {self.removed} removed)"
        )


def load_universe_members(
    url: str | None = None, path: str | Path | None = None, source: str = "tradewind"
) -> UniverseLoad:
    """Replace the membership of every universe in the files (default: the shipped ones).

    One transaction: rows the files no longer hold are deleted, the rest upserted, so the table
    equals the files afterwards; universes not in the files are left alone.
    """
    from tradewind import universes
    from tradewind.db import connect

    try:
        frame = universes.load_universes(path)
    except (ValueError, OSError) as exc:
        raise IngestError(f"universes: {exc}") from None
    names = universes.known_universes(frame)
    rows = [
        (u, s, f, t)
        for u, s, f, t in frame[["universe", "symbol", "valid_from", "valid_to"]].itertuples(
            index=False
        )
    ]
    with connect(url) as conn, conn.transaction():
        conn.execute(
            "create temp table _tw_univ (universe text, symbol text, valid_from date, "
            "valid_to date) on commit drop"
        )
        with conn.cursor() as cur, cur.copy("copy _tw_univ from stdin") as cp:
            for r in rows:
                cp.write_row(r)
        removed = conn.execute(
            "delete from ref.universe_members m where m.universe = any(%s) and not exists ("
            " select 1 from _tw_univ u where u.universe = m.universe and u.symbol = m.symbol"
            " and u.valid_from = m.valid_from)",
            (names,),
        ).rowcount
        new, updated = conn.execute(
            """
            with up as (
                insert into ref.universe_members as m (universe, symbol, valid_from, valid_to,
                                                        source)
                select universe, symbol, valid_from, valid_to, %s from _tw_univ
                on conflict (universe, symbol, valid_from) do update
                    set valid_to = excluded.valid_to, source = excluded.source,
                        loaded_at = now()
                    where (m.valid_to, m.source) is distinct from (excluded.valid_to,
                                                                   excluded.source)
                returning (xmax = 0) as inserted
            )
            select count(*) filter (where inserted), count(*) filter (where not inserted)
            from up
            """,
            (source,),
        ).fetchone()
    return UniverseLoad(names, len(rows), int(new), int(updated), int(removed))


def symbols_for(
    universe: str, start: date | str | None = None, end: date | str | None = None
) -> list[str]:
    """Members of a built-in universe on any day of [start, end] (point-in-time, so names
    that left the index during the interval are included), or a user list / symbol file."""
    from tradewind import universes

    try:
        key = universes.normalize_universe_name(universe)
        if key in universes.known_universes():
            if start is None and end is None:
                return universes.members(key)
            lo = start or universes.history_start(key)
            hi = end or date.today()
            return universes.members_between(key, lo, hi)
        return universes.resolve_symbols(universe, end)
    except ValueError as exc:
        raise IngestError(f"--universe {universe}: {exc}") from None
