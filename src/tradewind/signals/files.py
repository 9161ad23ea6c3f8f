"""Quantopian-style weight files through fsspec: written atomically, byte-identical on regeneration.

Layout under the weights destination (a local folder or any fsspec URL: ``file://``,
``memory://``, ``s3://bucket/prefix`` with s3fs installed):

    <dest>/<model>/weights_<YYYY-MM-DD>.csv   one file per as-of session T
    <dest>/<model>/weights_history.csv        every session, cumulative

Format (Quantopian's self-serve data rules): header ``date,symbol,weight``; ``date`` is the ISO
as-of session (the weights trade at the open of T+1); one row per symbol of the model's universe
per date, sorted by date then symbol; weights in fixed notation with ``DECIMALS`` decimals,
truncated toward zero so that rounding can never push a sum (or a gross exposure) over its
limit; ``\\n`` line ends. The same weights therefore always give the same bytes.

Atomic: the bytes go to a hidden temporary file next to the target, which is then renamed over
it (a rename within one local file system is atomic; an object store publishes an object only
when its upload completes). A writer killed mid-way leaves the previous file intact and at most a
stray ``.<name>.tmp-*`` file, which readers never look at.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import re
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

HEADER = ("date", "symbol", "weight")
DECIMALS = 10
HISTORY_NAME = "weights_history.csv"
_COLUMN_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Writes go out in chunks, so a crash can happen between two of them (the test kills a writer
# there): what matters is that the target is only ever replaced by a complete file.
CHUNK_BYTES = 64 * 1024
# Threads for reading and writing many files at once: each file costs a few system calls (or an
# object-store round trip) that release the GIL, so a handful of threads overlap them.
IO_THREADS = 4


class WeightFileError(ValueError):
    """A weight file breaks the format; the message names the file and the first problem."""


def session_file_name(session: dt.date) -> str:
    return f"weights_{session.isoformat()}.csv"


def quantize(weights: np.ndarray) -> np.ndarray:
    """Weights as written: truncated toward zero at DECIMALS decimals (never -0)."""
    scale = 10.0**DECIMALS
    return np.trunc(np.asarray(weights, dtype=np.float64) * scale) / scale + 0.0


def format_rows(rows: Sequence[tuple[dt.date, Sequence[str], np.ndarray]]) -> bytes:
    """CSV bytes of ``(session, symbols, weights)`` blocks, sorted by date then symbol."""
    out = [_HEADER_LINE]
    for session, symbols, weights in sorted(rows, key=lambda r: r[0]):
        order = _symbol_order(symbols)
        out.append(_lines(session, [symbols[i] for i in order], quantize(weights)[order]))
    return "".join(out).encode("ascii")


def format_sessions(
    sessions: Sequence[dt.date], symbols: Sequence[str], weights: np.ndarray
) -> list[bytes]:
    """One file's bytes per session (``weights`` [S, N]): ``format_rows`` of each session alone,
    with the symbol order and the quantization worked out once for the whole run."""
    order = _symbol_order(symbols)
    names = [symbols[i] for i in order]
    q = quantize(np.asarray(weights, dtype=np.float64).reshape(len(sessions), -1))[:, order]
    return [
        (_HEADER_LINE + _lines(day, names, row)).encode("ascii")
        for day, row in zip(sessions, q, strict=True)
    ]


_HEADER_LINE = ",".join(HEADER) + "\n"


def _symbol_order(symbols: Sequence[str]) -> np.ndarray:
    return np.argsort(np.asarray(symbols, dtype=object), kind="stable")


def _lines(session: dt.date, symbols: Sequence[str], quantized: np.ndarray) -> str:
    """The rows of one session (symbols already sorted, weights already quantized)."""
    day = session.isoformat()
    return "".join(
        f"{day},{s},{w:.{DECIMALS}f}\n" for s, w in zip(symbols, quantized.tolist(), strict=True)
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class WeightsDestination:
    """A weights folder (local path or fsspec URL) and its file system."""

    url: str

    @functools.cached_property
    def fs_and_root(self):
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.url)
        return fs, root.rstrip("/")

    def model_dir(self, model: str) -> str:
        return f"{self.fs_and_root[1]}/{model}"

    def uri(self, model: str, name: str) -> str:
        """The user-facing address of a file (the URL form given, plus the model and name)."""
        return f"{self.url.rstrip('/')}/{model}/{name}"

    def read_bytes(self, model: str, name: str) -> bytes | None:
        fs, root = self.fs_and_root
        path = f"{root}/{model}/{name}"
        return fs.cat_file(path) if fs.exists(path) else None

    def write_atomic(self, model: str, name: str, data: bytes) -> str:
        """Replace ``<model>/<name>`` by ``data`` atomically; return its URI."""
        fs, root = self.fs_and_root
        folder = f"{root}/{model}"
        fs.makedirs(folder, exist_ok=True)
        target = f"{folder}/{name}"
        tmp = f"{folder}/.{name}.tmp-{uuid.uuid4().hex}"
        try:
            with fs.open(tmp, "wb") as fh:
                for i in range(0, len(data), CHUNK_BYTES):
                    fh.write(data[i : i + CHUNK_BYTES])
            fs.mv(tmp, target)
        except BaseException:
            if fs.exists(tmp):
                fs.rm(tmp)
            raise
        return self.uri(model, name)

    def read_many(self, model: str, names: Sequence[str]) -> list[bytes | None]:
        """``read_bytes`` of each name (None when absent), in parallel threads."""
        if len(names) <= 1:
            return [self.read_bytes(model, n) for n in names]
        with ThreadPoolExecutor(IO_THREADS) as pool:
            return list(pool.map(lambda n: self.read_bytes(model, n), names))

    def write_many(self, model: str, files: Sequence[tuple[str, bytes]]) -> None:
        """``write_atomic`` of each (name, bytes), in parallel threads; each file stays atomic,
        and the first error is raised after the writes already started have finished."""
        if len(files) <= 1:
            for name, data in files:
                self.write_atomic(model, name, data)
            return
        fs, root = self.fs_and_root
        fs.makedirs(f"{root}/{model}", exist_ok=True)
        with ThreadPoolExecutor(IO_THREADS) as pool:
            for future in [pool.submit(self.write_atomic, model, n, d) for n, d in files]:
                future.result()


def merge_history(existing: bytes | None, blocks: Mapping[dt.date, bytes]) -> bytes:
    """The history file with the given sessions' blocks replaced (or added), others kept.

    ``blocks`` are per-session files' bytes (header included). Parsing the existing history is
    not needed: its lines are grouped by their ISO date prefix, which sorts chronologically.
    """
    by_day: dict[str, list[str]] = {}
    if existing:
        lines = existing.decode("ascii").splitlines()
        if not lines or lines[0] != ",".join(HEADER):
            raise WeightFileError(f"{HISTORY_NAME}: unexpected header {lines[:1]}")
        for line in lines[1:]:
            by_day.setdefault(line[:10], []).append(line)
    for day, data in blocks.items():
        by_day[day.isoformat()] = data.decode("ascii").splitlines()[1:]
    out = [",".join(HEADER)]
    for day in sorted(by_day):
        out.extend(by_day[day])
    return ("\n".join(out) + "\n").encode("ascii")


def parse_weights(data: bytes, name: str = "weights file") -> pd.DataFrame:
    """Parse and check a weight file under Quantopian's rules; raise WeightFileError if broken.

    Rules: column names of letters, digits and underscores with ``date``, ``symbol``,
    ``weight`` present; ISO dates; one row per (date, symbol); finite weights.
    """
    text = data.decode("utf-8")
    lines = text.splitlines()
    if not lines:
        raise WeightFileError(f"{name}: empty file")
    columns = lines[0].split(",")
    bad = [c for c in columns if not _COLUMN_NAME.match(c)]
    if bad:
        raise WeightFileError(f"{name}: column name {bad[0]!r} is not letters/digits/underscores")
    missing = [c for c in HEADER if c not in columns]
    if missing:
        raise WeightFileError(f"{name}: missing column {missing[0]!r}")
    frame = pd.read_csv(io.StringIO(text), dtype={"date": str, "symbol": str})
    bad_dates = ~frame["date"].astype(str).str.match(_ISO_DATE)
    if bad_dates.any():
        raise WeightFileError(f"{name}: date {frame['date'][bad_dates].iloc[0]!r} is not ISO")
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d").dt.date
    dup = frame.duplicated(["date", "symbol"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise WeightFileError(f"{name}: more than one row for {row['symbol']} on {row['date']}")
    w = pd.to_numeric(frame["weight"], errors="coerce")
    if not np.isfinite(w).all():
        raise WeightFileError(f"{name}: weight {frame['weight'][~np.isfinite(w)].iloc[0]!r}")
    frame["weight"] = w.astype(float)
    return frame[list(HEADER)]
