"""The main job end to end on embedded defaults (``make demo`` / ``tradewind demo``).

Steps, each idempotent so a second run changes nothing in the warehouse:
1. warehouse: the embedded PostgreSQL (or ``DATABASE_URL``), migrations applied;
2. ingest: universes and synthetic DOW30-like daily bars 2008–2020 through the quality gate;
3. features: ``dbt build`` of the feature marts;
4. evaluate: the baseline policies run through the trading environment on the out-of-sample
   window, read from the feature marts; a summary table and an equity-curve picture.
Later stages (training, weight files, rebalancing) plug in after step 4.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

DEMO_UNIVERSE = "DOW30"


@dataclass
class DemoReport:
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    picture: Path | None = None

    def step(self, console: Console, name: str, fn: Callable[[], str]) -> None:
        console.rule(f"[bold]{len(self.steps) + 1}. {name}")
        t0 = time.monotonic()
        summary = fn()
        elapsed = time.monotonic() - t0
        self.steps.append((name, elapsed, summary))
        console.print(f"[green]✓[/] {name}: {summary} [dim]({elapsed:.1f}s)[/]")


def evaluate_baselines(url: str, out_dir: Path, console: Console) -> tuple[str, Path]:
    """Run the baselines over the out-of-sample window from the warehouse's feature marts."""
    from rich.table import Table

    from tradewind.markets.synthetic import DOW30_2020
    from tradewind.rl.baselines import (
        BuyAndHold,
        EqualWeight,
        MinimumVariance,
        Momentum,
        run_policy,
    )
    from tradewind.rl.data import OUT_OF_SAMPLE, load_market_data
    from tradewind.rl.env import EnvConfig, PortfolioEnv
    from tradewind.rl.evaluate import plot_backtest, summary_table

    window = 32
    data = load_market_data(
        url, list(DOW30_2020), OUT_OF_SAMPLE[0], OUT_OF_SAMPLE[1], warmup_sessions=window + 60
    )
    config = EnvConfig(
        window=window,
        session_range="out_of_sample",
        random_start=False,
        episode_length=None,
        action_kind="weights",
        fixed_bps=10.0,
    )
    env = PortfolioEnv(data, config)
    policies = {
        "1/N": EqualWeight(),
        "buy & hold": BuyAndHold(),
        "min variance": MinimumVariance(),
        "momentum": Momentum(),
    }
    records = {name: run_policy(env, p) for name, p in policies.items()}
    table = summary_table(records)
    shown = Table(
        "policy", "CAGR", "vol", "Sharpe", "max DD", "turnover/day", title="out-of-sample"
    )
    for name, row in table.iterrows():
        shown.add_row(
            str(name),
            f"{row.cagr:+.1%}",
            f"{row.volatility:.1%}",
            f"{row.sharpe:.2f}",
            f"{row.max_drawdown:.1%}",
            f"{row.mean_turnover:.3f}",
        )
    console.print(shown)
    first, last = records["1/N"].index[[0, -1]]
    picture = plot_backtest(
        records,
        out_dir / "demo_baselines.png",
        title=f"Baselines on synthetic DOW30-like market, {first:%Y-%m-%d}..{last:%Y-%m-%d}",
        weights_of="momentum",
    )
    best = table["sharpe"].idxmax()
    return (
        f"{len(records)} baselines over {len(records['1/N'])} sessions; best Sharpe: {best}",
        picture,
    )


def run_demo(console: Console) -> DemoReport:
    from tradewind.cli import migrate_summary
    from tradewind.db import redact, warehouse_url
    from tradewind.settings import get_settings

    settings = get_settings()
    report = DemoReport()
    state: dict = {}

    def warehouse() -> str:
        state["url"] = warehouse_url(settings)
        return f"{redact(state['url'])}; {migrate_summary()}"

    def ingest() -> str:
        from tradewind.ingest.pipeline import demo_ingest

        results = demo_ingest(state["url"])
        for r in results:
            console.print(f"  {r.line()}")
        universes, bars = results
        return f"{bars.rows_in:,} bars checked, {bars.rows_new:,} new, {bars.rows_quarantined:,} quarantined"

    def features() -> str:
        from tradewind.features import build

        return build(url=state["url"]).summary()

    def evaluate() -> str:
        summary, report.picture = evaluate_baselines(
            state["url"], settings.home / "reports", console
        )
        return f"{summary}; picture: {report.picture}"

    report.step(console, "warehouse", warehouse)
    report.step(console, "ingest", ingest)
    report.step(console, "features", features)
    report.step(console, "evaluate", evaluate)
    return report
