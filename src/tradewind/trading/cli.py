"""``tradewind rebalance``, ``tradewind reconcile`` and ``tradewind broker status``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DateOpt = Annotated[str, typer.Option("--date", help="As-of session T (ISO); orders fill at T+1.")]
BrokerOpt = Annotated[str, typer.Option("--broker", help="sim (simulated) or alpaca (paper).")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="NAME or NAME@VERSION whose targets are traded.")
]


def print_plan(result, out: Console = console) -> None:
    plan = result.plan
    t = Table(
        "symbol", "price", "current qty", "current w", "target w", "order", "note",
        title=f"plan for {result.session} ({result.targets.model_name}@"
        f"{result.targets.model_version}, {result.broker} account {result.account_id})",
    )  # fmt: skip
    for ln in plan.lines:
        order = f"{ln.side} {ln.qty:g} {ln.time_in_force}" if ln.side else "-"
        t.add_row(
            ln.symbol, f"{ln.price:,.2f}", f"{ln.current_qty:g}", f"{ln.current_weight:.2%}",
            f"{ln.target_weight:.2%}", order, ln.note,
        )  # fmt: skip
    out.print(t)
    for note in plan.notes:
        out.print(f"[yellow]note:[/] {note}")


def print_summary(result, out: Console = console) -> None:
    plan = result.plan
    buys = sum(o.est_value for o in plan.orders if o.side == "buy")
    sells = sum(o.est_value for o in plan.orders if o.side == "sell")
    out.print(
        f"equity ${plan.equity:,.2f}, cash ${plan.cash:,.2f}; {len(plan.orders)} order(s): "
        f"buys ${buys:,.2f}, sells ${sells:,.2f}; turnover {plan.turnover:.2%}, expected cost "
        f"{plan.expected_cost:.4%}"
    )
    if result.dry_run:
        out.print("[bold]dry run[/]: nothing sent")
    else:
        out.print(
            f"run {result.run_id}: {result.sent} order(s) sent, {result.found} already at the "
            f"broker (not sent again), {len(result.errors)} refused"
        )
        for e in result.errors:
            out.print(f"[red]refused:[/] {e}")


def print_portfolio(info: dict, out: Console = console, title: str = "portfolio") -> None:
    acct = info["account"]
    t = Table("symbol", "qty", "price", "market value", "weight", title=title)
    for p in info["positions"]:
        mv = p.get("market_value") or 0.0
        t.add_row(
            p["symbol"], f"{p['qty']:g}", f"{(p.get('current_price') or 0):,.2f}", f"{mv:,.2f}",
            f"{mv / acct.equity:.2%}" if acct.equity else "-",
        )  # fmt: skip
    t.add_row(
        "cash",
        "",
        "",
        f"{acct.cash:,.2f}",
        f"{acct.cash / acct.equity:.2%}" if acct.equity else "-",
    )
    out.print(t)
    out.print(
        f"{info['broker']} account {acct.account_id}: equity ${acct.equity:,.2f}, cash "
        f"${acct.cash:,.2f}, buying power ${acct.buying_power:,.2f}"
    )


def print_reconciliation(rec, out: Console = console) -> None:
    r = rec.report
    t = Table(
        "symbol", "target w", "achieved w", "diff",
        title=f"reconciliation of {rec.session} after the open of {rec.fill_session} "
        f"({rec.broker} account {rec.account_id}, {r['model']})",
    )  # fmt: skip
    for ln in r["weights"]:
        t.add_row(
            ln["symbol"], f"{ln['target_weight']:.2%}", f"{ln['achieved_weight']:.2%}",
            f"{ln['difference']:+.2%}",
        )  # fmt: skip
    out.print(t)
    slips = [f["slippage_bps"] for f in r["fills"] if f["slippage_bps"] is not None]
    mean_slip = sum(slips) / len(slips) if slips else 0.0
    out.print(
        f"equity ${r['equity']:,.2f}, cash ${r['cash']:,.2f} ({(r['cash_weight'] or 0):.2%} vs "
        f"target {r['cash_target_weight']:.2%}); {len(r['fills'])} fill(s), mean slippage vs "
        f"the open {mean_slip:+.1f} bp, fees ${r['fees']:,.2f}; "
        f"{len(r['unfilled'])} order(s) not (fully) filled"
    )
    if r.get("picture"):
        out.print(f"target vs achieved weights: [bold]{r['picture']}[/]")
    for u in r["unfilled"]:
        out.print(
            f"[yellow]not filled:[/] {u['side']} {u['symbol']} {u['filled_qty']:g}/"
            f"{u['qty']:g} ({u['status']})"
        )


def register(app: typer.Typer) -> None:
    from tradewind.cli import friendly

    @app.command("rebalance")
    @friendly
    def rebalance_cmd(
        date: DateOpt,
        broker: BrokerOpt = "sim",
        model: ModelOpt = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Plan only; send nothing.")
        ] = False,
    ) -> None:
        """Trade the target weights of T: plan, risk checks, orders for the open of T+1."""
        from tradewind.trading.service import rebalance

        result = rebalance(
            date, broker, model=model, dry_run=dry_run,
            progress=lambda m: err_console.print(m, highlight=False),
        )  # fmt: skip
        print_plan(result)
        print_summary(result)
        if result.errors:
            raise typer.Exit(1)

    @app.command("reconcile")
    @friendly
    def reconcile_cmd(date: DateOpt, broker: BrokerOpt = "sim") -> None:
        """After the open of T+1: fills, positions, account snapshot and a report."""
        from tradewind.trading.service import reconcile

        print_reconciliation(reconcile(date, broker))

    broker_app = typer.Typer(help="The broker account (simulated or Alpaca).", no_args_is_help=True)
    app.add_typer(broker_app, name="broker")

    @broker_app.command("status")
    @friendly
    def status_cmd(broker: BrokerOpt = "sim") -> None:
        """Account, positions and open orders."""
        from tradewind.trading.service import status

        info = status(broker)
        print_portfolio(info)
        orders = info["open_orders"]
        if orders:
            t = Table("client order id", "symbol", "side", "qty", "status", title="open orders")
            for o in orders:
                t.add_row(o.client_order_id, o.symbol, o.side, f"{o.qty or 0:g}", o.status)
            console.print(t)
        else:
            console.print("no open orders")
