"""The response cache's shared level: one Redis string per cached answer.

Key: ``<namespace>:cache:<sha256>``, the cache's own request key (a hash of the chain and
the request's content: never the prompt). Value: a small JSON object with the answer as the
caller chose to cache it (content, reasoning, provider, model, usage, finish reason) and
when it stops being fresh; no prompt, no trace id, no attempt trail, no key. An entry lives
``ttl + stale_seconds`` (Redis ``PX``), like the local entries. A value larger than
``max_value_bytes`` (default :data:`MAX_VALUE_BYTES`) is kept in the local cache only. A
value that does not decode is a miss.

Both methods never raise: while Redis is unavailable a read is a miss (the local level
still answers) and a write is dropped. A write is deferred (made by the link's writer
thread, off the request path), so another process finds the entry a moment later.
"""

from __future__ import annotations

import json
from typing import Any

from ..chat import ToolCall
from ..types import LLMResponse, ProviderName, Usage
from .redis_backend import RedisLink, Unavailable

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

    def get(self, key: str) -> tuple[float, LLMResponse] | None:
        name = self._link.key("cache", key)
        try:
            raw = self._link.call(lambda r: r.get(name))
        except Unavailable:
            return None
        return None if raw is None else decode(raw)

    def put(self, key: str, fresh_until: float, response: LLMResponse) -> None:
        value = encode(fresh_until, response)
        if len(value) > self._max:
            return
        name = self._link.key("cache", key)
        self._link.defer(lambda r: r.set(name, value, px=self._px))


def encode(fresh_until: float, response: LLMResponse) -> bytes:
    usage = response.usage
    record: dict[str, Any] = {
        "f": fresh_until,
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
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def decode(raw: bytes) -> tuple[float, LLMResponse] | None:
    """The entry encoded by :func:`encode`, or None if ``raw`` is not one."""
    try:
        record = json.loads(raw)
        usage = record["u"]
        response = LLMResponse(
            success=True,
            provider=ProviderName(record["p"]),
            content=str(record["c"]),
            model=record["m"],
            usage=None if usage is None else Usage(int(usage[0]), int(usage[1])),
            reasoning=record["r"],
            finish_reason=record["fr"],
            tool_calls=tuple(ToolCall(str(i), str(n), str(a)) for i, n, a in record.get("tc", ())),
            parsed=record.get("pj"),
        )
        return float(record["f"]), response
    except (ValueError, KeyError, TypeError, IndexError):
        return None
