"""``python -m tradewind.emulator --port 8765 --symbols AAPL,MSFT --start 2015-01-02 --end 2015-03-31``"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tradewind.emulator.dataset import make_dataset
from tradewind.emulator.server import serve


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m tradewind.emulator",
        description="Serve a generated dataset as Alpaca (data + paper trading) and Nasdaq "
        "Data Link WIKI/PRICES on a loopback port.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--symbols", default="AAPL,MSFT")
    p.add_argument("--start", default="2015-01-02")
    p.add_argument("--end", default="2015-03-31")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--minute-sessions",
        type=int,
        default=2,
        help="how many final sessions get minute bars (0 = none)",
    )
    p.add_argument("--no-actions", action="store_true", help="no dividends or splits")
    p.add_argument("--page-cap", type=int, default=10_000, help="max bars per Alpaca page")
    p.add_argument("--ndl-page-size", type=int, default=100, help="default WIKI rows per page")
    p.add_argument("--now", default=None, help="fixed emulator time (naive = New York)")
    args = p.parse_args(argv)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    dataset = make_dataset(
        symbols,
        args.start,
        args.end,
        seed=args.seed,
        minute=args.minute_sessions > 0,
        minute_sessions=args.minute_sessions,
        actions=not args.no_actions,
    )
    serve(
        args.host,
        args.port,
        dataset,
        page_cap=args.page_cap,
        ndl_page_size=args.ndl_page_size,
        now=args.now,
    )


if __name__ == "__main__":
    main()
