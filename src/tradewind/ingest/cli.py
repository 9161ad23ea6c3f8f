"""``tradewind ingest alpaca | quandl | csv | synthetic | universes | demo``.

Every bar command: ``--symbols``/``--universe``, ``--start``/``--end`` (ISO dates; intraday
also ISO instants), ``--timeframe``, ``--strict``, ``--as-of`` (default: now, the only place
the wall clock enters ingestion), ``--full`` (refetch what the watermarks say is loaded). A
progress bar per page/file set on stderr, and one summary line at the end. Failures print one
line and exit 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

Symbols = Annotated[
    str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols, e.g. AAPL,MSFT.")
]
Universe = Annotated[
    str | None,
    typer.Option(
        "--universe", "-u",
        help="DOW30, NASDAQ100, SP100 (point-in-time members over the interval), a comma list "
        "or a symbol CSV file.",
    ),
]  # fmt: skip
Start = Annotated[str | None, typer.Option(help="First session/instant (inclusive), ISO.")]
End = Annotated[
    str | None, typer.Option(help="Last session/instant (inclusive); default: last closed.")
]
TimeframeOpt = Annotated[
    str, typer.Option("--timeframe", "-t", help="1Day, or 1Min/5Min/15Min/1Hour (intraday).")
]
Strict = Annotated[
    bool,
    typer.Option(
        help="Fail the run (load nothing) if any row is refused (csv: or a file holds no bars)."
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="When the data is observed (aware ISO instant); bars not complete by then are "
        "refused. Default: now.",
    ),
]
Full = Annotated[
    bool, typer.Option("--full", help="Refetch the whole interval, ignoring the watermarks.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _friendly(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from pydantic import ValidationError

        from tradewind.db import WarehouseError

        try:
            return fn(*args, **kwargs)
        except (WarehouseError, ValidationError, ValueError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    from tradewind.ingest.pipeline import as_utc

    return as_utc(value).to_pydatetime()


def _run(kind: str, *, symbols, universe, start, end, timeframe, strict, as_of, full, quiet,
         **opts) -> None:  # fmt: skip
    from tradewind.ingest.pipeline import run_ingest
    from tradewind.ingest.progress import NullProgress, RichProgress

    quiet = quiet or not sys.stderr.isatty()
    progress = NullProgress() if quiet else RichProgress()
    if not quiet:
        progress.__enter__()
    try:
        summary = run_ingest(
            kind, symbols, start, end, timeframe, as_of=_as_of(as_of), universe=universe,
            strict=strict, incremental=not full, progress=progress, **opts,
        )  # fmt: skip
    finally:
        if not quiet:
            progress.__exit__(None, None, None)
    console.print(summary.line(), highlight=False, soft_wrap=True)
    for note in summary.notes:
        console.print(f"  note: {note}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    ingest = typer.Typer(
        help="Load bars (Alpaca, Quandl/NDL, CSV, synthetic) and universes into the warehouse.",
        no_args_is_help=True,
    )
    app.add_typer(ingest, name="ingest")

    @ingest.command("alpaca")
    @_friendly
    def alpaca(
        symbols: Symbols = None, universe: Universe = None, start: Start = None, end: End = None,
        timeframe: TimeframeOpt = "1Day", strict: Strict = False, as_of: AsOf = None,
        full: Full = False, quiet: Quiet = False,
        adjustment: Annotated[str | None, typer.Option(help="raw|split|dividend|all (default: settings).")] = None,
        feed: Annotated[str | None, typer.Option(help="iex|sip|... (default: settings).")] = None,
        page_size: Annotated[int, typer.Option(help="Bars per page (1..10000).")] = 10_000,
    ) -> None:  # fmt: skip
        """Alpaca Market Data v2 bars (official alpaca-py client; keys from APCA_API_KEY_ID /
        APCA_API_SECRET_KEY, base URL from TRADEWIND_ALPACA_DATA_URL)."""
        _run("alpaca", symbols=symbols, universe=universe, start=start, end=end,
             timeframe=timeframe, strict=strict, as_of=as_of, full=full, quiet=quiet,
             adjustment=adjustment, feed=feed, page_size=page_size)  # fmt: skip

    @ingest.command("quandl")
    @_friendly
    def quandl(
        symbols: Symbols = None, universe: Universe = None, start: Start = None, end: End = None,
        timeframe: TimeframeOpt = "1Day", strict: Strict = False, as_of: AsOf = None,
        full: Full = False, quiet: Quiet = False,
        file: Annotated[Path | None, typer.Option(help="The bulk WIKI prices CSV (or zip) instead of the API.")] = None,
        adjustment: Annotated[str, typer.Option(help="all (adj_* columns) or raw.")] = "all",
    ) -> None:  # fmt: skip
        """Quandl WIKI prices: the WIKI/PRICES datatable (nasdaq-data-link client; key from
        NASDAQ_DATA_LINK_API_KEY, base from TRADEWIND_NDL_API_BASE) or the bulk file."""
        _run("quandl", symbols=symbols, universe=universe, start=start, end=end,
             timeframe=timeframe, strict=strict, as_of=as_of, full=full, quiet=quiet,
             file=str(file) if file else None, adjustment=adjustment)  # fmt: skip

    @ingest.command("csv")
    @_friendly
    def csv(
        paths: Annotated[list[Path], typer.Argument(help="CSV files, folders or globs.")],
        symbols: Symbols = None, universe: Universe = None, start: Start = None, end: End = None,
        timeframe: TimeframeOpt = "1Day", strict: Strict = False, as_of: AsOf = None,
        quiet: Quiet = False,
        layout: Annotated[str, typer.Option(help="auto|yahoo|wiki|long.")] = "auto",
        adjustment: Annotated[str | None, typer.Option(help="Label (yahoo: split; wiki: all|raw).")] = None,
        use_adj_close: Annotated[bool, typer.Option(help="Yahoo: scale OHLC by Adj Close/Close.")] = False,
        source_name: Annotated[str, typer.Option("--source-name", help="Stored source name.")] = "csv",
    ) -> None:  # fmt: skip
        """CSV files: Yahoo-style (one file per ticker), the WIKI layout, or a long format."""
        _run("csv", symbols=symbols, universe=universe, start=start, end=end,
             timeframe=timeframe, strict=strict, as_of=as_of, full=True, quiet=quiet,
             paths=[str(p) for p in paths], layout=layout, adjustment=adjustment,
             use_adj_close=use_adj_close, source_name=source_name)  # fmt: skip

    @ingest.command("synthetic")
    @_friendly
    def synthetic(
        symbols: Symbols = None, universe: Universe = None,
        start: Annotated[str | None, typer.Option(help="Default 2008-01-01.")] = "2008-01-01",
        end: Annotated[str | None, typer.Option(help="Default 2020-12-31.")] = "2020-12-31",
        timeframe: TimeframeOpt = "1Day", strict: Strict = False, as_of: AsOf = None,
        quiet: Quiet = False,
        model: Annotated[str, typer.Option(help="gbm|regime|bootstrap.")] = "regime",
        seed: Annotated[int, typer.Option(help="Market seed.")] = 0,
    ) -> None:  # fmt: skip
        """Synthetic DOW30-like daily bars (seeded; the embedded demo's default data)."""
        _run("synthetic", symbols=symbols, universe=universe, start=start, end=end,
             timeframe=timeframe, strict=strict, as_of=as_of, full=True, quiet=quiet,
             model=model, seed=seed)  # fmt: skip

    @ingest.command("universes")
    @_friendly
    def universes(
        path: Annotated[Path | None, typer.Option(help="Membership CSV or folder (default: shipped files).")] = None,
    ) -> None:  # fmt: skip
        """Load universe membership (DOW30, NASDAQ100, SP100, ...) into ref.universe_members."""
        from tradewind.ingest.universe_load import load_universe_members

        console.print(load_universe_members(None, path).line(), highlight=False, soft_wrap=True)

    @ingest.command("demo")
    @_friendly
    def demo() -> None:
        """What `make demo` loads: universes + synthetic DOW30-like bars 2008..2020."""
        from tradewind.ingest.pipeline import demo_ingest

        for result in demo_ingest():
            console.print(result.line(), highlight=False, soft_wrap=True)
