"""The response cache: a thread-safe cachetools ``TTLCache`` with a stale window.

Entries live for ``ttl + stale_seconds``: fresh for ``ttl`` (served as a hit), then stale
(served only when every real provider failed, marked ``stale``, before the stub). Stub
answers are never stored. The key is a sha256 over a canonical encoding of the provider
chain and the request's content (model, system, messages, max_tokens, temperature,
provider pin), so the cache never holds a prompt in its keys.

An optional second level (:class:`SharedLevel`, e.g. Redis through
:mod:`sarvanom_sdk.shared_state`) is shared by every process: a miss in this process's
``TTLCache`` asks it, a hit found there is copied into the ``TTLCache``, and every answer
stored goes to both. Freshness across processes is kept in wall-clock time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from ..clock import Clock
from ..types import LLMRequest, LLMResponse, Message


def request_key(request: LLMRequest, chain_identity: str) -> str:
    """The cache key: a hash of the chain and of every request field that changes the
    answer (issue 14 item 6: tools, tool_choice, parallel_tool_calls, response_format,
    stop, top_p, seed, the penalties, and each message's parts, tool calls and ids). A
    plain request's key is what it was before those fields existed (shared caches stay
    valid across the upgrade)."""
    payload: tuple[Any, ...] = (
        chain_identity,
        request.model,
        request.system,
        request.prompt,
        [_message_key(m) for m in request.messages] if request.messages else None,
        request.max_tokens,
        request.temperature,
        request.provider.value if request.provider else None,
    )
    if request.needs_chat_fields():
        payload += _chat_key(request)
    # surrogatepass: a key can always be made (F12), even for text that cannot be sent
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )
    return hashlib.sha256(encoded).hexdigest()


def _chat_key(request: LLMRequest) -> tuple[Any, ...]:
    tools, choice, form = request.tools, request.tool_choice, request.response_format
    return (
        [(t.name, t.description, t.parameters, t.strict) for t in tools] if tools else None,
        (choice.mode, choice.name) if choice else None,
        request.parallel_tool_calls,
        form.to_openai() if form else None,
        request.stop,
        request.top_p,
        request.seed,
        request.presence_penalty,
        request.frequency_penalty,
    )


def _message_key(message: Message) -> Any:
    """A plain text message as (role, text); any other as its OpenAI dict (a distinct
    JSON shape, so the two never collide)."""
    if (
        type(message.content) is str
        and not message.tool_calls
        and message.tool_call_id is None
        and message.name is None
    ):
        return (message.role, message.content)
    return message.to_dict()


class SharedLevel(Protocol):
    """A cache level shared between processes. Must never raise: a level that cannot be
    reached answers None and drops writes."""

    def get(self, key: str) -> tuple[float, LLMResponse] | None:
        """(fresh until, as a POSIX timestamp; the stored answer) or None."""

    def put(self, key: str, fresh_until: float, response: LLMResponse) -> None:
        """Store ``response`` (already stripped of per-request fields)."""


class ResponseCache:
    def __init__(
        self,
        *,
        ttl: float,
        stale_seconds: float,
        maxsize: int,
        clock: Clock,
        shared: SharedLevel | None = None,
    ) -> None:
        from cachetools import TTLCache

        self.ttl = ttl
        self._clock = clock
        self._shared = shared
        self._lock = threading.Lock()
        self._entries: Any = TTLCache(
            maxsize=maxsize, ttl=max(ttl + stale_seconds, 1e-9), timer=clock.monotonic
        )
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get_fresh(self, key: str) -> LLMResponse | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._clock.monotonic() >= entry[0]:
            entry = self._from_shared(key)
        if entry is not None and self._clock.monotonic() < entry[0]:
            self.hits += 1
            return entry[1]  # type: ignore[no-any-return]
        self.misses += 1
        return None

    async def get_fresh_async(self, key: str) -> LLMResponse | None:
        """:meth:`get_fresh` with the shared level awaited (its ``get_async``), so a
        shared lookup never blocks the event loop."""
        with self._lock:
            entry = self._entries.get(key)
        fetch = getattr(self._shared, "get_async", None)
        if fetch is None or (entry is not None and self._clock.monotonic() < entry[0]):
            return self.get_fresh(key)
        found = await fetch(key)
        if found is None:
            self.misses += 1
            return None
        self._as_local(key, found)
        return self.get_fresh(key)

    def get_stale(self, key: str) -> LLMResponse | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            entry = self._from_shared(key)
        return None if entry is None else entry[1]

    def put(self, key: str, response: LLMResponse) -> None:
        fresh_until = self._clock.monotonic() + self.ttl
        stored = replace(response, attempts=(), trace_id="", cached=False, stale=False)
        with self._lock:
            self._entries[key] = (fresh_until, stored)
        if self._shared is not None:
            self._shared.put(key, self._clock.wall().timestamp() + self.ttl, stored)

    def _from_shared(self, key: str) -> tuple[float, LLMResponse] | None:
        """The shared level's entry as a local one (copied into this process's cache)."""
        found = None if self._shared is None else self._shared.get(key)
        return None if found is None else self._as_local(key, found)

    def _as_local(self, key: str, found: tuple[float, LLMResponse]) -> tuple[float, Any]:
        fresh_for = found[0] - self._clock.wall().timestamp()
        entry = (self._clock.monotonic() + fresh_for, found[1])
        with self._lock:
            self._entries[key] = entry
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def served_from_cache(
    stored: LLMResponse,
    request: LLMRequest,
    *,
    stale: bool,
    attempts: Sequence[Any] = (),
    latency_ms: float = 0.0,
) -> LLMResponse:
    """A stored answer as returned to a caller: its own trace id, marked cached/stale."""
    return replace(
        stored,
        cached=True,
        stale=stale,
        trace_id=request.trace_id,
        attempts=tuple(attempts),
        latency_ms=latency_ms,
        cost_usd=0.0,
    )


class CacheLayer:
    """The cache as a layer: a fresh hit skips everything; a real answer is stored; when
    every real provider failed, a stale answer is served before the stub."""

    def __init__(self, cache: ResponseCache, key_of: Any, stub: Any) -> None:
        self._cache = cache
        self._key_of = key_of  # Router.cache_key
        self._stub = stub  # the ProviderName of the stub

    def handle(self, request: LLMRequest, call_next: Any) -> LLMResponse:
        key = self._key_of(request)
        if key is None:
            return call_next(request)  # type: ignore[no-any-return]
        hit = self._cache.get_fresh(key)
        if hit is not None:
            return served_from_cache(hit, request, stale=False)
        return self._settle(key, request, call_next(request))

    def handle_async(self, request: LLMRequest, call_next: Any) -> Awaitable[LLMResponse]:
        """An awaitable of the response. A request that is not cached gets the rest of
        the stack's awaitable itself: no coroutine of this layer stays suspended beside
        it while the call waits on the socket (issue 18)."""
        key = self._key_of(request)
        if key is None:
            return call_next(request)  # type: ignore[no-any-return]
        return self._keyed_async(key, request, call_next)

    async def _keyed_async(self, key: str, request: LLMRequest, call_next: Any) -> LLMResponse:
        hit = await self._cache.get_fresh_async(key)
        if hit is not None:
            return served_from_cache(hit, request, stale=False)
        return self._settle(key, request, await call_next(request))

    def _settle(self, key: str, request: LLMRequest, response: LLMResponse) -> LLMResponse:
        if response.success:
            self._cache.put(key, response)
            return response
        if response.provider is self._stub:
            stale = self._cache.get_stale(key)
            if stale is not None:
                return served_from_cache(
                    stale,
                    request,
                    stale=True,
                    attempts=response.attempts[:-1],
                    latency_ms=response.latency_ms,
                )
        return response
