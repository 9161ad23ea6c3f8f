"""``python -m tradewind.emulator --port 8765 --symbols AAPL,MSFT --start 2015-01-02 --end 2015-03-31``"""

from __future__ import annotations

from collections.abc import Sequence

import typer

from tradewind.emulator.cli import serve_command


def main(argv: Sequence[str] | None = None) -> None:
    app = typer.Typer(add_completion=False)
    app.command()(serve_command)
    app(args=list(argv) if argv is not None else None, prog_name="python -m tradewind.emulator")


if __name__ == "__main__":
    main()
