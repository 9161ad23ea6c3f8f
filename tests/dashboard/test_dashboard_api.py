"""The JSON API against a real PostgreSQL holding runs, evaluations, signals and broker records
(tradewind.dashboard.sample). Expectations are computed from the raw arrays the sample wrote
(numpy), never through the dashboard's SQL."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_every_page_and_api_answers(client):
    for path in ("/", "/models", "/models/dow30_ppo", "/signals", "/portfolio", "/data"):
        r = client.get(path, headers={"accept": "text/html"})
        assert r.status_code == 200, (path, r.text[:500])
        assert "<html" in r.text
    for path in ("/api/overview", "/api/models", "/api/models/dow30_ppo", "/api/signals",
                 "/api/portfolio", "/api/data"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
