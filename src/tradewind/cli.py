"""`tradewind` command line: warehouse, ingestion, features, training, signals, rebalancing.

Every command resolves the warehouse the same way (``DATABASE_URL`` or the embedded server) and
turns configuration problems into one clear line on stderr with exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

# Subcommands that live in their own modules, and the top-level names each registers. The
# modules import pandas, gymnasium, Ray... (seconds of start-up), so a run imports only the module
# of the command it calls; `tradewind --help` or a name not listed here imports them all. The
# commands themselves (names, options, help) are defined only in their modules: this table
# decides what to import, never what a command is (tests/features/test_cli_lazy_registration.py
# checks it matches).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "tradewind.ingest.cli": ("ingest",),
    "tradewind.features.cli": ("features",),
    "tradewind.training.cli": ("train", "tune", "runs"),
    "tradewind.registry.cli": ("models", "evaluate"),
    "tradewind.signals.cli": ("signals",),
    "tradewind.trading.cli": ("rebalance", "reconcile", "broker"),
    "tradewind.dashboard.cli": ("dashboard",),
    "tradewind.emulator.cli": ("emulator",),
}


def module_commands(module: str) -> dict[str, click.Command] | None:
    """The click commands `module.register` defines, by name (None when the module is absent)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    scratch = typer.Typer()

    # A callback keeps typer from collapsing a single registered command into the app itself.
    @scratch.callback()
    def _group() -> None:
        pass

    mod.register(scratch)
    return dict(typer.main.get_command(scratch).commands)  # type: ignore[attr-defined]


class _LazyCommands(TyperGroup):
    """The root group: loads a command module the first time one of its names is needed."""

    _loaded: set[str]

    def _load(self, modules) -> None:
        loaded = self.__dict__.setdefault("_loaded", set())
        for module in modules:
            if module in loaded:
                continue
            loaded.add(module)
            for name, cmd in (module_commands(module) or {}).items():
                self.add_command(cmd, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            owners = [m for m, names in COMMAND_MODULES.items() if cmd_name in names]
            self._load(owners or COMMAND_MODULES)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load(COMMAND_MODULES)
        names = super().list_commands(ctx)
        # Typer lists an app's single commands before its groups: the order of an eager build.
        return sorted(names, key=lambda n: isinstance(self.commands[n], TyperGroup))


app = typer.Typer(
    help="tradewind: daily batch deep-RL portfolio system for US equities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyCommands,
)
db_app = typer.Typer(help="The PostgreSQL/TimescaleDB warehouse.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _user_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from tradewind.db import WarehouseError
    from tradewind.db.embedded import EmbeddedPostgresError

    errors: list[type[BaseException]] = [WarehouseError, EmbeddedPostgresError, ValidationError]
    try:
        from tradewind.errors import UserFacingError

        errors.append(UserFacingError)
    except ImportError:
        pass
    return tuple(errors)


def friendly(fn: Callable) -> Callable:
    """Report expected failures as one line instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _user_errors() as exc:
            msg = str(exc).strip()
            if exc.__class__.__name__ == "ValidationError":
                first = exc.errors()[0]  # type: ignore[attr-defined]
                loc = ".".join(str(x) for x in first.get("loc", ()))
                msg = f"invalid setting {loc}: {first.get('msg')}"
            err_console.print(
                f"[bold red]error:[/] {msg.splitlines()[0] if msg else type(exc).__name__}",
                soft_wrap=True,
                highlight=False,
                markup=True,
            )
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    # Third-party libraries are chatty at INFO; users see warnings from them and our INFO lines.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("tradewind").setLevel(logging.DEBUG if verbose else logging.INFO)


def _settings():
    from tradewind.settings import get_settings

    return get_settings()


# --- db ------------------------------------------------------------------------------------
@db_app.command("up")
@friendly
def db_up() -> None:
    """Start the embedded PostgreSQL (no-op with DATABASE_URL) and apply migrations."""
    s = _settings()
    if s.embedded:
        from tradewind.db.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(s)
        created = server.init()
        st = server.start()
        console.print(
            f"embedded PostgreSQL {'created and ' if created else ''}running: "
            f"pid {st.pid}, 127.0.0.1:{st.port}, data {st.data_dir}"
        )
    _migrate_and_report()


@db_app.command("down")
@friendly
def db_down() -> None:
    """Stop the embedded PostgreSQL cleanly (data is kept)."""
    s = _settings()
    if not s.embedded:
        console.print("DATABASE_URL is set: the server is not ours to stop.")
        return
    from tradewind.db.embedded import EmbeddedPostgres

    stopped = EmbeddedPostgres(s).stop()
    console.print(
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running"
    )


@db_app.command("url")
@friendly
def db_url(
    show_password: Annotated[bool, typer.Option(help="Print the password too.")] = False,
) -> None:
    """Print the DSN of the warehouse in use (starting the embedded server if needed)."""
    from tradewind.db import redact, warehouse_url

    url = warehouse_url(_settings())
    print(url if show_password else redact(url))


@db_app.command("migrate")
@friendly
def db_migrate() -> None:
    """Apply pending migrations from sql/ (idempotent)."""
    _migrate_and_report()


def migrate_summary() -> str:
    """Apply pending migrations; one line saying what happened."""
    from tradewind.db import warehouse_url
    from tradewind.db.migrate import migrate

    s = _settings()
    report = migrate(warehouse_url(s), s.sql_dir, s.use_timescale)
    mode = "TimescaleDB" if report.timescale else "plain PostgreSQL (TimescaleDB not available)"
    if report.applied:
        return f"applied {len(report.applied)} migration(s) on {mode}: {', '.join(report.applied)}"
    return f"schema up to date on {mode}: nothing to apply ({report.already} applied earlier)"


def _migrate_and_report() -> None:
    console.print(migrate_summary())


@db_app.command("status")
@friendly
def db_status() -> None:
    """Server, migrations and tables at a glance."""
    print_health()


def print_health() -> dict:
    from tradewind.db import redact, warehouse_url
    from tradewind.db.migrate import schema_status

    s = _settings()
    url = warehouse_url(s)
    st = schema_status(url, s.sql_dir)
    console.print(f"[bold]warehouse[/] {redact(url)}  (PostgreSQL {st['server_version']})")
    console.print(
        f"TimescaleDB: {st['timescaledb'] or 'not installed (plain tables)'}"
        + (f"; hypertables: {', '.join(st['hypertables'])}" if st["hypertables"] else "")
    )
    state = "[green]up to date[/]" if st["up_to_date"] else "[yellow]needs migrate[/]"
    console.print(
        f"schema: {state}; {st['applied']} migration(s) applied, {len(st['pending'])} pending"
    )
    if st["changed"]:
        console.print(f"[red]changed after apply:[/] {', '.join(st['changed'])}")
    table = Table("schema", "relation", "kind", "rows (est.)", title="warehouse relations")
    for t in st["tables"]:
        table.add_row(t["schema"], t["name"], t["kind"], f"{t['rows']:,}")
    console.print(table)
    return st


# --- demo ----------------------------------------------------------------------------------
@app.command("demo")
@friendly
def demo(
    csv: Annotated[
        str | None,
        typer.Option(
            help="Real daily bars (CSV file, folder or glob) instead of the synthetic market."
        ),
    ] = None,
) -> None:
    """The main job end to end: warehouse, ingest, features, train, evaluate and gate, signals,
    simulated rebalance. A second run reuses what is there."""
    from tradewind.demo import run_demo

    t0 = time.monotonic()
    console.rule("[bold]tradewind demo")
    report = run_demo(console, csv=csv)
    print_demo_summary(report, time.monotonic() - t0)


def print_demo_summary(report, total_s: float) -> None:
    """What ran and how long, the agent against 1/N, where the outputs are."""
    from tradewind.settings import get_settings

    console.rule("[bold]summary")
    table = Table("step", "seconds", "result", title="what ran")
    for name, secs, summary in report.steps:
        table.add_row(name, f"{secs:.1f}", summary)
    console.print(table)
    versus = Table("window", "policy", "Sharpe", "annual return", "max drawdown", "turnover",
                   title=f"{report.model_ref} against 1/N (net of costs)")  # fmt: skip
    for window in ("validation", "test"):
        for policy, m in report.metrics.get(window, {}).items():
            m = m or {}

            def f(key: str, fmt: str, m=m) -> str:
                v = m.get(key)
                return "n/a" if v is None else format(v, fmt)

            versus.add_row(window, policy, f("sharpe_ratio", ".2f"), f("annual_return", "+.1%"),
                           f("max_drawdown", ".1%"), f("turnover", ".3f"))  # fmt: skip
    console.print(versus)
    gate = (
        "promoted to production"
        if report.gate == "promoted"
        else f"not promoted: {report.gate_reason}"
    )
    console.print(f"gate: {gate}", highlight=False)
    console.print(
        f"training run: {report.run_id} ({'trained now' if report.trained else 'reused'})"
    )
    for window, uri in report.report_uris.items():
        if uri:
            console.print(f"{window} report: [bold]{uri}[/]", highlight=False)
    console.print(f"weight files: [bold]{report.weights_dir}/{report.model_ref.partition('@')[0]}/[/]"
                  f" (newest: weights_{report.signals_session}.csv)", highlight=False)  # fmt: skip
    if report.equity is not None:
        console.print(f"simulated account after the open following {report.rebalance_session}: "
                      f"equity {report.equity:,.2f}", highlight=False)  # fmt: skip
    s = get_settings()
    console.print(f"dashboard: [bold]tradewind dashboard[/] then http://{s.dashboard_host}:{s.dashboard_port}/",
                  highlight=False)  # fmt: skip
    console.rule(f"demo finished in {total_s:.1f}s")
