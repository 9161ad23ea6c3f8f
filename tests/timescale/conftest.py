"""TimescaleDB fixtures: PGlite's TimescaleDB build served by Node.js (see tradewind.db.pglite).

Tests that use them skip with a reason when Node.js or the npm packages are absent. The server is
one backend with one database: never hold a connection while opening another.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def fresh_timescale_url(pglite_starter) -> str:
    """URL of an empty TimescaleDB server of this test module's own (nothing migrated)."""
    # A short wait turns a second concurrent connection into a quick, clear failure.
    server = pglite_starter(wait_ms=3_000)
    yield server.url
    server.stop()
