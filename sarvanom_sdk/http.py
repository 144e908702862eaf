"""The transport-neutral HTTP values that adapters build and parse.

Adapters turn an :class:`~sarvanom_sdk.types.LLMRequest` into an :class:`HttpCall` and an
:class:`HttpReply` into an answer; transports are the only code that does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._fastinit import fast_init
from .errors import BadResponseError, excerpt

# Built once: ``json.dumps`` with any non-default argument builds a new encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":")).encode
#: What ``bytes.strip()`` strips (ASCII whitespace).
_SPACE = frozenset(b" \t\n\r\x0b\x0c")


@fast_init
@dataclass(frozen=True, slots=True)
class HttpCall:
    """One HTTP request to a provider. ``secrets`` are the values that must never be shown
    (they travel in ``headers`` only); :meth:`__repr__` hides the headers."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    secrets: tuple[str, ...] = ()

    def body_bytes(self) -> bytes | None:
        """The JSON body as UTF-8. Never raises UnicodeEncodeError (F12): a body holding a
        lone surrogate is sent ASCII-escaped (``\\ud83d``), which is valid JSON."""
        if self.json is None:
            return None
        text = _COMPACT(self.json)
        try:
            return text.encode()
        except UnicodeEncodeError:
            return _COMPACT_ASCII(self.json).encode()

    def __repr__(self) -> str:
        return f"HttpCall(method={self.method!r}, url={self.url!r}, headers=<hidden>)"


@fast_init
@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete HTTP reply. ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self, provider: str = "") -> Any:
        """The body parsed as JSON; :class:`BadResponseError` for HTML, empty or bad JSON."""
        body = self.body
        first = body[0] if body else 32
        if first in _SPACE:  # rare: look past the whitespace (no copy otherwise)
            stripped = body.strip()
            if not stripped:
                raise BadResponseError("empty body", provider=provider, status=self.status)
            first = stripped[0]
        if first == 60 or "html" in self.headers.get("content-type", ""):  # 60: "<"
            raise BadResponseError(
                "HTML instead of JSON (a tunnel or proxy page?)",
                provider=provider,
                status=self.status,
            )
        try:
            return json.loads(body)
        except ValueError:
            raise BadResponseError(
                f"malformed JSON: {excerpt(self.text(), 80)}", provider=provider, status=self.status
            ) from None


def lower_headers(items: Any) -> dict[str, str]:
    """Headers as a plain dict with lower-case keys (the first value of a repeated header)."""
    out: dict[str, str] = {}
    for key, value in items:
        out.setdefault(key.lower(), value)
    return out


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            pass
        else:
            return max(0.0, value) if math.isfinite(value) else None
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, value) if math.isfinite(value) else None
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
