"""``tradewind signals generate --date T | --start A --end B [--model NAME[@V]]`` and
``tradewind signals show --date T [--model NAME]``.

Progress goes to stderr as each model or ensemble starts and ends; a summary table closes the
run. A refusal is one line (``error: ...``) and exit code 1, with nothing written.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from tradewind.cli import friendly

    signals = typer.Typer(
        help="Daily target weights: signals.target_weights and the weight files.",
        no_args_is_help=True,
    )
    app.add_typer(signals, name="signals")

    @signals.command("generate")
    @friendly
    def generate_cmd(
        date: Annotated[str | None, typer.Option(help="As-of session T (ISO).")] = None,
        start: Annotated[str | None, typer.Option(help="First session of a backfill.")] = None,
        end: Annotated[str | None, typer.Option(help="Last session of a backfill.")] = None,
        model: Annotated[
            str | None,
            typer.Option(
                help="NAME (its production version), NAME@V, or an ensemble's name. "
                "Default: every production model and every ensemble."
            ),
        ] = None,  # fmt: skip
        weights_dir: Annotated[
            str | None,
            typer.Option(help="Folder or fsspec URL (default: TRADEWIND_WEIGHTS_DIR)."),
        ] = None,
        replace: Annotated[
            bool, typer.Option(help="Allow overwriting published files whose weights differ.")
        ] = False,
    ) -> None:
        """Weights for T from the features up to T (a range: one batched pass)."""
        from tradewind.signals.generate import generate

        try:
            results = generate(
                date=date, start=start, end=end, model=model, weights_dir=weights_dir,
                replace=replace,
                on_progress=lambda line: err_console.print(f"[dim]…[/] {line}", highlight=False),
            )  # fmt: skip
        except ValueError as exc:  # SignalRefused, InvalidWeights, EnsembleError, bad dates
            _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return
        table = Table("model", "version", "sessions", "status", "rows changed", "seconds",
                      "reported", title="signals")  # fmt: skip
        for r in results:
            span = (
                str(r.sessions[0])
                if len(r.sessions) == 1
                else f"{r.sessions[0]}..{r.sessions[-1]} ({len(r.sessions)})"
            )
            notes = sorted({k for n in r.reported for k in n if k != "members"})
            table.add_row(
                r.model, "" if r.version is None else str(r.version), span, r.status,
                str(r.rows_changed), f"{r.elapsed_s:.2f}",
                r.message if r.status == "refused" else ", ".join(notes),
            )  # fmt: skip
        console.print(table)
        refused = [r for r in results if r.status == "refused"]
        for r in results:
            for note in r.reported[-1:]:
                for key in ("not_members", "new_members"):
                    if note.get(key):
                        err_console.print(f"{r.model}: {key.replace('_', ' ')}: "
                                          f"{', '.join(note[key])}", highlight=False)  # fmt: skip
        if refused:
            _fail(f"{len(refused)} of {len(results)} refused: {refused[0].line()}")

    @signals.command("show")
    @friendly
    def show_cmd(
        date: Annotated[str, typer.Option(help="As-of session T (ISO).")],
        model: Annotated[str | None, typer.Option(help="Only this model (NAME or NAME@V).")] = None,
    ) -> None:
        """The target weights stored for T, one column per model version, cash last."""
        from tradewind.calendar import to_date
        from tradewind.db import connect
        from tradewind.signals.ensembles import parse_model_ref

        try:
            day = to_date(date)
            name, version = parse_model_ref(model) if model else (None, None)
        except ValueError as exc:
            _fail(str(exc).strip().splitlines()[0])
            return
        with connect() as conn:
            rows = conn.execute(
                """
                select model_name, model_version, symbol, weight from signals.target_weights
                where as_of_session = %(d)s and (%(n)s::text is null or model_name = %(n)s)
                  and (%(v)s::int is null or model_version = %(v)s)
                order by model_name, model_version, symbol
                """,
                {"d": day, "n": name, "v": version},
            ).fetchall()
            runs = conn.execute(
                """
                select distinct on (model_name, model_version) model_name, model_version,
                       status, generated_at, file_uri
                from signals.generations where as_of_session = %s
                order by model_name, model_version, generated_at desc
                """,
                [day],
            ).fetchall()
        if not rows:
            _fail(f"no target weights stored for {day}" + (f" for {model}" if model else ""))
        keys = sorted({(m, v) for m, v, _, _ in rows})
        symbols = sorted({s for _, _, s, _ in rows})
        cell = {(m, v, s): w for m, v, s, w in rows}
        table = Table("symbol", *[f"{m}@{v}" for m, v in keys], title=f"target weights {day}")
        for s in symbols:
            table.add_row(s, *[
                f"{cell[(m, v, s)]:.4f}" if (m, v, s) in cell else "" for m, v in keys
            ])  # fmt: skip
        table.add_row(
            "cash",
            *[f"{1 - sum(w for (mm, vv, _), w in cell.items() if (mm, vv) == k):.4f}"
              for k in keys],
        )  # fmt: skip
        console.print(table)
        for m, v, status, at, uri in runs:
            console.print(f"{m}@{v}: {status} at {at:%Y-%m-%d %H:%M:%S %Z}; file {uri or '-'}")
