"""Ingestion: Alpaca, Nasdaq Data Link (Quandl WIKI), CSV files and synthetic markets into the
raw bars tables, through a Great Expectations quality gate, with run logs and watermarks.

Staged API (Airflow): :func:`extract` -> :class:`Batch` -> :func:`validate` ->
:class:`ValidatedBatch` -> :func:`load` -> :class:`LoadSummary`; one call: :func:`run_ingest`;
the demo: :func:`demo_ingest`; universes: :func:`load_universe_members`.
"""

from tradewind.ingest.batch import Batch, BatchMeta, LoadSummary, ValidatedBatch
from tradewind.ingest.errors import (
    BatchRejected,
    IngestError,
    QualityGateError,
    SourceError,
    StrictModeError,
)
from tradewind.ingest.pipeline import (
    SOURCES,
    demo_ingest,
    extract,
    load,
    resolve_symbols,
    run_ingest,
    validate,
)
from tradewind.ingest.universe_load import load_universe_members

__all__ = [
    "SOURCES",
    "Batch",
    "BatchMeta",
    "BatchRejected",
    "IngestError",
    "LoadSummary",
    "QualityGateError",
    "SourceError",
    "StrictModeError",
    "ValidatedBatch",
    "demo_ingest",
    "extract",
    "load",
    "load_universe_members",
    "resolve_symbols",
    "run_ingest",
    "validate",
]
