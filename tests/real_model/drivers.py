"""Run the same scenario through ``SarvanClient`` or ``AsyncSarvanClient``.

A test written once against :class:`Driver` runs on both clients: the sync driver calls the
client directly, the async one runs the same steps inside ``asyncio.run``. A scenario is a
list of :class:`Step` values (a ``complete()`` or a ``stream()`` call) made in order on one
client. Each driver builds a fresh client per scenario from explicit keyword overrides
(``env_file=None``, so only what the test names configures the chain), installs a
:class:`RecordingTransport` around the client's real transport (requests or aiohttp) to
record every URL the SDK actually contacted, and closes the client at the end.

Only the client calls themselves exist twice (sync and ``await``); building the client,
recording and collecting the results are shared.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sarvanom_sdk import (
    AsyncSarvanClient,
    LLMResponse,
    ProviderHealth,
    SarvanClient,
    StreamChunk,
)
from sarvanom_sdk.http import HttpCall

__all__ = ["ASYNC", "DRIVERS", "SYNC", "AsyncDriver", "Driver", "Outcome", "RecordingTransport",
           "Run", "Step", "Streamed", "SyncDriver"]


class RecordingTransport:
    """Wraps a real transport (sync or async) and records the URL of every call made.

    The wrapper returns whatever the wrapped method returns, so for the aiohttp transport
    it hands back the coroutine unchanged: the call is recorded when the SDK issues it, and
    the client awaits it as usual. A skipped provider (open circuit, cost gate) leaves no
    entry here: that is how a test proves "no network call".
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.urls: list[str] = []

    def send(self, call: HttpCall, timeout: float) -> Any:
        self.urls.append(call.url)
        return self.inner.send(call, timeout)

    def open_stream(self, call: HttpCall, timeout: float) -> Any:
        self.urls.append(call.url)
        return self.inner.open_stream(call, timeout)

    def close(self) -> Any:
        return self.inner.close()


@dataclass(frozen=True)
class Step:
    """One call in a scenario: ``complete(**request)``, or ``stream(**request)`` read to
    its end."""

    request: Mapping[str, Any]
    stream: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one step gave: the response, and for a stream the chunks it yielded."""

    #: For a stream, ``stream.response`` after the iteration (None would be a bug).
    response: LLMResponse | None
    chunks: list[StreamChunk] | None = None


@dataclass(frozen=True)
class Run:
    """The outcome of a scenario on one client."""

    outcomes: list[Outcome]
    #: Every URL the transport was asked to contact, in order, over all the steps.
    urls: list[str]
    #: ``get_provider_health()`` after the last step.
    health: dict[str, ProviderHealth]
    #: Paid spend booked by the client's cost gate over all the steps.
    spent_usd: float

    @property
    def responses(self) -> list[LLMResponse]:
        """Every step's response (a missing stream response fails here, loudly)."""
        out = [outcome.response for outcome in self.outcomes]
        assert all(r is not None for r in out), "a stream ended without its final response"
        return [r for r in out if r is not None]


@dataclass(frozen=True)
class Streamed:
    """The outcome of a scenario of one ``stream()`` call."""

    chunks: list[StreamChunk]
    response: LLMResponse | None
    urls: list[str]

    @property
    def text(self) -> str:
        return "".join(chunk.text for chunk in self.chunks)


class Driver(ABC):
    """One way of calling the SDK. Subclasses differ only in how they call and await."""

    #: Shown in test ids.
    name: str

    def __repr__(self) -> str:
        return self.name

    @abstractmethod
    def run(self, settings: Mapping[str, Any], steps: Sequence[Step]) -> Run:
        """Build one client from ``settings`` (Settings field names), make each step's
        call on it in order, then read its health and close it."""

    def complete(
        self, settings: Mapping[str, Any], requests: Sequence[Mapping[str, Any]]
    ) -> Run:
        """``complete(**request)`` for each of ``requests``, in order, on one client."""
        return self.run(settings, [Step(request) for request in requests])

    def stream(self, settings: Mapping[str, Any], request: Mapping[str, Any]) -> Streamed:
        """``stream(**request)`` on a new client, read to its end."""
        run = self.run(settings, [Step(request, stream=True)])
        (outcome,) = run.outcomes
        return Streamed(outcome.chunks or [], outcome.response, run.urls)

    @staticmethod
    def _client_kwargs(
        settings: Mapping[str, Any], transport: RecordingTransport
    ) -> dict[str, Any]:
        """The client's constructor arguments: no ``.env`` file, the recording transport."""
        return {"env_file": None, "transport": transport, **settings}

    @staticmethod
    def _run(
        outcomes: list[Outcome], client: Any, transport: RecordingTransport,
        health: dict[str, ProviderHealth],
    ) -> Run:
        return Run(
            outcomes=outcomes,
            urls=list(transport.urls),
            health=health,
            spent_usd=client.router.gate.ledger.spent_usd,
        )


class SyncDriver(Driver):
    """``SarvanClient`` over the requests transport."""

    name = "sync"

    def run(self, settings: Mapping[str, Any], steps: Sequence[Step]) -> Run:
        from sarvanom_sdk.transports.requests_transport import RequestsTransport

        transport = RecordingTransport(RequestsTransport())
        with SarvanClient(**self._client_kwargs(settings, transport)) as client:
            outcomes = [self._step(client, step) for step in steps]
            return self._run(outcomes, client, transport, client.get_provider_health())

    @staticmethod
    def _step(client: SarvanClient, step: Step) -> Outcome:
        if not step.stream:
            return Outcome(client.complete(**step.request))
        with client.stream(**step.request) as stream:
            chunks = list(stream)
        return Outcome(stream.response, chunks)


class AsyncDriver(Driver):
    """``AsyncSarvanClient`` over the aiohttp transport, each scenario in ``asyncio.run``."""

    name = "async"

    def run(self, settings: Mapping[str, Any], steps: Sequence[Step]) -> Run:
        from sarvanom_sdk.transports.aiohttp_transport import AiohttpTransport

        async def scenario() -> Run:
            transport = RecordingTransport(AiohttpTransport())
            async with AsyncSarvanClient(**self._client_kwargs(settings, transport)) as client:
                outcomes = [await self._step(client, step) for step in steps]
                health = await client.get_provider_health()
                return self._run(outcomes, client, transport, health)

        return asyncio.run(scenario())

    @staticmethod
    async def _step(client: AsyncSarvanClient, step: Step) -> Outcome:
        if not step.stream:
            return Outcome(await client.complete(**step.request))
        async with client.stream(**step.request) as stream:
            chunks = [chunk async for chunk in stream]
        return Outcome(stream.response, chunks)


SYNC = SyncDriver()
ASYNC = AsyncDriver()
#: Parametrize a test with this to run it on both clients.
DRIVERS: tuple[Driver, ...] = (SYNC, ASYNC)
