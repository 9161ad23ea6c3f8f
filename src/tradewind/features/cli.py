"""`tradewind features ...`: build the dbt feature warehouse, its docs, and the analysts' env."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

T = TypeVar("T")


def _one_line_errors(fn: Callable[[], T]) -> T:
    """Configuration and dbt failures as one line on stderr and exit code 1 (dbt's own log with
    the details has already streamed above)."""
    from tradewind.db import WarehouseError
    from tradewind.db.embedded import EmbeddedPostgresError

    try:
        return fn()
    except (WarehouseError, EmbeddedPostgresError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    features = typer.Typer(
        help="dbt feature warehouse (features.daily_features, features.forward_returns).",
        no_args_is_help=True,
    )

    @features.command("build")
    def build_cmd(
        full_refresh: Annotated[
            bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
        ] = False,
        select: Annotated[
            list[str] | None,
            typer.Option("--select", "-s", help="dbt node selection (repeatable)."),
        ] = None,
        no_plan: Annotated[
            bool,
            typer.Option(
                "--no-plan",
                help="Always start dbt: no replay of the recorded build plan, none recorded.",
            ),
        ] = False,
    ) -> None:
        """Run `dbt build` (seeds, models, tests) on the warehouse in use, streaming dbt's log.

        The daily incremental build replays dbt's recorded SQL plan while valid; --no-plan: dbt."""
        from tradewind.features.runner import build

        plan = False if no_plan else None  # None: the setting feature_build_plan decides
        result = _one_line_errors(
            lambda: build(full_refresh=full_refresh, select=select or None, plan=plan)
        )
        typer.echo(result.summary())

    @features.command("docs")
    def docs_cmd(
        serve: Annotated[
            bool, typer.Option("--serve", help="Serve the docs site after generating it.")
        ] = False,
        port: Annotated[int, typer.Option(help="Port for --serve (on 127.0.0.1).")] = 8080,
    ) -> None:
        """Generate the dbt docs site (dbt/target/index.html); --serve serves it on 127.0.0.1."""
        from tradewind.features.runner import docs_generate, run_dbt

        where = _one_line_errors(docs_generate)
        typer.echo(f"docs generated in {where}")
        if serve:
            typer.echo(f"serving on http://127.0.0.1:{port} (Ctrl-C to stop)")
            args = ["docs", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-browser"]
            _one_line_errors(lambda: run_dbt(args))

    @features.command("env")
    def env_cmd() -> None:
        """Shell exports for plain dbt: eval "$(tradewind features env)" && dbt build."""
        from tradewind.db import warehouse_url
        from tradewind.features.runner import dbt_env

        env = _one_line_errors(lambda: dbt_env(warehouse_url()))
        for key, value in env.items():
            typer.echo(f"export {key}={shlex.quote(value)}")

    app.add_typer(features, name="features")
