"""`tradewind emulator serve`: the local market emulator as a command (tests, demos, Airflow on a laptop)."""

from __future__ import annotations

from typing import Annotated

import typer

emulator_app = typer.Typer(help="Local Alpaca + Nasdaq Data Link emulator (loopback only).")


@emulator_app.command("serve")
def serve_command(
    host: str = "127.0.0.1",
    port: int = 8765,
    symbols: Annotated[str, typer.Option(help="Comma-separated tickers.")] = "AAPL,MSFT",
    start: str = "2015-01-02",
    end: str = "2015-03-31",
    seed: int = 0,
    minute_sessions: Annotated[
        int, typer.Option(help="How many final sessions get minute bars (0 = none).")
    ] = 2,
    no_actions: Annotated[bool, typer.Option(help="No dividends or splits.")] = False,
    page_cap: Annotated[int, typer.Option(help="Max bars per Alpaca page.")] = 10_000,
    ndl_page_size: Annotated[int, typer.Option(help="Default WIKI rows per page.")] = 100,
    now: Annotated[str | None, typer.Option(help="Fixed emulator time (naive = New York).")] = None,
) -> None:
    """Serve a generated dataset as Alpaca (data + paper trading) and Nasdaq Data Link WIKI/PRICES."""
    from tradewind.emulator.dataset import make_dataset
    from tradewind.emulator.server import serve

    tickers = [s.strip() for s in symbols.split(",") if s.strip()]
    dataset = make_dataset(
        tickers,
        start,
        end,
        seed=seed,
        minute=minute_sessions > 0,
        minute_sessions=minute_sessions,
        actions=not no_actions,
    )
    serve(host, port, dataset, page_cap=page_cap, ndl_page_size=ndl_page_size, now=now)


def register(app: typer.Typer) -> None:
    app.add_typer(emulator_app, name="emulator")
