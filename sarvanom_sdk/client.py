"""The clients: thin shells over one :class:`~sarvanom_sdk.core.Core`.

``SarvanClient`` (scripts, threads) and ``AsyncSarvanClient`` (services) share every
decision; they differ only in the transport (requests vs aiohttp) and in awaiting.
Construction reads the settings (environment, ``.env``, keyword overrides) and validates
them; no network call happens before the first request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequestError, ProviderError
from .settings import DEFAULT_ENV_FILE, Settings
from .types import LLMRequest, LLMResponse, ProviderHealth, ProviderName, StreamChunk

if TYPE_CHECKING:
    from .embedding import EmbeddingResponse

# The routing machinery is imported when the first client is built, not by
# ``import sarvanom_sdk`` (the import stays light).

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    from .clock import Clock
    from .layers.retry import RetryPolicy
    from .stack import Layer

    class RequestOptions(TypedDict, total=False):
        """The keyword arguments of ``complete()``/``stream()``: LLMRequest's fields."""

        messages: Any
        system: str | None
        max_tokens: int
        temperature: float
        model: str | None
        provider: str | ProviderName | None
        cache: bool
        timeout: float | None
        tier: str | None
        hedge: bool | None
        trace_id: str
        stream_recovery: str | None
        on_content_filter: str | None
        tools: Any
        tool_choice: Any
        parallel_tool_calls: bool | None
        response_format: Any
        stop: str | Sequence[str] | None
        top_p: float | None
        seed: int | None
        presence_penalty: float | None
        frequency_penalty: float | None


_FIELDS = frozenset(LLMRequest.__dataclass_fields__) - {"prompt"}


def make_request(prompt: str | LLMRequest | None, options: Mapping[str, Any]) -> LLMRequest:
    """An LLMRequest from ``complete()``'s arguments (validated; no network)."""
    if not options:
        return prompt if isinstance(prompt, LLMRequest) else LLMRequest(prompt=prompt)
    for name in options:
        if name not in _FIELDS:
            unknown = sorted(set(options) - _FIELDS)[0]
            raise InvalidRequestError(
                unknown, f"not a request field; allowed: {', '.join(sorted(_FIELDS))}"
            )
    if isinstance(prompt, LLMRequest):
        return replace(prompt, **options) if options else prompt
    return LLMRequest(prompt=prompt, **options)


class _ClientBase:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        layers: Sequence[Layer] = (),
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        transport: Any = None,
        env_file: str | None = DEFAULT_ENV_FILE,  # ./.env, untrusted for redirection
        tracer_provider: Any = None,
        **overrides: Any,
    ) -> None:
        """``settings`` (default: from the environment and ``env_file``), with
        ``overrides`` (Settings field names, e.g. ``total_timeout=10``) applied.
        ``tracer_provider``: an OpenTelemetry tracer provider to trace with (by default
        the global one, when the application uses OpenTelemetry; see :mod:`telemetry`)."""
        from .core import Core
        if settings is None:
            settings = Settings.from_env(env_file=env_file, **overrides)
        elif overrides:
            settings = settings.replace(**overrides)
        self._core = Core.build(
            settings, layers=layers, clock=clock, retry=retry, tracer_provider=tracer_provider
        )
        self._transport = transport

    @property
    def settings(self) -> Settings:
        return self._core.settings

    def _embed_flow(self, texts: Any, options: dict[str, Any]) -> Any:
        """The embedding flow for ``embed()``'s arguments (validated: no network yet);
        the embedding machinery is built on the first call (issue 15 item 1)."""
        from .embedding import EmbeddingRequest

        request = EmbeddingRequest(texts, **{k: v for k, v in options.items() if v is not None})
        embedder = self.__dict__.get("_embedder")
        if embedder is None:
            from .embedflow import Embedder

            embedder = self.__dict__.setdefault("_embedder", Embedder(self._core))
        return embedder.flow(request)

    @property
    def router(self) -> Any:
        """The routing machinery (chain, breakers, health); for tools and tests."""
        return self._core.router

    def get_provider_health(self) -> dict[str, ProviderHealth]:
        """Each configured provider's health, from the calls made so far."""
        return self._core.health()

    def available_providers(self) -> list[str]:
        return self._core.available_providers()

    def health_report(self) -> dict[str, Any]:
        """The seed's health JSON (status, timestamp, gpu_providers)."""
        return self._core.health_report(self._core.router.clock.wall())

    def __repr__(self) -> str:
        chain = " -> ".join([*(p.value for p in self._core.router.chain), "local_stub"])
        return f"{type(self).__name__}(chain={chain})"


class SarvanClient(_ClientBase):
    """The sync client. Thread-safe; reuse one per process.

    >>> client = SarvanClient()
    >>> resp = client.complete("What is the capital of France?", max_tokens=100)
    >>> resp.provider.value, resp.content  # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        from .runners import run
        from .stack import compose

        router = self._core.router
        self._handler = compose(
            self._core.layers,
            lambda request: run(router.complete_flow(request), self._sync_transport()),
        )

    def _sync_transport(self) -> Any:
        if self._transport is None:
            from .transports.requests_transport import RequestsTransport

            self._transport = RequestsTransport(
                connect_timeout=self.settings.connect_timeout,
                max_response_bytes=self.settings.max_response_bytes,
            )
        return self._transport

    def complete(
        self, prompt: str | LLMRequest | None = None, **options: Unpack[RequestOptions]
    ) -> LLMResponse:
        """Answer ``prompt`` (or ``messages=[...]``) through the chain; ``options`` are
        :class:`LLMRequest` fields. Always returns a response (the stub's when no provider
        answered) unless the request is invalid (:class:`InvalidRequestError`) or strict
        mode is on (:class:`AllProvidersFailed`)."""
        request = make_request(prompt, options)
        return self._core.finish(request, self._handler(request))

    def stream(
        self, prompt: str | LLMRequest | None = None, **options: Unpack[RequestOptions]
    ) -> SyncStream:
        """Stream the answer: iterate the returned object for :class:`StreamChunk` values;
        ``.response`` holds the final :class:`LLMResponse` after the iteration ends."""
        from .runners import drive

        request = make_request(prompt, options)
        items = drive(self._core.router.stream_flow(request), self._sync_transport())
        tracing = self._core.tracing
        return SyncStream(items if tracing is None else tracing.wrap_stream(request, items))

    def embed(
        self,
        texts: str | Sequence[str],
        model: str | None = None,
        dimensions: int | None = None,
        *,
        provider: str | ProviderName | None = None,
        cache: bool = True,
        timeout: float | None = None,
        trace_id: str | None = None,
    ) -> EmbeddingResponse:
        """One vector per text, all from one provider and model (named on the response),
        free first through the chain. Raises :class:`InvalidRequestError` before any
        network call for bad arguments, and :class:`AllProvidersFailed` when no provider
        answered (the stub never answers embeddings, strict mode or not)."""
        from .runners import run

        options = {"model": model, "dimensions": dimensions, "provider": provider,
                   "cache": cache, "timeout": timeout, "trace_id": trace_id}
        return run(self._embed_flow(texts, options), self._sync_transport())  # type: ignore[return-value]

    def get_provider_health(self, probe: bool = False) -> dict[str, ProviderHealth]:
        """Health of each configured provider; ``probe=True`` first calls each provider's
        health endpoint (concurrently, a few seconds at most)."""
        if probe:
            targets = self._core.probe_targets()
            if targets:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                    list(pool.map(lambda t: self._probe(*t), targets))
        return self._core.health()

    def _probe(self, provider: Any, call: Any) -> None:
        started = time.monotonic()
        try:
            reply = self._sync_transport().send(call, self._core.probe_timeout)
        except ProviderError as error:
            self._core.record_probe(provider, None, error, 0.0)
            return
        self._core.record_probe(provider, reply, None, (time.monotonic() - started) * 1000)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def __enter__(self) -> SarvanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSarvanClient(_ClientBase):
    """The async client, for services. One per process; safe across ``asyncio.run()``
    calls (it makes a new connection pool for each event loop)."""

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if self._transport is None:
            from .transports.aiohttp_transport import AiohttpTransport

            self._transport = AiohttpTransport(
                connect_timeout=self.settings.connect_timeout,
                max_response_bytes=self.settings.max_response_bytes,
            )
        from .runners import arun
        from .stack import acompose

        router, transport = self._core.router, self._transport
        self._handler = acompose(
            self._core.layers, lambda request: arun(router.complete_flow(request), transport)
        )

    async def complete(
        self, prompt: str | LLMRequest | None = None, **options: Unpack[RequestOptions]
    ) -> LLMResponse:
        """The async twin of :meth:`SarvanClient.complete` (same arguments and result)."""
        request = make_request(prompt, options)
        return self._core.finish(request, await self._handler(request))

    def stream(
        self, prompt: str | LLMRequest | None = None, **options: Unpack[RequestOptions]
    ) -> AsyncStream:
        """``async with client.stream(...) as s: async for chunk in s: ...``; then
        ``s.response``. Leaving the block early closes the provider connection."""
        from .runners import adrive

        request = make_request(prompt, options)
        items = adrive(self._core.router.stream_flow(request), self._transport)
        tracing = self._core.tracing
        return AsyncStream(items if tracing is None else tracing.awrap_stream(request, items))

    async def embed(
        self,
        texts: str | Sequence[str],
        model: str | None = None,
        dimensions: int | None = None,
        *,
        provider: str | ProviderName | None = None,
        cache: bool = True,
        timeout: float | None = None,
        trace_id: str | None = None,
    ) -> EmbeddingResponse:
        """The async twin of :meth:`SarvanClient.embed` (same arguments and result)."""
        from .runners import arun

        options = {"model": model, "dimensions": dimensions, "provider": provider,
                   "cache": cache, "timeout": timeout, "trace_id": trace_id}
        return await arun(self._embed_flow(texts, options), self._transport)  # type: ignore[return-value]

    async def get_provider_health(self, probe: bool = False) -> dict[str, ProviderHealth]:  # type: ignore[override]
        if probe:
            import asyncio

            targets = self._core.probe_targets()
            await asyncio.gather(*(self._probe(p, call) for p, call in targets))
        return self._core.health()

    async def _probe(self, provider: Any, call: Any) -> None:
        started = time.monotonic()
        try:
            reply = await self._transport.send(call, self._core.probe_timeout)
        except ProviderError as error:
            self._core.record_probe(provider, None, error, 0.0)
            return
        self._core.record_probe(provider, reply, None, (time.monotonic() - started) * 1000)

    async def close(self) -> None:
        from .runners import cancel_background

        await cancel_background()  # health probes of open breakers (issue 13 item 8)
        await self._transport.close()

    async def __aenter__(self) -> AsyncSarvanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SyncStream:
    """A streamed answer (sync). Iterate once; use as a context manager to close the
    provider connection when leaving early."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self.response: LLMResponse | None = None

    def __iter__(self) -> Iterator[StreamChunk]:
        for item in self._items:
            if type(item) is LLMResponse:
                self.response = item
            else:
                yield item

    @property
    def text(self) -> str:
        return self.response.content if self.response else ""

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream:
    """A streamed answer (async). ``async with`` closes it; iterate with ``async for``."""

    def __init__(self, items: AsyncIterator[Any]) -> None:
        self._items = items
        self.response: LLMResponse | None = None

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[StreamChunk]:
        async for item in self._items:
            if type(item) is LLMResponse:
                self.response = item
            else:
                yield item

    async def aclose(self) -> None:
        aclose = getattr(self._items, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
