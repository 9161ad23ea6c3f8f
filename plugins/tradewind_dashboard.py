"""The tradewind dashboard inside the Airflow 3 UI.

The FastAPI app of ``tradewind.dashboard`` is mounted on Airflow's API server under
``/tradewind`` and linked from the navigation bar (an external view that Airflow renders in
an iframe). Airflow does not guard plugin apps by itself, so every route depends on Airflow's
own ``requires_authenticated()``: the same login (JWT cookie) as the rest of the UI.
The warehouse is resolved at the first request, never when the plugin is imported.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/tradewind"


def _app():
    from airflow.api_fastapi.core_api.security import requires_authenticated

    from tradewind.dashboard.app import create_app
    from tradewind.orchestration.connections import warehouse_url

    # Airflow's login guards it; a dashboard token would be a second password for the same UI.
    # The warehouse is the one the DAGs use (the Airflow connection, else the settings).
    return create_app(
        require_token=False,
        dependencies=[requires_authenticated()],
        url_factory=warehouse_url,
    )


class TradewindDashboardPlugin(AirflowPlugin):
    name = "tradewind_dashboard"
    fastapi_apps = [
        {"app": _app(), "url_prefix": URL_PREFIX, "name": "tradewind dashboard"},
    ]
    external_views = [
        {
            "name": "tradewind",
            # Relative, no leading slash: Airflow resolves it against its own base URL.
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "url_route": "tradewind",
            "category": "browse",
        }
    ]
