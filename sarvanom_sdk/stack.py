"""The layer protocol: request-level middleware around ``complete()``.

A layer sees every ``complete()`` call and decides what to do before and after the rest
of the stack (``call_next``). Layers are composed once, when the client is built; the
first given is the outermost. The SDK's own response cache is such a layer; the routing
(deadline, fallback, cost gate, retry, breaker, attempt timeout) is the innermost handler.

Write a layer either as :class:`HookLayer` (``before``/``after``, used by both clients), or
implement both ``handle`` and ``handle_async`` for full control (``handle_async`` may be
a plain function returning an awaitable, e.g. ``call_next(request)`` itself when the layer
has nothing to do after it: one suspended coroutine less per call)::

    class Tagging(HookLayer):
        def after(self, request, response):
            log.info("answered by %s", response.provider.value)
            return response

    client = SarvanClient(layers=[Tagging()])

Streams (``stream()``) pass through the cache and the routing but not through layers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from .types import LLMRequest, LLMResponse

Handler = Callable[[LLMRequest], LLMResponse]
AsyncHandler = Callable[[LLMRequest], Awaitable[LLMResponse]]


@runtime_checkable
class Layer(Protocol):
    def handle(self, request: LLMRequest, call_next: Handler) -> LLMResponse: ...

    def handle_async(
        self, request: LLMRequest, call_next: AsyncHandler
    ) -> Awaitable[LLMResponse]:
        """An ``async def`` method, or one that returns the next awaitable itself."""
        ...


class HookLayer:
    """A layer written once as two hooks, for both clients.

    ``before`` may answer the request itself (return a response) or return None to go on;
    ``after`` may replace the response.
    """

    def before(self, request: LLMRequest) -> LLMResponse | None:
        return None

    def after(self, request: LLMRequest, response: LLMResponse) -> LLMResponse:
        return response

    def handle(self, request: LLMRequest, call_next: Handler) -> LLMResponse:
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, call_next(request))

    async def handle_async(self, request: LLMRequest, call_next: AsyncHandler) -> LLMResponse:
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, await call_next(request))


def compose(layers: Sequence[Layer], terminal: Handler) -> Handler:
    handler = terminal
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def acompose(layers: Sequence[Layer], terminal: AsyncHandler) -> AsyncHandler:
    handler = terminal
    for layer in reversed(layers):
        handler = _abind(layer, handler)
    return handler


def _bind(layer: Layer, call_next: Handler) -> Handler:
    handle = layer.handle
    return lambda request: handle(request, call_next)


def _abind(layer: Layer, call_next: AsyncHandler) -> AsyncHandler:
    handle = layer.handle_async
    return lambda request: handle(request, call_next)
