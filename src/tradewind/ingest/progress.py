"""Progress reporting from sources to whoever shows it (the CLI draws rich bars; Airflow and
tests pass nothing). Sources call ``task(...)`` once per unit of work (a request group, a
file set) and ``advance`` per page, symbol or file."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def task(self, description: str, total: int | None = None) -> int: ...

    def advance(self, task: int, n: int = 1, total: int | None = None) -> None: ...


class NullProgress:
    def task(self, description: str, total: int | None = None) -> int:
        return 0

    def advance(self, task: int, n: int = 1, total: int | None = None) -> None:
        return None


class RichProgress:
    """rich progress bars on stderr, one per task; use as a context manager."""

    def __init__(self, transient: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=transient,
        )

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def task(self, description: str, total: int | None = None) -> int:
        return int(self._progress.add_task(description, total=total))

    def advance(self, task: int, n: int = 1, total: int | None = None) -> None:
        if total is not None:
            self._progress.update(task, total=total)
        self._progress.advance(task, n)
