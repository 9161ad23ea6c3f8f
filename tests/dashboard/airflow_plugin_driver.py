"""Child process of test_dashboard_airflow: Airflow's own API-server app with the project's
plugins folder, requests through it in-process, one JSON line of results on stdout.

Airflow reads its configuration once per process, so this never runs inside pytest itself.
"""

from __future__ import annotations

import json


def main() -> None:
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.utils.db import initdb
    from fastapi.testclient import TestClient

    initdb()  # Airflow's own metadata (sqlite, throw-away): the login checks revoked tokens there
    app = create_app()
    out: dict = {}
    with TestClient(app) as c:
        out["anonymous"] = c.get("/tradewind/api/overview").status_code
        out["anonymous_page"] = c.get("/tradewind/", headers={"accept": "text/html"}).status_code
        token = get_auth_manager().generate_jwt(
            SimpleAuthManagerUser(username="admin", role="admin")
        )
        c.cookies.set("_token", token)
        r = c.get("/tradewind/api/overview")
        out["logged_in"] = r.status_code
        out["overview_keys"] = sorted(r.json()) if r.status_code == 200 else r.text[:300]
        page = c.get("/tradewind/models", headers={"accept": "text/html"})
        out["page"] = page.status_code
        out["page_html"] = page.text
        out["plotly"] = c.get("/tradewind/static/plotly.min.js").status_code
        plugins = c.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
        out["plugins"] = plugins.json() if plugins.status_code == 200 else plugins.text[:300]
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
