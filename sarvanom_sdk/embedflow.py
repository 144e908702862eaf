"""The embedding flow (issue 15 item 1): a new kind of call beside ``complete_flow`` and
``stream_flow``, reusing the router's per-provider steps.

``Embedder.flow(request)`` is a generator like the other flows (it yields
:mod:`effects` values that a runner performs), so both clients share it:

1. Providers of the chain without an embeddings API (Anthropic, the seed ``/generate``
   box) and, when ``dimensions`` is asked for, those that cannot shorten vectors are
   skipped with the reason in the trail.
2. Cache, per text: if every text is cached under one provider's vector space (provider,
   model, dimensions), that answers with no network call.
3. Otherwise, free first, per provider: the texts missing from its space (each once) go
   through :meth:`Router._route` — cost gate and budget, breaker, bulkhead, attempt
   timeout bounded by the total deadline, retry, health, trail — and the reply is checked
   by the adapter. Its vectors and the cached ones of the *same* space are merged, so one
   call's vectors always come from one provider and model: a fallback never mixes spaces.
4. No provider answered: :class:`AllProvidersFailed` — also when ``fallback_to_stub`` is
   on: the local stub answers text, and a made-up vector would be a wrong answer.

The embedding endpoints have breakers and bulkheads of their own (an embedding model that
is not pulled must not open the chat breaker of a healthy host); the health registry, the
cost gate and budget, the retry policy and the attempt observers are the client's.
The vector cache is in this process (not in Redis), LRU and TTL bound by the cache
settings.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Generator, Sequence
from typing import Any, cast

from .clock import Clock
from .effects import Send
from .embedding import Embedded, EmbeddingRequest, EmbeddingResponse
from .endpoints import Admitted
from .errors import AllProvidersFailed
from .providers.embeddings import EmbeddingAdapter, embedding_adapter_for
from .router import Router
from .types import Attempt, AttemptOutcome, LLMRequest, ProviderName, Usage

FlowGen = Generator[Any, Any, Any]
_STUB = ProviderName.LOCAL_STUB
STUB_REASON = "the local stub does not answer embeddings (a made-up vector would be wrong)"


class VectorCache:
    """Vectors by (space, text), least recently used out past ``maxsize``, each kept
    ``ttl`` seconds (0: off). Thread-safe; vectors stored as compact float arrays."""

    def __init__(self, ttl: float, maxsize: int, clock: Clock) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self.enabled = ttl > 0 and maxsize > 0
        self._clock = clock
        self._items: OrderedDict[tuple[str, str], tuple[float, str, array[float]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, space: str, texts: Sequence[str]) -> dict[str, tuple[str, list[float]]]:
        """The cached (model, vector) of each of ``texts`` found in ``space``."""
        now = self._clock.monotonic()
        found: dict[str, tuple[str, list[float]]] = {}
        with self._lock:
            for text in texts:
                key = (space, text)
                item = self._items.get(key)
                if item is None:
                    continue
                if item[0] <= now:
                    del self._items[key]
                    continue
                self._items.move_to_end(key)
                found[text] = (item[1], item[2].tolist())
        return found

    def put(self, space: str, model: str, vectors: dict[str, list[float]]) -> None:
        expires = self._clock.monotonic() + self.ttl
        with self._lock:
            for text, vector in vectors.items():
                self._items[(space, text)] = (expires, model, array("d", vector))
                self._items.move_to_end((space, text))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def drop(self, space: str, texts: Sequence[str]) -> None:
        with self._lock:
            for text in texts:
                self._items.pop((space, text), None)


class Embedder:
    """The embedding machinery of one client, built from its :class:`Core` on first use."""

    def __init__(self, core: Any) -> None:
        from .core import _endpoints_of

        settings, chat = core.settings, core.router
        self.settings = settings
        self.clock: Clock = chat.clock
        self.reasons: dict[ProviderName, str] = {}
        endpoints = {}
        for provider in chat.chain:
            made = embedding_adapter_for(provider, settings)
            if isinstance(made, str):
                self.reasons[provider] = made
                continue
            endpoints[provider] = _endpoints_of(
                provider, settings, self.clock, embedding_adapter_for, core.shared, "embed"
            )
        self.router = Router(
            settings=settings,
            chain=[p for p in chat.chain if p in endpoints],
            endpoints=endpoints,
            health=chat.health,
            gate=chat.gate,
            retry=chat.retry,
            cache=chat.cache,
            clock=self.clock,
        )
        self.router.observers = chat.observers  # the same list: tracing sees embeddings
        self.order = chat.chain
        self.cache = VectorCache(settings.cache_ttl_seconds, settings.cache_maxsize, self.clock)

    def adapter(self, provider: ProviderName) -> EmbeddingAdapter:
        return cast(EmbeddingAdapter, self.router.adapters[provider])

    def space(self, provider: ProviderName, request: EmbeddingRequest) -> tuple[str, str]:
        """(the cache's name of the vector space, the model priced and asked for)."""
        model = request.model or self.adapter(provider).default_model
        return f"{provider.value}|{model}|{request.dimensions or ''}", model

    # -- the flow -----------------------------------------------------------------------
    def flow(self, request: EmbeddingRequest) -> FlowGen:
        started = self.clock.monotonic()
        trail: list[Attempt] = []
        shadow = request.routing_request()
        order = self._candidates(request, shadow, trail)
        caching = request.cache and self.cache.enabled
        unique = tuple(dict.fromkeys(request.texts))
        if caching:
            for provider in order:
                space, _ = self.space(provider, request)
                found = self.cache.get(space, unique)
                if len(found) == len(unique):
                    model = next(iter(found.values()))[0]
                    return self._response(request, provider, model, found, None, 0.0, trail,
                                          started, cached=len(request.texts))
        for provider in order:
            space, model = self.space(provider, request)
            found = self.cache.get(space, unique) if caching else {}
            missing = tuple(t for t in unique if t not in found)
            attempt = self._attempt(request, missing, found, space)
            routed = yield from self.router._route(shadow, started, trail, attempt, (provider,))
            if routed is None:
                continue
            admitted, (embedded, found) = routed
            fresh = dict(zip(embedded.texts, embedded.vectors, strict=True))
            answered = embedded.model or model
            if caching:
                self.cache.put(space, answered, fresh)
            cost = self.router.gate.settle(admitted.hold, provider, model, embedded.usage)
            vectors = {**found, **{t: (answered, v) for t, v in fresh.items()}}
            reused = len(request.texts) - _count(request, fresh)
            return self._response(request, provider, answered, vectors, embedded.usage, cost,
                                  trail, started, cached=reused)
        self.router._note(_STUB, AttemptOutcome.SKIPPED, STUB_REASON, shadow, trail)
        raise AllProvidersFailed(trail, request.trace_id)

    def _attempt(
        self,
        request: EmbeddingRequest,
        missing: tuple[str, ...],
        found: dict[str, tuple[str, list[float]]],
        space: str,
    ) -> Any:
        """One attempt at one endpoint: embed the ``missing`` texts; if the cached vectors
        of this space turn out to have another length (the model behind the name changed),
        drop them and embed every text."""

        def attempt(admitted: Admitted, _shadow: LLMRequest, timeout: float) -> FlowGen:
            adapter = cast(EmbeddingAdapter, admitted.endpoint.adapter)
            texts, cached = missing, found
            embedded = yield from self._send(admitted, adapter, request, texts, timeout)
            size = len(embedded.vectors[0]) if embedded.vectors else 0
            if cached and any(len(v) != size for _, v in cached.values()):
                self.cache.drop(space, list(cached))
                texts, cached = tuple(dict.fromkeys(request.texts)), {}
                embedded = yield from self._send(admitted, adapter, request, texts, timeout)
            return _Sent(embedded, texts), cached

        return attempt

    def _send(
        self,
        admitted: Admitted,
        adapter: EmbeddingAdapter,
        request: EmbeddingRequest,
        texts: tuple[str, ...],
        timeout: float,
    ) -> FlowGen:
        if not texts:
            return Embedded([], None, None)
        reply = yield Send(adapter.build_embed(request, texts), timeout)
        self.router._note_quota(admitted.endpoint, reply.headers, reply.status)
        return adapter.parse_embed(reply, len(texts), request.dimensions)

    def _candidates(
        self, request: EmbeddingRequest, shadow: LLMRequest, trail: list[Attempt]
    ) -> tuple[ProviderName, ...]:
        """The providers to try, in order; the others noted as skipped with the reason."""
        pinned = request.provider
        if pinned is _STUB:
            return ()
        for provider in self.order if pinned is None else (pinned,):
            reason = self.reasons.get(provider)
            if reason is not None:
                self.router._note(provider, AttemptOutcome.SKIPPED, reason, shadow, trail)
        if pinned is not None and pinned in self.reasons:
            return ()
        out = []
        for provider in self.router._candidates(shadow, trail):
            if request.dimensions is not None and not self.adapter(provider).supports_dimensions:
                reason = "cannot shorten vectors (dimensions) in its embeddings protocol"
                self.router._note(provider, AttemptOutcome.SKIPPED, reason, shadow, trail)
                continue
            out.append(provider)
        return tuple(out)

    def _response(
        self,
        request: EmbeddingRequest,
        provider: ProviderName,
        model: str,
        vectors: dict[str, tuple[str, list[float]]],
        usage: Usage | None,
        cost: float,
        trail: list[Attempt],
        started: float,
        *,
        cached: int,
    ) -> EmbeddingResponse:
        # each text's own list: a caller that changes one vector changes no other
        out = [list(vectors[text][1]) for text in request.texts]
        return EmbeddingResponse(
            vectors=out,
            provider=provider,
            model=model,
            usage=usage,
            cost_usd=cost,
            latency_ms=(self.clock.monotonic() - started) * 1000.0,
            trace_id=request.trace_id,
            attempts=tuple(trail),
            cached=cached,
        )


class _Sent:
    """An attempt's reply with the texts it embedded, in order."""

    __slots__ = ("vectors", "model", "usage", "texts")

    def __init__(self, embedded: Embedded, texts: tuple[str, ...]) -> None:
        self.vectors = embedded.vectors
        self.model = embedded.model
        self.usage = embedded.usage
        self.texts = texts


def _count(request: EmbeddingRequest, fresh: dict[str, list[float]]) -> int:
    """How many of the request's texts (repeats counted) were embedded by this call."""
    return sum(1 for text in request.texts if text in fresh)
