"""OpenTelemetry tracing (the optional ``otel`` extra): a span per ``complete()`` and
``stream()`` with a child span per provider attempt, named and attributed by the
OpenTelemetry GenAI semantic conventions, plus the SDK's own attributes.

When is it on? :func:`tracing_for` decides once, when a client is built:

* ``tracer_provider=`` given to the client: on, with that provider;
* else, if the application set a global tracer provider (``trace.set_tracer_provider``,
  or ``opentelemetry-instrument``) *before building the client*: on, with that provider;
* ``OTEL_SDK_DISABLED=true`` (the standard OpenTelemetry switch): off, always.

Otherwise tracing is off and costs nothing: no layer or observer is installed, this
module imports no OpenTelemetry code that the application has not imported already, and
``import sarvanom_sdk`` never imports it.

Spans:

* ``sarvanom <operation>`` (INTERNAL): the whole call, through cache, fallback and stub.
  ``gen_ai.operation.name``, ``gen_ai.request.max_tokens``/``temperature``,
  ``gen_ai.system`` and ``gen_ai.response.model`` of the provider that answered,
  ``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.response.finish_reasons``;
  ``sarvanom.provider``, ``sarvanom.fallback`` (``none``, ``next_provider``, ``stale``,
  ``stub``), ``sarvanom.cache`` (``hit``, ``miss``, ``stale``, ``off``),
  ``sarvanom.trace_id``; ``error.type`` when the call raised. Skipped providers (breaker
  open, paid off, busy) are span events ``sarvanom.provider.skipped``.
* ``chat <model>`` (CLIENT), one per attempt that reached a provider:
  ``gen_ai.system``, ``gen_ai.request.model``, ``sarvanom.attempt.outcome``,
  ``sarvanom.attempt.reason``, ``http.response.status_code``, and ``error.type`` (the
  attempt's typed cause when known, else ``provider_error``) with an ERROR status. The
  attempt that answered also carries the response's model and usage.

No prompt text, answer text or key is ever put on a span.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .stack import AsyncHandler, Handler
from .types import Attempt, AttemptOutcome, LLMRequest, LLMResponse, ProviderName

#: ``gen_ai.system`` for each provider: the conventions' well-known values where they
#: exist (openai, anthropic), the provider's own name otherwise.
GEN_AI_SYSTEM: Mapping[ProviderName, str] = {
    ProviderName.OLLAMA_LOCAL: "ollama",
    ProviderName.REMOTE_GPU: "sarvanom.remote_gpu",
    ProviderName.HUGGINGFACE: "huggingface",
    ProviderName.OPENAI: "openai",
    ProviderName.ANTHROPIC: "anthropic",
    ProviderName.LOCAL_STUB: "sarvanom.local_stub",
}

#: The most calls whose spans are open at once; past it, the oldest is ended (a client
#: leaking never-finished streams cannot grow this without bound).
MAX_OPEN_CALLS = 10_000


def tracing_for(
    default_models: Mapping[ProviderName, str], tracer_provider: Any = None
) -> Tracing | None:
    """A :class:`Tracing` when OpenTelemetry is in use (see the module docstring), else
    None. Never imports OpenTelemetry when the application has not."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if tracer_provider is None and "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    from ._version import __version__

    provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None  # imported (perhaps by another library), but never configured
    return Tracing(provider.get_tracer("sarvanom_sdk", __version__), default_models)


class _Call:
    """One traced call: its span and the answering attempt's timing, kept until the
    response is known (so that span can carry the response's model and usage)."""

    __slots__ = ("span", "answered", "first_provider")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.answered: tuple[Attempt, int] | None = None
        self.first_provider: ProviderName | None = None


class Tracing:
    """Creates the spans. One per client; thread- and task-safe (calls are keyed by the
    request's trace id, which is unique per call)."""

    def __init__(self, tracer: Any, default_models: Mapping[ProviderName, str]) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._tracer = tracer
        self._models = dict(default_models)
        self._calls: dict[str, _Call] = {}

    # -- the whole call -----------------------------------------------------------------
    def layer(self) -> TracingLayer:
        """The outermost layer of ``complete()``: one span around everything."""
        return TracingLayer(self)

    def begin(self, request: LLMRequest, operation: str) -> Any:
        span = self._tracer.start_span(
            f"sarvanom {operation}",
            kind=self._trace.SpanKind.INTERNAL,
            attributes=_request_attributes(request, operation),
        )
        if len(self._calls) >= MAX_OPEN_CALLS:
            oldest = next(iter(self._calls))
            self._calls.pop(oldest).span.end()
        self._calls[request.trace_id] = _Call(span)
        return span

    def finish(self, request: LLMRequest, response: LLMResponse) -> None:
        call = self._calls.pop(request.trace_id, None)
        if call is None:
            return
        span = call.span
        span.set_attributes(_response_attributes(request, response, call.first_provider))
        if call.answered is not None:
            attempt, end_ns = call.answered
            self._attempt_span(span, request, attempt, end_ns, response)
        if not response.success:
            span.set_status(self._error_status("no provider answered"))
        span.end()

    def fail(self, request: LLMRequest, error: BaseException, **attributes: Any) -> None:
        call = self._calls.pop(request.trace_id, None)
        if call is None:
            return
        span = call.span
        span.set_attribute("error.type", type(error).__qualname__)
        for key, value in attributes.items():
            span.set_attribute(key, value)
        if not isinstance(error, GeneratorExit):
            span.record_exception(error)
            span.set_status(self._error_status(type(error).__name__))
        span.end()

    def _error_status(self, description: str) -> Any:
        return self._trace.Status(self._trace.StatusCode.ERROR, description)

    # -- attempts (a router observer) ---------------------------------------------------
    def on_attempt(self, attempt: Attempt, request: LLMRequest) -> None:
        call = self._calls.get(request.trace_id)
        if call is None:
            return
        if attempt.provider is ProviderName.LOCAL_STUB:
            return
        if attempt.outcome is AttemptOutcome.SKIPPED:
            call.span.add_event(
                "sarvanom.provider.skipped",
                {"sarvanom.provider": attempt.provider.value, "sarvanom.reason": attempt.reason},
            )
            return
        if call.first_provider is None:
            call.first_provider = attempt.provider
        now = time.time_ns()
        if attempt.outcome is AttemptOutcome.OK:
            call.answered = (attempt, now)  # its span waits for the response
        else:
            self._attempt_span(call.span, request, attempt, now, None)

    def _attempt_span(
        self,
        parent: Any,
        request: LLMRequest,
        attempt: Attempt,
        end_ns: int,
        response: LLMResponse | None,
    ) -> None:
        model = request.model or self._models.get(attempt.provider, "")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": GEN_AI_SYSTEM[attempt.provider],
            "gen_ai.request.model": model,
            "sarvanom.provider": attempt.provider.value,
            "sarvanom.attempt.outcome": attempt.outcome.value,
            "sarvanom.attempt.reason": attempt.reason,
        }
        if attempt.status is not None:
            attributes["http.response.status_code"] = attempt.status
        if response is not None:
            attributes.update(_usage_attributes(response))
        span = self._tracer.start_span(
            f"chat {model}".strip(),
            context=self._trace.set_span_in_context(parent),
            kind=self._trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=end_ns - int(attempt.latency_ms * 1_000_000),
        )
        if attempt.outcome is AttemptOutcome.FAILED:
            error_type = getattr(attempt, "error_type", None) or "provider_error"
            span.set_attribute("error.type", error_type)
            span.set_status(self._error_status(attempt.reason))
        span.end(end_time=end_ns)

    # -- streams ------------------------------------------------------------------------
    def wrap_stream(self, request: LLMRequest, items: Iterator[Any]) -> Iterator[Any]:
        """``items`` (a sync stream's chunks then its response) inside a span that ends
        with the stream, however it ends."""
        self.begin(request, "stream")  # attempts find their parent by the trace id
        try:
            for item in items:
                if type(item) is LLMResponse:
                    self.finish(request, item)
                yield item
        except BaseException as error:
            self.fail(request, error, **_abandoned(error))
            raise
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    async def awrap_stream(
        self, request: LLMRequest, items: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """The async twin of :meth:`wrap_stream`."""
        self.begin(request, "stream")
        try:
            async for item in items:
                if type(item) is LLMResponse:
                    self.finish(request, item)
                yield item
        except BaseException as error:
            self.fail(request, error, **_abandoned(error))
            raise
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()


class TracingLayer:
    """The span around ``complete()``, for both clients."""

    def __init__(self, tracing: Tracing) -> None:
        self._tracing = tracing

    def handle(self, request: LLMRequest, call_next: Handler) -> LLMResponse:
        tracing = self._tracing
        span = tracing.begin(request, "complete")
        try:
            with tracing._trace.use_span(span, end_on_exit=False):
                response = call_next(request)
        except BaseException as error:
            tracing.fail(request, error)
            raise
        tracing.finish(request, response)
        return response

    async def handle_async(self, request: LLMRequest, call_next: AsyncHandler) -> LLMResponse:
        tracing = self._tracing
        span = tracing.begin(request, "complete")
        try:
            with tracing._trace.use_span(span, end_on_exit=False):
                response = await call_next(request)
        except BaseException as error:
            tracing.fail(request, error)
            raise
        tracing.finish(request, response)
        return response


def incoming_context(headers: Mapping[str, str]) -> Any:
    """The trace context an incoming request carries (``traceparent``), to attach while a
    gateway handles it; None when OpenTelemetry is not in use."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import propagate

    return propagate.extract(headers)


@contextmanager
def continued_trace(headers: Mapping[str, str]) -> Iterator[None]:
    """While the block runs, spans started in it continue the request's ``traceparent``
    (a no-op when OpenTelemetry is not in use or the request carries none)."""
    if "traceparent" not in headers:
        yield
        return
    context = incoming_context(headers)
    if context is None:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def _request_attributes(request: LLMRequest, operation: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.max_tokens": request.max_tokens,
        "gen_ai.request.temperature": request.temperature,
        "sarvanom.operation": operation,
        "sarvanom.trace_id": request.trace_id,
    }
    if request.model is not None:
        attributes["gen_ai.request.model"] = request.model
    if request.provider is not None:
        attributes["sarvanom.request.provider"] = request.provider.value
    return attributes


def _response_attributes(
    request: LLMRequest, response: LLMResponse, first_provider: ProviderName | None
) -> dict[str, Any]:
    if response.cached:
        fallback = "stale" if response.stale else "none"
        cache = "stale" if response.stale else "hit"
    else:
        cache = "miss" if request.cache else "off"
        if response.provider is ProviderName.LOCAL_STUB:
            fallback = "stub"
        elif first_provider is not None and response.provider is not first_provider:
            fallback = "next_provider"
        else:
            fallback = "none"
    attributes: dict[str, Any] = {
        "gen_ai.system": GEN_AI_SYSTEM[response.provider],
        "sarvanom.provider": response.provider.value,
        "sarvanom.fallback": fallback,
        "sarvanom.cache": cache,
    }
    attributes.update(_usage_attributes(response))
    return attributes


def _usage_attributes(response: LLMResponse) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if response.model:
        attributes["gen_ai.response.model"] = response.model
    if response.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = (response.finish_reason,)
    if response.usage is not None:
        attributes["gen_ai.usage.input_tokens"] = response.usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = response.usage.completion_tokens
    return attributes


def _abandoned(error: BaseException) -> dict[str, Any]:
    """A stream left early by its caller is no error of the SDK's: say so on the span."""
    if isinstance(error, GeneratorExit):
        return {"sarvanom.stream.abandoned": True}
    return {}
