"""Bars from CSV files people already have.

Layouts (``layout="auto"`` tells them apart by the header):

- ``yahoo``: one file per ticker named ``<TICKER>.csv``, columns ``Date, Open, High, Low, Close,
  Volume`` and usually ``Adj Close``, in any order (the shared S&P 100 set has
  ``Date,High,Low,Open,Close,Volume,Adj Close``): columns are found by name, never position.
  Yahoo's OHLC are split-adjusted, so the adjustment is recorded as ``split``; with
  ``use_adj_close=True`` OHLC are scaled by ``Adj Close / Close`` (volume divided by it) and the
  adjustment is ``all``.
- ``wiki``: the Quandl WIKI prices bulk file (``ticker,date,open,...,ex-dividend,split_ratio,
  adj_open,...,adj_volume``), with or without its header, plain or zipped. ``adjustment="all"``
  (default) takes the ``adj_*`` columns, ``raw`` the unadjusted ones. Dividends and splits
  become corporate actions.
- ``long``: one row per (symbol, time) with columns ``symbol`` (or ``ticker``), a time column
  (``date``/``session`` for daily bars; ``timestamp``/``ts``/``time``/``datetime`` for
  intraday), ``open, high, low, close, volume`` and optionally ``vwap``, ``trade_count``.

Files with none of these layouts (a list of tickers, an industry map next to the bar files) are
skipped and named in the batch notes; ``strict=True`` refuses them instead. Symbols with a caret
(``^DJI.csv``, ``^GSPC``) are index series: they load like any bars and are registered in
``ref.benchmarks``, so features exist for them, but no universe may include them (a trigger on
``ref.universe_members`` refuses it).

Values are passed on as read (a ``null`` or ``abc`` cell stays text): the quality gate decides.
Rows of symbols not asked for, or outside ``start``..``end``, are skipped and counted in the
batch notes (that is the request, not a silent drop).
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.ingest.batch import ACTION_COLUMNS, Batch, BatchMeta, empty_actions
from tradewind.ingest.errors import SourceError
from tradewind.ingest.progress import NullProgress, ProgressSink
from tradewind.ingest.timeframes import parse_timeframe

WIKI_COLUMNS = [
    "ticker", "date", "open", "high", "low", "close", "volume", "ex-dividend", "split_ratio",
    "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume",
]  # fmt: skip
_TIME_NAMES_DAILY = ("date", "session", "day", "timestamp", "datetime", "time", "ts")
_TIME_NAMES_INTRADAY = ("timestamp", "ts", "datetime", "time", "date")
_SYMBOL_NAMES = ("symbol", "ticker")
_COUNT_NAMES = ("trade_count", "trades", "n", "count")


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files from file paths, folders (every ``*.csv``/``*.csv.gz``/``*.zip`` inside) and globs."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            found = [f for f in sorted(p.iterdir()) if f.is_file() and _is_data_file(f)]
        elif any(ch in str(item) for ch in "*?["):
            found = [Path(f) for f in sorted(glob.glob(str(p)))]
        elif p.is_file():
            found = [p]
        else:
            raise SourceError(f"csv: no such file or folder: {p}")
        if not found:
            raise SourceError(f"csv: no CSV files in {p}")
        out.extend(found)
    return out


def _is_data_file(p: Path) -> bool:
    name = p.name.lower()
    return name.endswith((".csv", ".csv.gz", ".zip", ".txt"))


def _ticker_from_name(p: Path) -> str:
    name = p.name
    for suffix in (".csv.gz", ".csv", ".zip", ".txt", ".gz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.strip().upper()


def _header(p: Path) -> list[str]:
    try:
        if p.name.lower().endswith((".csv", ".txt")):
            # Plain files: the first line is enough (pandas per file costs ~2 ms).
            with p.open(encoding="utf-8-sig", newline="") as fh:
                return [c.strip().strip('"') for c in next(csv.reader([fh.readline()]), [])]
        head = pd.read_csv(p, nrows=0, header=0)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "unreadable"
        raise SourceError(f"csv: cannot read {p}: {exc}") from None
    return [str(c).strip() for c in head.columns]


def sniff_layout(p: Path) -> str | None:
    """The bar layout of a file from its header, or None when it holds no bars (a ticker list,
    an industry map, notes) or cannot be read."""
    try:
        cols = {c.lower() for c in _header(p)}
    except SourceError:
        return None
    ohlc = {"open", "high", "low", "close"}
    if {"ticker", "ex-dividend", "split_ratio"} <= cols:
        return "wiki"
    if len(cols) == 14 and not cols & {"date", "ticker", "open"}:
        return "wiki"  # the headerless bulk file: first row is data
    if cols & set(_SYMBOL_NAMES) and ohlc <= cols and cols & set(_TIME_NAMES_DAILY):
        return "long"
    if "date" in cols and ohlc <= cols:
        return "yahoo"
    return None


def detect_layout(p: Path) -> str:
    kind = sniff_layout(p)
    if kind is None:
        raise SourceError(
            f"csv: cannot tell the layout of {p.name} from its header {sorted(_header(p))}; "
            "pass layout='yahoo' | 'wiki' | 'long'"
        )
    return kind


def is_benchmark_symbol(symbol: str) -> bool:
    """Index series such as ``^DJI`` or ``^GSPC`` (Yahoo's caret names): loaded as benchmark
    series (``ref.benchmarks``), never members of a universe."""
    return str(symbol).startswith("^")


def _by_name(frame: pd.DataFrame) -> dict[str, str]:
    """lower-case, space/dot-insensitive name -> actual column name."""
    return {str(c).strip().lower().replace(" ", "_").replace(".", ""): c for c in frame.columns}


def _pick(names: dict[str, str], candidates: Iterable[str]) -> str | None:
    for c in candidates:
        if c in names:
            return names[c]
    return None


def _read_yahoo(p: Path, use_adj_close: bool) -> dict[str, Any]:
    """One ticker file as columns (numpy arrays or Series), concatenated once for all files."""
    raw = pd.read_csv(p)
    names = _by_name(raw)
    out: dict[str, Any] = {}
    if "date" in names:
        out["session"] = raw[names["date"]]
    for c in ("open", "high", "low", "close", "volume"):
        # A missing column stays missing: the gate rejects the batch and names it.
        if c in names:
            out[c] = raw[names[c]]
    if "adj_close" in names:
        out["adj_close"] = raw[names["adj_close"]]
    if use_adj_close:
        if "adj_close" not in names:
            raise SourceError(f"csv: {p.name} has no 'Adj Close' column to adjust with")
        close = pd.to_numeric(raw[names["close"]], errors="coerce")
        factor = pd.to_numeric(raw[names["adj_close"]], errors="coerce") / close
        for c in ("open", "high", "low", "close"):
            out[c] = pd.to_numeric(out[c], errors="coerce") * factor
        out["volume"] = pd.to_numeric(out["volume"], errors="coerce") / factor
    out["origin_line"] = np.arange(2, len(raw) + 2, dtype=np.int64)
    return {"n": len(raw), "symbol": _ticker_from_name(p), "file": p.name, "columns": out}


def _concat_yahoo(parts: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-file columns -> one frame; a column missing from any file stays missing."""
    if not parts:
        return pd.DataFrame()
    lengths = [p["n"] for p in parts]
    cols: dict[str, Any] = {
        "symbol": np.repeat(np.array([p["symbol"] for p in parts], dtype=object), lengths)
    }
    names = [c for c in parts[0]["columns"] if all(c in p["columns"] for p in parts)]
    for c in names:
        values = [p["columns"][c] for p in parts]
        if all(isinstance(v, pd.Series) and pd.api.types.is_numeric_dtype(v) for v in values):
            cols[c] = np.concatenate([v.to_numpy(dtype=float) for v in values])
        elif all(isinstance(v, np.ndarray) for v in values):
            cols[c] = np.concatenate(values)
        else:
            cols[c] = pd.concat(values, ignore_index=True)
    if "session" in cols:
        cols["session"] = _fast_dates(pd.Series(cols["session"]))
    cols["origin_file"] = np.repeat(np.array([p["file"] for p in parts], dtype=object), lengths)
    order = ["symbol", "session", "open", "high", "low", "close", "volume", "adj_close",
             "origin_file", "origin_line"]  # fmt: skip
    return pd.DataFrame({c: cols[c] for c in order if c in cols})


def _fast_dates(col: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` text as datetimes when every cell parses; else the text unchanged, so
    the quality gate can quote the cells that do not."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    parsed = pd.to_datetime(col, format="%Y-%m-%d", errors="coerce")
    if parsed.isna().sum() == col.isna().sum():
        return parsed
    return col


def _read_wiki(
    p: Path, adjustment: str, symbols: set[str] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    has_header = "ticker" in {c.lower() for c in _header(p)}
    reader = pd.read_csv(
        p, header=0 if has_header else None, names=None if has_header else WIKI_COLUMNS,
        chunksize=2_000_000,
    )  # fmt: skip
    parts, line0 = [], 2 if has_header else 1
    for chunk in reader:
        chunk.columns = [str(c).strip().lower() for c in chunk.columns]
        chunk["origin_line"] = np.arange(line0, line0 + len(chunk), dtype=np.int64)
        line0 += len(chunk)
        if symbols is not None:
            chunk = chunk[chunk["ticker"].astype(str).str.upper().isin(symbols)]
        parts.append(chunk)
    raw = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=WIKI_COLUMNS)
    return wiki_frame(raw, adjustment, origin=p.name)


def wiki_frame(
    raw: pd.DataFrame, adjustment: str, origin: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """WIKI/PRICES rows (file or API) -> (canonical bars, corporate actions)."""
    prefix = "adj_" if adjustment != "raw" else ""
    out = pd.DataFrame(index=raw.index)
    out["symbol"] = raw["ticker"].astype(str).str.upper() if "ticker" in raw else None
    out["session"] = _fast_dates(raw["date"]) if "date" in raw else None
    for c in ("open", "high", "low", "close", "volume"):
        if prefix + c in raw:
            out[c] = raw[prefix + c]
    if origin is not None:
        out["origin_file"] = origin
        if "origin_line" in raw:
            out["origin_line"] = raw["origin_line"]
    return out, wiki_actions(raw)


def wiki_actions(raw: pd.DataFrame) -> pd.DataFrame:
    """``ex-dividend != 0`` -> cash_dividend (per share), ``split_ratio != 1`` -> split."""
    if raw.empty or "ticker" not in raw or "date" not in raw:
        return empty_actions()
    parts = []
    for col, action, neutral in (
        ("ex-dividend", "cash_dividend", 0.0),
        ("split_ratio", "split", 1.0),
    ):
        if col not in raw:
            continue
        v = pd.to_numeric(raw[col], errors="coerce")
        hit = v.notna() & (v != neutral)
        if hit.any():
            parts.append(pd.DataFrame({
                "symbol": raw.loc[hit, "ticker"].astype(str).str.upper().to_numpy(),
                "ex_date": pd.to_datetime(raw.loc[hit, "date"], errors="coerce").to_numpy(),
                "action": action,
                "value": v[hit].to_numpy(),
            }))  # fmt: skip
    if not parts:
        return empty_actions()
    return pd.concat(parts, ignore_index=True)[list(ACTION_COLUMNS)]


def _read_long(p: Path, intraday: bool) -> pd.DataFrame:
    raw = pd.read_csv(p)
    names = _by_name(raw)
    out = pd.DataFrame(index=raw.index)
    sym = _pick(names, _SYMBOL_NAMES)
    tcol = _pick(names, _TIME_NAMES_INTRADAY if intraday else _TIME_NAMES_DAILY)
    out["symbol"] = raw[sym] if sym else None
    if tcol is not None:
        out["ts" if intraday else "session"] = raw[tcol]
    for c in ("open", "high", "low", "close", "volume", "vwap"):
        if c in names:
            out[c] = raw[names[c]]
    count = _pick(names, _COUNT_NAMES)
    if count is not None:
        out["trade_count"] = raw[count]
    out["origin_file"] = p.name
    out["origin_line"] = np.arange(2, len(raw) + 2, dtype=np.int64)
    return out


def extract_csv(
    paths: str | Path | Iterable[str | Path],
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    timeframe: str = "1Day",
    *,
    layout: str = "auto",
    adjustment: str | None = None,
    use_adj_close: bool = False,
    source_name: str = "csv",
    progress: ProgressSink | None = None,
    strict: bool = False,
) -> Batch:
    """Read CSV files into one batch (see the module docstring for layouts and options).

    With ``layout="auto"``, files whose header shows no bar layout are skipped and named in the
    batch notes; ``strict`` makes any such file an error (so does a set with no bar file)."""
    tf = parse_timeframe(timeframe)
    files = expand_paths(paths)
    wanted = {s.upper() for s in symbols} if symbols else None
    if layout == "auto":
        sniffed = {f: sniff_layout(f) for f in files}
        not_bars = [f for f, k in sniffed.items() if k is None]
        if not_bars and (strict or len(not_bars) == len(files)):
            named = ", ".join(f.name for f in not_bars[:5])
            more = f" (+{len(not_bars) - 5} more)" if len(not_bars) > 5 else ""
            why = "strict mode: " if strict and len(not_bars) < len(files) else ""
            raise SourceError(
                f"csv: {why}cannot tell the layout of {len(not_bars)} file(s) from their "
                f"header, not bars: {named}{more}; pass layout='yahoo' | 'wiki' | 'long'"
            )
        layouts = {f: k for f, k in sniffed.items() if k is not None}
        files = list(layouts)
    else:
        not_bars = []
        layouts = {f: layout for f in files}
    if len(set(layouts.values())) > 1:
        raise SourceError(f"csv: files of different layouts in one batch: {set(layouts.values())}")
    kind = next(iter(layouts.values()))
    if kind in ("yahoo", "wiki") and not tf.daily:
        raise SourceError(f"csv: the {kind} layout holds daily bars; use --timeframe 1Day")
    frames, actions, notes, yahoo = [], [], [], []
    skipped_files = 0
    progress = progress or NullProgress()
    task = progress.task(f"csv {kind} files", total=len(files))
    if kind == "yahoo":
        todo = [f for f in files if wanted is None or _ticker_from_name(f) in wanted]
        skipped_files = len(files) - len(todo)
        # pandas' C parser releases the GIL while it tokenizes: two readers overlap.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for part in pool.map(lambda f: _read_yahoo(f, use_adj_close), todo):
                yahoo.append(part)
                progress.advance(task)
    for f in files if kind != "yahoo" else []:
        progress.advance(task)
        if kind == "wiki":
            bars, acts = _read_wiki(f, adjustment or "all", wanted)
            frames.append(bars)
            actions.append(acts)
        else:
            frames.append(_read_long(f, intraday=not tf.daily))
    if yahoo:
        frames.append(_concat_yahoo(yahoo))
    if skipped_files:
        notes.append(f"{skipped_files} file(s) of symbols not requested were skipped")
    if not_bars:
        notes.append(
            f"{len(not_bars)} file(s) without a bar layout were skipped: "
            + ", ".join(f.name for f in not_bars)
        )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if kind == "long" and wanted is not None and "symbol" in frame:
        keep = frame["symbol"].astype(str).str.strip().str.upper().isin(wanted)
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} row(s) of symbols not requested were skipped")
        frame = frame[keep]
    tcol = tf.time_column
    if (start or end) and tcol in frame:
        frame, n_out = _window(frame, tcol, start, end, tf.daily)
        if n_out:
            notes.append(f"{n_out} row(s) outside {start or '..'}..{end or '..'} were skipped")
    if actions:
        acts = pd.concat(actions, ignore_index=True)
        if start or end:
            lo = pd.Timestamp(start) if start else pd.Timestamp.min
            hi = pd.Timestamp(end) if end else pd.Timestamp.max
            acts = acts[(acts["ex_date"] >= lo) & (acts["ex_date"] <= hi)]
    else:
        acts = empty_actions()
    if adjustment is None:
        adjustment = {"yahoo": "all" if use_adj_close else "split", "wiki": "all"}.get(kind, "raw")
    present = (
        set(frame["symbol"].dropna().astype(str).str.upper().unique().tolist())
        if "symbol" in frame
        else set()
    )
    missing = sorted(wanted - present) if wanted else []
    benchmarks = sorted(s for s in present if is_benchmark_symbol(s))
    if benchmarks:
        notes.append(f"benchmark series (never in a universe): {', '.join(benchmarks)}")
    meta = BatchMeta(
        source=source_name,
        timeframe=tf.label,
        adjustment=adjustment,
        symbols=sorted(wanted) if wanted else None,
        start=start,
        end=end,
        params={"layout": kind, "files": len(files) - skipped_files, "benchmarks": benchmarks},
        missing_symbols=missing,
        notes=notes,
    )
    return Batch(frame=frame.reset_index(drop=True), meta=meta, actions=acts.reset_index(drop=True))


def _window(frame: pd.DataFrame, tcol: str, start, end, daily: bool) -> tuple[pd.DataFrame, int]:
    """Rows inside [start, end]; rows whose time does not parse stay (the gate reports them)."""
    t = pd.to_datetime(frame[tcol], errors="coerce", utc=not daily, format="ISO8601")
    if not daily:
        lo = pd.Timestamp(start, tz="America/New_York") if start else None
        hi = (pd.Timestamp(end, tz="America/New_York") + pd.Timedelta(days=1)) if end else None
        inside = t.isna() | (
            ((t >= lo) if lo is not None else True) & ((t < hi) if hi is not None else True)
        )
    else:
        lo = pd.Timestamp(start) if start else None
        hi = pd.Timestamp(end) if end else None
        inside = t.isna() | (
            ((t >= lo) if lo is not None else True) & ((t <= hi) if hi is not None else True)
        )
    inside = (
        np.asarray(inside, dtype=bool) if not isinstance(inside, pd.Series) else inside.to_numpy()
    )
    return frame[inside], int((~inside).sum())
