"""Run the same scenario on ``SarvanClient`` or ``AsyncSarvanClient``.

A test written once against :class:`Driver` runs on both clients: :class:`SyncDriver`
calls the client directly (threads for concurrency); :class:`AsyncDriver` runs the same
calls on an event loop it owns for the driver's lifetime (``gather`` for concurrency), so
the async client keeps one connection pool across the steps of a scenario, as a service
would. Each driver builds its client from explicit keyword overrides with
``env_file=None``, and closes client and loop in :meth:`Driver.close`.

Only the client calls themselves exist twice (plain and awaited); collecting a stream's
chunks and timing them are shared.
"""

from __future__ import annotations

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sarvanom_sdk import (
    AsyncSarvanClient,
    AsyncStream,
    LLMResponse,
    ProviderHealth,
    SarvanClient,
    SarvanError,
    StreamChunk,
    SyncStream,
)

KINDS = ("sync", "async")
T = TypeVar("T")


@dataclass
class Streamed:
    """What one ``stream()`` call delivered: the chunks (with their arrival times on
    ``time.monotonic``), then either the final response or the SDK error that ended it."""

    chunks: list[StreamChunk] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    response: LLMResponse | None = None
    error: SarvanError | None = None

    @property
    def text(self) -> str:
        return "".join(chunk.text for chunk in self.chunks)

    @property
    def providers(self) -> set[str]:
        """The providers the chunks came from."""
        return {chunk.provider.value for chunk in self.chunks if chunk.provider is not None}

    def add(self, chunk: StreamChunk) -> None:
        self.chunks.append(chunk)
        self.arrivals.append(time.monotonic())

    @classmethod
    @contextmanager
    def of(cls, stream: SyncStream | AsyncStream) -> Iterator[Streamed]:
        """Collect ``stream`` (the body adds the chunks); an SDK error ends the
        collection and is kept; the final response is taken from the stream either way."""
        result = cls()
        try:
            yield result
        except SarvanError as error:
            result.error = error
        finally:
            result.response = stream.response


class Driver(ABC):
    """One client of one kind, driven synchronously by the test."""

    kind: str
    client: Any

    @abstractmethod
    def complete(self, prompt: Any = None, **options: Any) -> LLMResponse:
        """``client.complete(prompt, **options)``; SDK errors propagate."""

    @abstractmethod
    def complete_many(self, prompts: Sequence[str], **options: Any) -> list[LLMResponse]:
        """One ``complete()`` per prompt, all started at once (threads released by one
        barrier, or one ``gather``); the responses in prompt order."""

    @abstractmethod
    def stream(self, prompt: Any = None, **options: Any) -> Streamed:
        """Iterate ``client.stream(...)`` to its end; an SDK error ends it (kept in
        :attr:`Streamed.error`), any other exception propagates."""

    @abstractmethod
    def stream_many(self, prompts: Sequence[str], **options: Any) -> list[Streamed]:
        """One ``stream()`` per prompt, all started at once, read to their ends."""

    @abstractmethod
    def health(self, probe: bool = False) -> dict[str, ProviderHealth]:
        """``client.get_provider_health(probe=probe)``."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"


class SyncDriver(Driver):
    kind = "sync"

    def __init__(self, **settings: Any) -> None:
        self.client = SarvanClient(env_file=None, **settings)

    def complete(self, prompt: Any = None, **options: Any) -> LLMResponse:
        return self.client.complete(prompt, **options)

    def complete_many(self, prompts: Sequence[str], **options: Any) -> list[LLMResponse]:
        return _all_at_once(lambda prompt: self.complete(prompt, **options), prompts)

    def stream_many(self, prompts: Sequence[str], **options: Any) -> list[Streamed]:
        return _all_at_once(lambda prompt: self.stream(prompt, **options), prompts)

    def stream(self, prompt: Any = None, **options: Any) -> Streamed:
        stream = self.client.stream(prompt, **options)
        with Streamed.of(stream) as result, stream:
            for chunk in stream:
                result.add(chunk)
        return result

    def health(self, probe: bool = False) -> dict[str, ProviderHealth]:
        return self.client.get_provider_health(probe=probe)

    def close(self) -> None:
        self.client.close()


class AsyncDriver(Driver):
    kind = "async"

    def __init__(self, **settings: Any) -> None:
        self.client = AsyncSarvanClient(env_file=None, **settings)
        self.loop = asyncio.new_event_loop()

    def run(self, awaitable: Any) -> Any:
        """Run a coroutine on the driver's loop (one loop, one connection pool)."""
        return self.loop.run_until_complete(awaitable)

    def complete(self, prompt: Any = None, **options: Any) -> LLMResponse:
        return self.run(self.client.complete(prompt, **options))  # type: ignore[no-any-return]

    def complete_many(self, prompts: Sequence[str], **options: Any) -> list[LLMResponse]:
        async def all_at_once() -> list[LLMResponse]:
            return list(
                await asyncio.gather(*(self.client.complete(p, **options) for p in prompts))
            )

        return self.run(all_at_once())  # type: ignore[no-any-return]

    def stream(self, prompt: Any = None, **options: Any) -> Streamed:
        return self.run(self._stream(prompt, options))  # type: ignore[no-any-return]

    def stream_many(self, prompts: Sequence[str], **options: Any) -> list[Streamed]:
        async def all_at_once() -> list[Streamed]:
            return list(await asyncio.gather(*(self._stream(p, options) for p in prompts)))

        return self.run(all_at_once())  # type: ignore[no-any-return]

    async def _stream(self, prompt: Any, options: dict[str, Any]) -> Streamed:
        stream = self.client.stream(prompt, **options)
        with Streamed.of(stream) as result:
            async with stream:
                async for chunk in stream:
                    result.add(chunk)
        return result

    def health(self, probe: bool = False) -> dict[str, ProviderHealth]:
        return self.run(self.client.get_provider_health(probe=probe))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(self.client.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


def _all_at_once(call: Callable[[str], T], prompts: Sequence[str]) -> list[T]:
    """``call(prompt)`` for every prompt, each on its own thread, released together."""
    start = threading.Barrier(len(prompts))

    def one(prompt: str) -> T:
        start.wait()
        return call(prompt)

    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        return list(pool.map(one, prompts))


#: The parity fixture ``connect(*emulated_providers, **overrides) -> Driver``.
Connect = Callable[..., Driver]


def open_driver(kind: str, **settings: Any) -> Driver:
    """A driver of ``kind`` ("sync" or "async") over a client built from ``settings``."""
    if kind == "sync":
        return SyncDriver(**settings)
    if kind == "async":
        return AsyncDriver(**settings)
    raise ValueError(f"unknown client kind {kind!r}; expected one of {KINDS}")
