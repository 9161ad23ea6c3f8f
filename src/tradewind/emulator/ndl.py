"""Nasdaq Data Link (Quandl) Tables API for WIKI/PRICES, as the emulator serves it.

Faithful points (market_apis.md section 4): path with or without ``.json`` (``.csv`` too);
``ticker=A,B`` and ``ticker[]=A&ticker[]=B``; ``qopts.columns`` and ``qopts.columns[]``;
``date``, ``date[]`` and ``date.gt/gte/lt/lte/eq``; cursor pagination with ``qopts.cursor_id`` and
``qopts.per_page``; POST with a JSON body (what the SDK does for long queries); the 14 WIKI columns
and types of a recorded real response; errors as ``{"quandl_error": {"code", "message"}}`` with
real codes (the SDK crashes on codes that do not match ``^QE[a-zA-Z]x``).

Emulator choices: rows are ordered by ticker then date (the real API promises no order); the
default page size is small and configurable; a cursor is bound to its query (a different query
with it gets QESx06).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from typing import Any

import numpy as np
import pandas as pd

from tradewind.emulator.alpaca_data import corrupt_bar
from tradewind.emulator.common import Reply, b64d, b64e
from tradewind.emulator.dataset import WIKI_COLUMN_TYPES, WIKI_COLUMNS, Dataset
from tradewind.emulator.faults import BadBar

FILTERABLE = ("ticker", "date")
OPS = ("gt", "gte", "lt", "lte", "eq")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)(?:\.([A-Za-z_]+))?(\[\])?$")


def ndl_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"quandl_error": {"code": code, "message": message}})


def not_found_table() -> Reply:
    return ndl_error(
        404,
        "QECx02",
        "You have submitted an incorrect Quandl code. Please check your Quandl codes and try again.",
    )


def unknown_route() -> Reply:
    return ndl_error(400, "QECx01", "We could not recognize the URL you requested.")


def params_from_json(body: Any) -> dict[str, list[str]]:
    """A POST body ``{"ticker": [...], "date.gte": "...", "qopts.columns": [...]}`` ->
    the multi-valued parameter dict a GET query string gives."""
    if not isinstance(body, dict):
        return {}
    out: dict[str, list[str]] = {}
    for k, v in body.items():
        if isinstance(v, dict):  # not flattened by the client
            for sub, vv in v.items():
                out[f"{k}.{sub}"] = [str(x) for x in vv] if isinstance(vv, list) else [str(vv)]
        elif isinstance(v, list):
            out[str(k)] = [str(x) for x in v]
        else:
            out[str(k)] = [str(v).lower() if isinstance(v, bool) else str(v)]
    return out


class _Query:
    def __init__(self) -> None:
        self.tickers: list[str] | None = None
        self.date_ops: list[tuple[str, str]] = []
        self.date_in: list[str] | None = None
        self.columns: list[str] = list(WIKI_COLUMNS)
        self.per_page: int | None = None
        self.cursor: str | None = None
        self.export = False

    def key(self) -> str:
        blob = json.dumps(
            [
                sorted(self.tickers or []),
                sorted(self.date_ops),
                sorted(self.date_in or []),
                self.columns,
            ],
        )
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def to_token(self) -> str:
        return b64e(
            json.dumps(
                {"t": self.tickers, "d": self.date_ops, "i": self.date_in, "c": self.columns}
            )
        )

    @classmethod
    def from_token(cls, token: str) -> _Query:
        data = json.loads(b64d(token))
        q = cls()
        q.tickers, q.date_in, q.columns = data["t"], data["i"], data["c"]
        q.date_ops = [tuple(x) for x in data["d"]]
        return q


def _csv_values(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def parse_query(params: dict[str, list[str]]) -> _Query | Reply:
    q = _Query()
    for key, values in params.items():
        if key in ("api_key", "paginate"):
            continue
        if key.startswith("qopts."):
            opt = key[len("qopts.") :].removesuffix("[]")
            if opt == "columns":
                cols = _csv_values(values)
                unknown = [c for c in cols if c not in WIKI_COLUMN_TYPES]
                if unknown:
                    return ndl_error(
                        422,
                        "QESx04",
                        f"You have submitted incorrect query parameters. Column '{unknown[0]}' "
                        "does not exist in this table.",
                    )
                q.columns = cols or list(WIKI_COLUMNS)
            elif opt == "per_page":
                try:
                    q.per_page = int(values[0])
                except ValueError:
                    return ndl_error(400, "QESx09", "The syntax of your query was incorrect.")
                if q.per_page < 1:
                    return ndl_error(400, "QESx09", "qopts.per_page must be a positive integer.")
            elif opt == "cursor_id":
                q.cursor = values[0] if values and values[0] else None
            elif opt == "export":
                q.export = values[0].lower() == "true"
            continue
        m = _KEY.match(key)
        if not m:
            continue
        col, op, _is_list = m.groups()
        if col not in WIKI_COLUMN_TYPES:
            continue  # not a column: an unrelated parameter
        if col not in FILTERABLE:
            return ndl_error(422, "QESx08", f"You cannot use {col} column as a filter.")
        if op is not None and op not in OPS:
            return ndl_error(
                422, "QESx07", f"The operator '{op}' is not supported on column {col}."
            )
        if col == "ticker":
            if op not in (None, "eq"):
                return ndl_error(
                    422, "QESx07", f"The operator '{op}' is not supported on column ticker."
                )
            q.tickers = (q.tickers or []) + _csv_values(values)
            continue
        vals = _csv_values(values)
        if not vals:
            return ndl_error(
                422, "QESx02", f"You are missing a value after operator '{op or 'eq'}'."
            )
        try:
            dates = [pd.Timestamp(v).strftime("%Y-%m-%d") for v in vals]
        except ValueError:
            return ndl_error(400, "QESx09", f"The value {vals[0]!r} is not a valid date.")
        if op is None:
            if len(dates) == 1:
                q.date_ops.append(("eq", dates[0]))
            else:
                q.date_in = (q.date_in or []) + dates
        else:
            q.date_ops.append((op, dates[0]))
    return q


def select_rows(ds: Dataset, q: _Query) -> pd.DataFrame:
    w = ds.wiki
    mask = np.ones(len(w), dtype=bool)
    if q.tickers is not None:
        mask &= w["ticker"].isin(q.tickers).to_numpy()
    dates = w["date"]
    for op, v in q.date_ops:
        cmp = {
            "gt": dates > v,
            "gte": dates >= v,
            "lt": dates < v,
            "lte": dates <= v,
            "eq": dates == v,
        }[op]
        mask &= cmp.to_numpy()
    if q.date_in is not None:
        mask &= dates.isin(q.date_in).to_numpy()
    return w.loc[mask, q.columns]


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    obj = frame.astype(object)
    return obj.where(frame.notna(), None).to_numpy().tolist()


def _apply_bad(rows: list[list[Any]], columns: list[str], bad_bars: list[BadBar]) -> None:
    if not bad_bars or "ticker" not in columns or "date" not in columns:
        return
    ti, di = columns.index("ticker"), columns.index("date")
    keys = {name: columns.index(name) for name in columns}
    index = {(b.symbol, b.date): b for b in bad_bars}
    for row in rows:
        bad = index.get((row[ti], row[di]))
        if bad is None:
            continue
        if bad.kind == "high_lt_low" and not {"high", "low"} <= keys.keys():
            continue
        if bad.kind != "high_lt_low" and bad.field not in keys:
            continue
        corrupt_bar(row, bad, keys)  # type: ignore[arg-type]


def handle_prices(
    ds: Dataset,
    params: dict[str, list[str]],
    fmt: str,
    *,
    page_size: int,
    page_cap: int,
    repeat: Any,
    bad_bars: list[BadBar],
    base_url: str,
) -> Reply:
    if fmt not in ("json", "csv"):
        return ndl_error(406, "QESx05", "Unknown format requested. Please use json or csv.")
    q = parse_query(params)
    if isinstance(q, Reply):
        return q
    if q.export:
        return _export_info(q, fmt, base_url)
    frame = select_rows(ds, q)
    offset = 0
    if q.cursor:
        try:
            data = json.loads(b64d(q.cursor))
            offset, qkey = int(data["o"]), data["q"]
        except (ValueError, KeyError, TypeError):
            return ndl_error(400, "QESx06", "You have used an invalid cursor_id.")
        if qkey != q.key() or not 0 <= offset <= len(frame):
            return ndl_error(400, "QESx06", "You have used an invalid cursor_id.")
        if offset > 0 and repeat():
            offset -= 1
    size = min(q.per_page or page_size, page_cap)
    stop = min(len(frame), offset + size)
    rows = _rows(frame.iloc[offset:stop])
    _apply_bad(rows, q.columns, bad_bars)
    next_cursor = b64e(json.dumps({"o": stop, "q": q.key()})) if stop < len(frame) else None
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(q.columns)
        writer.writerows(rows)
        headers = {"X-Next-Cursor-Id": next_cursor} if next_cursor else {}
        return Reply(200, raw=buf.getvalue(), content_type="text/csv", headers=headers)
    body = {
        "datatable": {
            "data": rows,
            "columns": [{"name": c, "type": WIKI_COLUMN_TYPES[c]} for c in q.columns],
        },
        "meta": {"next_cursor_id": next_cursor},
    }
    return Reply(200, body)


def _export_info(q: _Query, fmt: str, base_url: str) -> Reply:
    link = f"{base_url}/_emulator/ndl/export/{q.to_token()}.zip"
    snapshot = "2018-03-27 21:46:11 UTC"  # WIKI stopped updating on 2018-03-27
    if fmt == "csv":
        text = (
            "file.link,file.status,file.data_snapshot_time,datatable.last_refreshed_time\n"
            f"{link},fresh,{snapshot},{snapshot}\n"
        )
        return Reply(200, raw=text, content_type="text/csv")
    return Reply(
        200,
        {
            "datatable_bulk_download": {
                "file": {"link": link, "status": "fresh", "data_snapshot_time": snapshot},
                "datatable": {"last_refreshed_time": snapshot},
            }
        },
    )


def handle_export_file(ds: Dataset, token: str) -> Reply:
    """The zip behind an export link: one CSV with every matching row (no pagination)."""
    try:
        q = _Query.from_token(token)
    except (ValueError, KeyError, TypeError):
        return ndl_error(404, "QECx03", "We could not find the resource you requested.")
    frame = select_rows(ds, q)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(q.columns)
    writer.writerows(_rows(frame))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("WIKI_PRICES.csv", buf.getvalue())
    return Reply(200, raw=out.getvalue(), content_type="application/zip")


def metadata() -> Reply:
    return Reply(
        200,
        {
            "datatable": {
                "vendor_code": "WIKI",
                "datatable_code": "PRICES",
                "name": "Quandl End-Of-Day Stocks Prices",
                "description": "Emulated WIKI/PRICES (tradewind market emulator).",
                "columns": [{"name": c, "type": t} for c, t in WIKI_COLUMN_TYPES.items()],
                "filters": list(FILTERABLE),
                "primary_key": ["ticker", "date"],
                "premium": False,
                "status": {
                    "refreshed_at": "2018-03-27T21:46:11.000Z",
                    "status": "ON TIME",
                    "expected_at": "*",
                    "update_frequency": "CONTINUOUS",
                },
            }
        },
    )
