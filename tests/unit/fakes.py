"""In-process fakes for routing tests: a scripted adapter and transport on a fake clock.

Nothing here touches a socket. A "hang" advances the fake clock by the whole timeout the
flow allowed, then raises ProviderTimeout — exactly what a real transport does.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sarvanom_sdk.chat import CAPABILITIES, ToolCall, ToolCallDelta
from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.endpoints import Endpoint
from sarvanom_sdk.errors import BadResponseError, ProviderError, ProviderTimeout, error_for_status
from sarvanom_sdk.health import HealthRegistry
from sarvanom_sdk.http import HttpCall, HttpReply, parse_retry_after
from sarvanom_sdk.layers.breaker import ProviderCircuit
from sarvanom_sdk.layers.bulkhead import Bulkhead
from sarvanom_sdk.layers.cache import CacheLayer, ResponseCache
from sarvanom_sdk.layers.cost import BudgetLedger, CostGate
from sarvanom_sdk.layers.retry import RetryPolicy
from sarvanom_sdk.providers.base import Completion, StreamEvent
from sarvanom_sdk.router import Router
from sarvanom_sdk.runners import run
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.stack import compose
from sarvanom_sdk.types import PAID_PROVIDERS, LLMRequest, ProviderName, Usage

HANG = "hang"


class FakeAdapter:
    """Protocol: body ``b"text"`` is the answer; streams are lines, ``DONE`` ends them, a
    line starting ``:`` is a keep-alive comment, ``FINISH:<reason>`` carries a finish
    reason. ``calls`` keeps every request built (to see prefills).

    Tool calls (issue 14): a body ``TOOLS:[[id, name, arguments], ...]`` is an answer that
    asks for those calls (finish reason ``tool_calls``); a stream line
    ``TOOL:<index>:<id>:<name>:<arguments piece>`` is one tool-call delta (empty id and
    name for a continuation). ``capabilities`` are all of them unless given."""

    def __init__(
        self, name: ProviderName, capabilities: frozenset[str] = frozenset(CAPABILITIES)
    ) -> None:
        self.name = name
        self.paid = name in PAID_PROVIDERS
        self.default_model = f"{name.value}-model"
        self.secrets = ()
        self.accepts_prefill = False
        self.capabilities = capabilities
        self.context_window: int | None = None
        self.requests: list[LLMRequest] = []

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        self.requests.append(request)
        return HttpCall("POST", f"http://fake/{self.name.value}", json={"stream": stream})

    def parse(self, reply: HttpReply) -> Completion:
        if not 200 <= reply.status < 300:
            raise error_for_status(
                reply.status, reply.text(), retry_after=parse_retry_after(reply.headers)
            )
        if not reply.body:
            raise BadResponseError("empty body")
        text = reply.text()
        if text.startswith("TOOLS:"):
            calls = tuple(ToolCall(*call) for call in json.loads(text[6:]))
            return Completion("", usage=Usage(10, 5), finish_reason="tool_calls", tool_calls=calls)
        return Completion(text, usage=Usage(10, 5))

    def stream_decoder(self) -> Any:
        return _LineDecoder()

    def health_call(self) -> HttpCall | None:
        return HttpCall("GET", f"http://fake/{self.name.value}/health")


class _LineDecoder:
    def __init__(self) -> None:
        self.done = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out = []
        for line in data.decode().splitlines():
            if line == "DONE":
                self.done = True
                out.append(StreamEvent(done=True, usage=Usage(1, 2)))
            elif line.startswith("FINISH:"):
                self.done = True
                out.append(StreamEvent(done=True, finish_reason=line[7:]))
            elif line.startswith("TOOL:"):
                index, call_id, name, arguments = line[5:].split(":", 3)
                delta = ToolCallDelta(int(index), call_id or None, name or None, arguments)
                out.append(StreamEvent(tool_calls=(delta,)))
            elif not line.startswith(":"):
                out.append(StreamEvent(text=line))
        return out

    def close(self) -> list[StreamEvent]:
        if not self.done:
            from sarvanom_sdk.errors import ProviderConnectionError

            raise ProviderConnectionError("stream ended before its terminator")
        return []


@dataclass
class FakeStream:
    clock: FakeClock
    chunks: deque[Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    def read(self, timeout: float) -> bytes:
        if not self.chunks:
            return b""
        item = self.chunks.popleft()
        if isinstance(item, float):  # a pause of that many seconds before the next item
            if item > timeout:
                self.clock.advance(timeout)
                raise ProviderTimeout(f"no data for {timeout:.1f}s")
            self.clock.advance(item)
            item = self.chunks.popleft() if self.chunks else b""
        if item == HANG:
            self.clock.advance(timeout)
            raise ProviderTimeout(f"no data for {timeout:.1f}s")
        if isinstance(item, ProviderError):
            raise item
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    """Per-provider scripts of outcomes: an HttpReply, bytes (a 200 body), a ProviderError,
    HANG, or a list of stream chunks. An exhausted script answers ``b"ok from <name>"``."""

    def __init__(self, clock: FakeClock, latency: float = 0.01) -> None:
        self.clock = clock
        self.latency = latency
        self.scripts: dict[str, deque[Any]] = defaultdict(deque)
        self.calls: list[tuple[str, float]] = []
        self.streams: list[FakeStream] = []

    def script(self, provider: ProviderName, *outcomes: Any) -> None:
        self.scripts[provider.value].extend(outcomes)

    def count(self, provider: ProviderName) -> int:
        return sum(1 for name, _ in self.calls if name == provider.value)

    def _next(self, call: HttpCall, timeout: float) -> Any:
        name = call.url.rsplit("/", 1)[-1]
        self.calls.append((name, timeout))
        script = self.scripts[name]
        outcome = script.popleft() if script else f"ok from {name}".encode()
        if outcome == HANG:
            self.clock.advance(timeout)
            raise ProviderTimeout(f"no response within {timeout:.1f}s")
        self.clock.advance(self.latency)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    def send(self, call: HttpCall, timeout: float) -> HttpReply:
        outcome = self._next(call, timeout)
        if isinstance(outcome, bytes):
            return HttpReply(200, {}, outcome)
        return outcome  # type: ignore[no-any-return]

    def open_stream(self, call: HttpCall, timeout: float) -> Any:
        outcome = self._next(call, timeout)
        if isinstance(outcome, HttpReply):
            return outcome
        chunks = outcome if isinstance(outcome, list) else [outcome, b"DONE\n"]
        stream = FakeStream(self.clock, deque(chunks))
        self.streams.append(stream)
        return stream

    def close(self) -> None:
        pass


def reply(status: int, body: str = "", **headers: str) -> HttpReply:
    return HttpReply(status, {k.replace("_", "-"): v for k, v in headers.items()}, body.encode())


class Harness:
    """A Router on fakes, with the cache layer in front, like a client's."""

    def __init__(
        self,
        providers: tuple[ProviderName, ...],
        capabilities: dict[ProviderName, frozenset[str]] | None = None,
        **settings: Any,
    ) -> None:
        """``capabilities``: what a provider's fake adapter declares (default: all)."""
        capabilities = capabilities or {}
        settings.setdefault("enable_paid_api", True)
        settings.setdefault("breaker_probe_interval", 0)  # no background probes unless asked
        self.settings = Settings(**settings)
        self.clock = FakeClock()
        self.transport = FakeTransport(self.clock)
        chain = (*providers, ProviderName.LOCAL_STUB)
        self.circuits = {
            p: ProviderCircuit(
                p.value,
                fail_max=self.settings.circuit_fail_max,
                reset_seconds=self.settings.circuit_reset_seconds,
                clock=self.clock,
            )
            for p in providers
        }
        self.cache = ResponseCache(
            ttl=self.settings.cache_ttl_seconds,
            stale_seconds=self.settings.cache_stale_seconds,
            maxsize=self.settings.cache_maxsize,
            clock=self.clock,
        )
        self.ledger = BudgetLedger(self.settings.budget_usd)
        self.endpoints = {
            p: [
                Endpoint(
                    p,
                    FakeAdapter(p, capabilities.get(p, frozenset(CAPABILITIES))),
                    self.circuits[p],
                    Bulkhead(self.settings.concurrency_limit(p)),
                    f"http://fake/{p.value}",
                )
            ]
            for p in providers
        }
        self.router = Router(
            settings=self.settings,
            chain=chain,
            endpoints=self.endpoints,
            health=HealthRegistry(providers, self.clock),
            gate=CostGate(self.settings.enable_paid_api, self.ledger),
            retry=RetryPolicy(self.settings.max_retries, jitter=lambda v: v),
            cache=self.cache,
            clock=self.clock,
        )
        self.handler = compose(
            [CacheLayer(self.cache, self.router.cache_key, ProviderName.LOCAL_STUB)],
            lambda request: run(
                self.router.complete_flow(request), self.transport, self.clock.advance
            ),
        )

    def complete(self, prompt: str | None = "hello", **options: Any) -> Any:
        if "messages" in options:
            prompt = None
        return self.handler(LLMRequest(prompt=prompt, **options))

    def adapter(self, provider: ProviderName) -> FakeAdapter:
        return self.endpoints[provider][0].adapter  # type: ignore[return-value]
