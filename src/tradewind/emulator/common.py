"""Small shared types of the emulator's HTTP layer."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """An HTTP answer: JSON-serialisable ``body`` unless ``raw`` (bytes or str) is given."""

    status: int
    body: Any = None
    raw: bytes | str | None = None
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode() if isinstance(self.raw, str) else self.raw
        if self.status == 204:
            return b""
        # allow_nan: the "nan" bad-bar fault emits a bare NaN token on purpose.
        return json.dumps(self.body, allow_nan=True).encode()


def first(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    vals = query.get(name)
    return vals[0] if vals else default


def b64e(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def b64d(token: str) -> str:
    return base64.b64decode(token.encode(), validate=True).decode()


def is_true(value: str | None) -> bool:
    """alpaca-py sends Python booleans as ``True``; REST users send ``true``."""
    return (value or "").strip().lower() in ("true", "1", "yes")


def nginx_html(status: int, reason: str) -> Reply:
    """The HTML error page an nginx front end returns (real 401 without headers, 502/504)."""
    html = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Reply(status, raw=html, content_type="text/html")
