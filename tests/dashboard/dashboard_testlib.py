"""Constants and helpers of the dashboard tests (a module of its own: ``from conftest import``
would pick whichever folder's conftest was imported first)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

# The sample's last session; the app's clock is pinned to the evening after it.
SAMPLE_END = datetime(2026, 11, 27, 23, 0, tzinfo=UTC).date()
NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # the evening of the last session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
