"""Errors of the ingestion pipeline. All are ``WarehouseError``s, so the CLI prints them as one
line; the classes let Airflow tasks and tests tell a rejected batch from a failed source."""

from __future__ import annotations

from tradewind.db import WarehouseError


class IngestError(WarehouseError):
    """Any ingestion failure the user must act on (bad arguments, missing keys, ...)."""


class SourceError(IngestError):
    """A source could not deliver data: HTTP errors after all retries, unreadable files."""


class BatchRejected(IngestError):
    """The batch is structurally broken (missing/mistyped columns, conflicting duplicates):
    nothing of it is loaded."""


class StrictModeError(IngestError):
    """Strict mode: at least one row was quarantined, so the run loads nothing."""


class QualityGateError(IngestError):
    """Great Expectations and the vectorised rules disagree: a bug, never a data problem."""
