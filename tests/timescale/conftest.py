"""TimescaleDB fixtures: PGlite's TimescaleDB build served by Node.js (see tradewind.db.pglite).

Tests that use them skip with a reason when Node.js or the npm packages are absent. The server is
one backend with one database: never hold a connection while opening another.
"""

from __future__ import annotations

import pytest

from tradewind.db.pglite import PGliteTimescale, PGliteUnavailable, unavailable_reason


@pytest.fixture(scope="module")
def fresh_timescale_url() -> str:
    """URL of an empty TimescaleDB server of this test module's own (nothing migrated)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    # A short wait turns a second concurrent connection into a quick, clear failure.
    server = PGliteTimescale(wait_ms=3_000)
    try:
        server.start()
    except PGliteUnavailable as exc:
        pytest.skip(str(exc))
    yield server.url
    server.stop()
