"""The demo's last step: rebalance the simulated broker and print the resulting portfolio."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from tradewind import calendar as nyse
from tradewind.trading.errors import TradingError


def demo_rebalance(
    console: Console | None = None, *, db_url: str | None = None, model: str | None = None
) -> dict[str, Any]:
    """Rebalance the SimBroker for the latest session with targets whose next open is in the
    warehouse, fill at that open (reconcile), and print plan, reconciliation and portfolio."""
    from tradewind.db import connect
    from tradewind.trading import service
    from tradewind.trading.cli import (
        print_plan,
        print_portfolio,
        print_reconciliation,
        print_summary,
    )

    out = console or Console()
    with connect(db_url, autocommit=True) as conn:
        q = (
            "select t.as_of_session from signals.target_weights t where exists (select 1 from "
            "raw.bars_daily b where b.session > t.as_of_session)"
        )
        args: list[Any] = []
        if model:
            q += " and t.model_name = %s"
            args.append(model.partition("@")[0])
        row = conn.execute(q + " order by 1 desc limit 1", args).fetchone()
    if row is None:
        raise TradingError("no target weights with a following session in the warehouse")
    session = row[0]
    result = service.rebalance(session, "sim", model=model, db_url=db_url)
    print_plan(result, out)
    print_summary(result, out)
    rec = service.reconcile(session, "sim", db_url=db_url)
    print_reconciliation(rec, out)
    info = service.status("sim", db_url=db_url)
    t1 = nyse.next_session(session)
    title = f"simulated portfolio on {t1} (filled at the open, valued at the close)"
    print_portfolio(info, out, title=title)
    return {"session": session, "rebalance": result, "reconciliation": rec, "status": info}
