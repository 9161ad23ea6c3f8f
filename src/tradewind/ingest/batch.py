"""What flows between the ingestion stages, and how it is handed over through files.

``extract`` returns a :class:`Batch` (bars exactly as the source delivered them, possibly with
unparsed strings, plus metadata); ``validate`` turns it into a :class:`ValidatedBatch` (typed
rows to load, quarantined rows with every reason, warnings); ``load`` returns a
:class:`LoadSummary`. Airflow tasks pass the first two as files (parquet) between workers.

Canonical bar columns: ``symbol``, the time column (``session``: naive midnight datetime of the
NYSE session date for daily bars; ``ts``: UTC instant of the bar's open for intraday bars),
``open high low close`` (quote currency), ``volume`` (shares, float because adjusted volumes are
fractional), and the optional ``vwap`` and ``trade_count`` (NaN when the source has none).
``origin_file``/``origin_line`` say where a CSV row came from, for quarantine messages.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradewind.ingest.timeframes import parse_timeframe

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume", "vwap", "trade_count")
REQUIRED_VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
ORIGIN_COLUMNS: tuple[str, ...] = ("origin_file", "origin_line")
ACTION_COLUMNS: tuple[str, ...] = ("symbol", "ex_date", "action", "value")
QUARANTINE_COLUMNS: tuple[str, ...] = ("row_id", "symbol", "bar_time", "reasons", "payload")
WARNING_COLUMNS: tuple[str, ...] = ("symbol", "bar_time", "kind", "detail")
_META_KEY = b"tradewind.batch"


def bar_columns(timeframe: str) -> list[str]:
    return ["symbol", parse_timeframe(timeframe).time_column, *VALUE_COLUMNS]


def empty_actions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "ex_date": pd.Series(dtype="datetime64[ns]"),
            "action": pd.Series(dtype=object),
            "value": pd.Series(dtype=float),
        }
    )


@dataclass
class BatchMeta:
    """Where a batch came from and what was asked for (never "now": runs are keyed on this)."""

    source: str
    timeframe: str = "1Day"
    adjustment: str = "raw"
    symbols: list[str] | None = None  # requested; None: whatever the source holds
    start: str | None = None  # ISO date or instant, inclusive
    end: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # Requested symbols the source returned nothing for, and other facts worth reporting.
    missing_symbols: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    pages: int = 0
    fetched: dict[str, list[list[str]]] = field(default_factory=dict)  # symbol -> [[from, to]]

    @property
    def storage_source(self) -> str:
        return parse_timeframe(self.timeframe).storage_source(self.source)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> BatchMeta:
        return cls(**json.loads(text))


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    # Object columns may mix str and float (unparsed CSV cells next to NaN): store them as text.
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].astype("string")
    return out


def _from_parquet(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if isinstance(df[col].dtype, pd.StringDtype):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


@dataclass
class Batch:
    """Bars as extracted (row order = input order; the index is the row id) plus metadata."""

    frame: pd.DataFrame
    meta: BatchMeta
    actions: pd.DataFrame = field(default_factory=empty_actions)

    def __post_init__(self) -> None:
        self.frame = self.frame.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.frame)

    def save(self, path: str | Path) -> Path:
        """One parquet file; metadata and corporate actions ride in its key-value metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(_parquet_safe(self.frame), preserve_index=False)
        actions = self.actions.assign(ex_date=self.actions["ex_date"].astype(str))
        payload = {"meta": json.loads(self.meta.to_json()), "actions": actions.to_dict("list")}
        md = dict(table.schema.metadata or {})
        md[_META_KEY] = json.dumps(payload, default=str).encode()
        pq.write_table(table.replace_schema_metadata(md), path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Batch:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        payload = json.loads(table.schema.metadata[_META_KEY])
        actions = pd.DataFrame(payload["actions"], columns=list(ACTION_COLUMNS))
        actions["ex_date"] = pd.to_datetime(actions["ex_date"])
        actions["value"] = actions["value"].astype(float)
        return cls(
            frame=_from_parquet(table.to_pandas()),
            meta=BatchMeta(**payload["meta"]),
            actions=actions if len(actions) else empty_actions(),
        )


@dataclass
class ValidatedBatch:
    """The quality gate's verdict on one batch.

    ``valid``: canonical typed rows that may be loaded. ``quarantined``: input rows refused, with
    ``reasons`` (list of text) and the original row as JSON ``payload``. ``warnings``: findings
    on loaded rows (``kind`` e.g. zero_volume, jump) or on the batch (missing symbol).
    ``rejection``: set when the batch is structurally broken; then nothing of it may be loaded.
    ``gate``: Great Expectations' result per expectation.
    """

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    warnings: pd.DataFrame
    actions: pd.DataFrame
    meta: BatchMeta
    as_of: str
    rows_in: int
    rejection: str | None = None
    gate: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejection is None

    def reason_counts(self) -> Counter:
        counts: Counter = Counter()
        for reasons in self.quarantined["reasons"]:
            counts.update(reasons)
        return counts

    def where(self, limit: int = 3) -> str:
        """Short 'where' of the quarantined rows: ``AAPL 2020-10-28, MSFT 2020-10-28 (+99)``."""
        q = self.quarantined
        shown = [
            f"{s} {t}" for s, t in zip(q["symbol"][:limit], q["bar_time"][:limit], strict=True)
        ]
        more = len(q) - len(shown)
        return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")

    def save(self, path: str | Path) -> Path:
        """A folder: valid/quarantined/warnings/actions as parquet, the rest as meta.json."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        _parquet_safe(self.valid).to_parquet(path / "valid.parquet", index=False)
        q = self.quarantined.assign(reasons=self.quarantined["reasons"].map(json.dumps))
        _parquet_safe(q).to_parquet(path / "quarantined.parquet", index=False)
        _parquet_safe(self.warnings).to_parquet(path / "warnings.parquet", index=False)
        _parquet_safe(self.actions).to_parquet(path / "actions.parquet", index=False)
        info = {
            "meta": json.loads(self.meta.to_json()),
            "as_of": self.as_of,
            "rows_in": self.rows_in,
            "rejection": self.rejection,
            "gate": self.gate,
            "seconds": self.seconds,
        }
        (path / "meta.json").write_text(json.dumps(info, indent=1, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ValidatedBatch:
        path = Path(path)
        info = json.loads((path / "meta.json").read_text())
        quarantined = _from_parquet(pd.read_parquet(path / "quarantined.parquet"))
        quarantined["reasons"] = quarantined["reasons"].map(json.loads)
        return cls(
            valid=_from_parquet(pd.read_parquet(path / "valid.parquet")),
            quarantined=quarantined,
            warnings=_from_parquet(pd.read_parquet(path / "warnings.parquet")),
            actions=_from_parquet(pd.read_parquet(path / "actions.parquet")),
            meta=BatchMeta(**info["meta"]),
            as_of=info["as_of"],
            rows_in=info["rows_in"],
            rejection=info["rejection"],
            gate=info["gate"],
            seconds=info.get("seconds", 0.0),
        )


@dataclass
class LoadSummary:
    """Outcome of one load (one run): what was new, updated, unchanged, quarantined, warned."""

    run_id: int | None
    source: str
    timeframe: str
    status: str  # succeeded | failed | rejected
    rows_in: int = 0
    rows_new: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_warned: int = 0
    actions_loaded: int = 0
    symbols: int = 0
    seconds: float = 0.0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantine_where: str = ""
    warning_kinds: dict[str, int] = field(default_factory=dict)
    message: str = ""
    notes: list[str] = field(default_factory=list)  # the batch's notes (skipped files, ...)

    @property
    def rows_loaded(self) -> int:
        return self.rows_new + self.rows_updated + self.rows_unchanged

    def line(self) -> str:
        """The one-line end-of-run summary (what was rejected, and where)."""
        head = (
            f"{self.source} {self.timeframe} run {self.run_id}: {self.status}; "
            f"{self.rows_in:,} rows in -> {self.rows_new:,} new, {self.rows_updated:,} updated, "
            f"{self.rows_unchanged:,} unchanged, {self.rows_quarantined:,} quarantined"
        )
        if self.quarantine_reasons:
            top = sorted(self.quarantine_reasons.items(), key=lambda kv: -kv[1])[:3]
            head += " (" + "; ".join(f"{n} x {r}" for r, n in top)
            head += f": {self.quarantine_where})" if self.quarantine_where else ")"
        head += f", {self.rows_warned:,} warnings"
        if self.warning_kinds:
            head += " (" + ", ".join(f"{k} {n}" for k, n in sorted(self.warning_kinds.items()))
            head += ")"
        if self.message and self.status != "succeeded":
            head += f"; {self.message}"
        return head + f"; {self.seconds:.1f}s"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
