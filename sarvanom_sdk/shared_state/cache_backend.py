"""The response cache's shared level: one Redis string per cached answer.

Key: ``<namespace>:cache:<sha256>``, the cache's own request key (a hash of the chain and
the request's content: never the prompt). Value: a small JSON object with the answer as the
caller chose to cache it (content, reasoning, provider, model, usage, finish reason) and
when it stops being fresh; no prompt, no trace id, no attempt trail, no key. An entry lives
``ttl + stale_seconds`` (Redis ``PX``), like the local entries. A value larger than
``max_value_bytes`` (default :data:`MAX_VALUE_BYTES`) is kept in the local cache only.

Nothing read back is trusted (review F9): a value larger than the bound, not JSON, nested
too deeply, or with a field of the wrong type or out of range is a miss, never an
exception. Nothing written can raise either (F15 c): an answer that does not encode (a
lone surrogate, a type JSON cannot carry) is simply not stored in Redis.

No method raises: while Redis is unavailable a read is a miss (the local level still
answers) and a write is dropped. A write is deferred (made by the link's writer thread,
off the request path), so another process finds the entry a moment later. A read never
blocks an event loop: the async client awaits :meth:`RedisCacheLevel.get_async`
(``redis.asyncio``); a plain :meth:`~RedisCacheLevel.get` made on an event loop (a stream's
lookup) is a miss now and fetches the entry in the background for the next lookup.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..chat import ToolCall
from ..types import LLMResponse, ProviderName, Usage
from .redis_backend import WRITER, RedisLink, Unavailable, on_event_loop

#: Entries fetched in the background for a lookup made on an event loop (bounded).
PREFETCHED_MAX = 256

#: The largest cached answer stored in Redis (encoded bytes).
MAX_VALUE_BYTES = 512 * 1024


class RedisCacheLevel:
    """The :class:`~sarvanom_sdk.layers.cache.SharedLevel` on Redis: one GET per lookup
    that the local level could not answer fresh, one deferred SET per stored answer."""

    def __init__(
        self, link: RedisLink, lifetime_seconds: float, max_value_bytes: int = MAX_VALUE_BYTES
    ) -> None:
        self._link = link
        self._px = max(1, int(lifetime_seconds * 1000))
        self._max = max_value_bytes
        self._prefetched: dict[str, tuple[float, LLMResponse]] = {}

    def get(self, key: str) -> tuple[float, LLMResponse] | None:
        name = self._link.key("cache", key)
        if on_event_loop():
            found = self._prefetched.pop(key, None)
            if found is None and self._link.reachable:
                WRITER.submit(lambda: self._prefetch(key, name))
            return found
        try:
            raw = self._link.call(lambda r: r.get(name))
        except Unavailable:  # KeyFault included: a key of another type is a miss (F17)
            return None
        return decode(raw, self._max)

    async def get_async(self, key: str) -> tuple[float, LLMResponse] | None:
        """:meth:`get`, awaited on the caller's event loop (``redis.asyncio``)."""
        name = self._link.key("cache", key)
        try:
            raw = await self._link.acall(lambda r: r.get(name))
        except Unavailable:
            return None
        return decode(raw, self._max)

    def _prefetch(self, key: str, name: str) -> None:
        try:
            found = decode(self._link.call(lambda r: r.get(name)), self._max)
        except Unavailable:
            return
        if found is not None:
            if len(self._prefetched) >= PREFETCHED_MAX:
                self._prefetched.clear()
            self._prefetched[key] = found

    def put(self, key: str, fresh_until: float, response: LLMResponse) -> None:
        value = encode(fresh_until, response)
        if value is None or len(value) > self._max:
            return
        name = self._link.key("cache", key)
        self._link.defer(lambda r: r.set(name, value, px=self._px))


def encode(fresh_until: float, response: LLMResponse) -> bytes | None:
    """The stored form of an answer, or None when it cannot be encoded (never raises)."""
    usage = response.usage
    try:
        record: dict[str, Any] = {
            "f": float(fresh_until),
            "p": response.provider.value,
            "c": response.content,
            "m": response.model,
            "u": None if usage is None else [usage.prompt_tokens, usage.completion_tokens],
            "r": response.reasoning,
            "fr": response.finish_reason,
        }
        if response.tool_calls:  # issue 14: kept only when present (old entries lack them)
            record["tc"] = [[c.id, c.name, c.arguments] for c in response.tool_calls]
        if response.parsed is not None:
            record["pj"] = response.parsed
        value = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return value.encode("utf-8")
    except (ValueError, TypeError, OverflowError, RecursionError, AttributeError):
        return None  # UnicodeEncodeError (a lone surrogate) is a ValueError


#: Token counts beyond this are not a real answer's (and would overflow cost arithmetic).
MAX_TOKENS = 10**9


def _text(value: Any, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise TypeError("not a token count")
    return value


def _tool_calls(value: Any) -> tuple[ToolCall, ...]:
    if not isinstance(value, list) or len(value) > 128:
        raise TypeError("not a list of tool calls")
    calls = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3):
            raise TypeError("not a tool call")
        calls.append(ToolCall(*(_text(part, optional=False) or "" for part in item)))
    return tuple(calls)


def decode(raw: Any, max_bytes: int = MAX_VALUE_BYTES) -> tuple[float, LLMResponse] | None:
    """The entry encoded by :func:`encode`, or None if ``raw`` is not one (any type, any
    size, any depth: never raises)."""
    if not isinstance(raw, (bytes, str)) or len(raw) > max_bytes:
        return None
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            return None
        usage = record["u"]
        if usage is not None and not (isinstance(usage, list) and len(usage) == 2):
            return None
        fresh_until = record["f"]
        if isinstance(fresh_until, bool) or not isinstance(fresh_until, (int, float)):
            return None
        if not math.isfinite(fresh_until):
            return None
        response = LLMResponse(
            success=True,
            provider=ProviderName(_text(record["p"], optional=False)),
            content=_text(record["c"], optional=False) or "",
            model=_text(record["m"]),
            usage=None if usage is None else Usage(_count(usage[0]), _count(usage[1])),
            reasoning=_text(record["r"]),
            finish_reason=_text(record["fr"]),
            tool_calls=_tool_calls(record.get("tc", [])),
            parsed=record.get("pj"),
        )
        return float(fresh_until), response
    except (ValueError, KeyError, TypeError, IndexError, RecursionError, OverflowError):
        return None
