"""``tradewind dashboard [--host 127.0.0.1] [--port N]``: serve the dashboard with uvicorn.

Loopback only by default. Binding anywhere else needs ``TRADEWIND_DASHBOARD_TOKEN``: the
dashboard shows positions, orders and model results, which are nobody else's business.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, port: int, has_token: bool) -> None:
    """Refuse an unsafe or impossible bind with one clear line (a UserFacingError)."""
    from tradewind.db import WarehouseError

    if not is_loopback(host) and not has_token:
        raise WarehouseError(
            f"refusing to serve the dashboard on {host} without an access token: set "
            "TRADEWIND_DASHBOARD_TOKEN (or bind 127.0.0.1)"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise WarehouseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def register(app: typer.Typer) -> None:
    from tradewind.cli import console, friendly

    @app.command("dashboard")
    @friendly
    def dashboard(
        host: Annotated[
            str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")
        ] = None,
        port: Annotated[int | None, typer.Option(help="Port (default 8050).")] = None,
    ) -> None:
        """Serve the read-only web dashboard (results and operations) over the warehouse."""
        import uvicorn

        from tradewind.dashboard.app import create_app
        from tradewind.db import redact, warehouse_url
        from tradewind.settings import get_settings

        s = get_settings()
        host = host or s.dashboard_host
        port = port or s.dashboard_port
        check_bind(host, port, s.dashboard_token is not None)
        url = warehouse_url(s)
        shown = f"[{host}]" if ":" in host else host
        console.print(f"dashboard of {redact(url)} (read-only)")
        console.print(f"open [bold]http://{shown}:{port}/[/]   (API: /docs, /openapi.json)")
        if s.dashboard_token is not None:
            console.print("access token required: send it as 'Authorization: Bearer …' or ?token=")
        console.print("Ctrl-C stops it")
        uvicorn.run(create_app(url, settings=s), host=host, port=port, log_level="warning")
