"""The streaming flow: commit to a provider at its first content, relay the rest, and at a
cut ask the recovery policy (:mod:`recovery`) what to do.

Before the first content a failure or silence (the first-token timeout) moves on to the
next provider, unseen by the caller. After it, the stream is bounded twice (issue 13 item
4, F6): by the request's total deadline, whatever the provider sends, and by the stream
idle timeout (``SARVANOM_STREAM_IDLE_TIMEOUT_SECONDS``) between *content* events — SSE
keep-alive comments and empty events do not reset it. A failure after the commit is a cut:
its delivered text is booked (F8), the breaker counts it unless the caller caused it (F5),
and the recovery policy decides: raise :class:`StreamInterrupted` (the default), restart
on the next provider, or continue there from the text delivered so far.

These are flow steps of :class:`~sarvanom_sdk.router.Router` (each takes it first), kept
apart because a stream's life after its commit is a concern of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from .answers import checked_answer
from .chat import ToolCallDelta, as_deltas, assemble_tool_calls
from .effects import CloseStream, Emit, OpenStream, Read
from .endpoints import Admitted
from .errors import (
    AllProvidersFailed,
    BadResponseError,
    ContentFiltered,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    StreamInterrupted,
    StreamStalled,
    raise_if_refusal,
)
from .http import HttpReply
from .layers.cache import served_from_cache
from .providers.base import Completion, StreamEvent
from .recovery import Attempter, RestartRecovery, recovery_for
from .types import Attempt, LLMRequest, LLMResponse, ProviderName, StreamChunk

if TYPE_CHECKING:
    from .router import Router

FlowGen = Generator[Any, Any, Any]
logger = logging.getLogger("sarvanom_sdk")
_STUB = ProviderName.LOCAL_STUB
_RESTART = RestartRecovery()
_CONTINUE = recovery_for("continue")


@dataclass(slots=True)
class OpenedStream:
    """A provider stream after its first content: the rest is read by the flow.

    ``restart``: the caller must discard what it holds (a restarted answer); ``continued``:
    the provider was sent the text so far as a prefill and continues it."""

    stream: Any
    decoder: Any
    events: list[StreamEvent]
    restart: bool = False
    continued: bool = False
    commit_reason: str = "streaming"


@dataclass(slots=True)
class _Sent:
    """What the caller holds: the text, reasoning and tool-call deltas of every chunk
    emitted since the last restart."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[ToolCallDelta] = field(default_factory=list)

    def clear(self) -> None:
        self.text.clear()
        self.reasoning.clear()
        self.tool_calls.clear()


class _Cut(Exception):
    """A committed stream failed; carries the error the caller gets if nothing recovers."""

    def __init__(self, interrupted: StreamInterrupted) -> None:
        super().__init__(str(interrupted))
        self.interrupted = interrupted


def stream_flow(router: Router, request: LLMRequest) -> FlowGen:
    started = router.clock.monotonic()
    key = router.cache_key(request)
    if key is not None:
        hit = router.cache.get_fresh(key)
        if hit is not None:
            yield Emit(_whole(hit))
            return served_from_cache(hit, request, stale=False, latency_ms=router._ms(started))
    trail: list[Attempt] = []
    order = router._candidates(request, trail)
    deadline = started + (request.timeout or router.settings.total_timeout)
    recovery = recovery_for(request.stream_recovery or router.settings.stream_recovery)
    attempt: Attempter = partial(stream_attempt, router)
    sent = _Sent()
    cut: _Cut | None = None
    continued = False
    while True:
        routed = yield from router._route(request, started, trail, attempt, order, hold=True)
        if routed is None:
            if cut is not None:  # recovery found no provider: the last cut stands
                cut.interrupted.attempts = tuple(trail)
                raise cut.interrupted
            fallback = router.fallback_response(request, trail, started, key)
            if fallback.provider is _STUB and not router._stub_allowed(request):
                raise AllProvidersFailed(trail[:-1], request.trace_id)
            yield Emit(_whole(fallback))
            return fallback
        admitted, opened = routed
        if opened.restart:
            sent.clear()
            yield Emit(StreamChunk(provider=admitted.provider, restart=True))
        continued = continued or opened.continued
        try:
            completion = yield from _relay(
                router, request, admitted, opened, deadline, sent, trail
            )
        except _Cut as error:
            cut = error
            remaining = _after(order, admitted.provider)
            # a half-written tool call cannot be continued as text: start it again
            policy = _RESTART if sent.tool_calls and recovery is _CONTINUE else recovery
            plan = policy.at_cut(router, request, remaining, sent.text, stream_attempt, trail)
            if plan is None:
                raise error.interrupted from error.interrupted.__cause__
            order, attempt = plan
            continue
        response = router._respond(request, admitted, completion, trail, started)
        if key is not None and not continued:  # a stitched answer is not cached
            router.cache.put(key, response)
        return response


def _whole(response: LLMResponse) -> StreamChunk:
    """A whole answer (cached, stale or the stub's) as one chunk."""
    return StreamChunk(
        response.content,
        response.reasoning or "",
        response.provider,
        tool_calls=as_deltas(response.tool_calls),
    )


def _after(order: tuple[ProviderName, ...], provider: ProviderName) -> tuple[ProviderName, ...]:
    """The providers after ``provider`` in ``order`` (the ones recovery may still try)."""
    return order[order.index(provider) + 1 :] if provider in order else ()


def _relay(
    router: Router,
    request: LLMRequest,
    admitted: Admitted,
    opened: OpenedStream,
    deadline: float,
    sent: _Sent,
    trail: list[Attempt],
) -> FlowGen:
    """Emit the committed stream's content to its end (-> the whole answer, checked:
    :func:`~sarvanom_sdk.answers.checked_answer`); raise :class:`_Cut` when it fails,
    after booking and recording the failure."""
    clock, provider = router.clock, admitted.provider
    idle = router.settings.stream_idle_timeout
    committed_at = len(trail) - 1
    last_content = clock.monotonic()
    delivered = 0
    final: StreamEvent | None = None
    events = opened.events
    try:
        while True:
            for event in events:
                if event.text or event.reasoning or event.tool_calls:
                    sent.text.append(event.text)
                    sent.reasoning.append(event.reasoning)
                    sent.tool_calls.extend(event.tool_calls)
                    delivered += len(event.text) + len(event.reasoning)
                    if event.tool_calls:
                        delivered += sum(len(d.arguments) + 1 for d in event.tool_calls)
                    last_content = clock.monotonic()
                    yield Emit(
                        StreamChunk(
                            event.text, event.reasoning, provider, tool_calls=event.tool_calls
                        )
                    )
                if event.done:
                    final = event
            if final is not None:
                break
            wait = _read_limit(clock.monotonic(), last_content, idle, deadline)
            try:
                data = yield Read(opened.stream, wait)
            except ProviderTimeout:
                _read_limit(clock.monotonic() + 1e-3, last_content, idle, deadline)
                raise
            events = opened.decoder.feed(data) if data else opened.decoder.close()
            if not data and not any(e.done for e in events):
                raise ProviderConnectionError("stream ended without its terminator")
        raise_if_refusal(final.finish_reason, provider.value)
        completion = checked_answer(
            request,
            Completion(
                content="".join(sent.text),
                model=final.model,
                usage=final.usage,
                reasoning="".join(sent.reasoning) or None,
                finish_reason=final.finish_reason,
                tool_calls=assemble_tool_calls(sent.tool_calls),
            ),
            provider,
        )
    except ProviderError as error:
        yield CloseStream(opened.stream)
        _cut(router, request, admitted, error, delivered, sent, trail)
    except BaseException:  # the caller left the stream early, or it was cancelled
        admitted.endpoint.circuit.release(admitted.ticket)
        router.gate.forfeit(
            admitted.hold, provider, router.model_of(admitted, request), request, delivered
        )
        raise
    finally:
        admitted.endpoint.bulkhead.leave()
    yield CloseStream(opened.stream)
    _note_skipped(router, opened, trail, committed_at)
    admitted.endpoint.circuit.record_success(admitted.ticket)
    router.health.record_success(provider, router._ms(admitted.begun))
    return completion


def _read_limit(now: float, last_content: float, idle: float, deadline: float) -> float:
    """How long the next read may wait; raise when a limit has already passed: the total
    deadline (:class:`ProviderTimeout`) or the idle limit between content events
    (:class:`StreamStalled`)."""
    if now >= deadline:
        raise ProviderTimeout("total deadline reached while streaming")
    idle_left = last_content + idle - now
    if idle_left <= 0:
        raise StreamStalled(f"stalled: no content for {idle:.1f}s")
    return min(idle_left, deadline - now)


def _cut(
    router: Router,
    request: LLMRequest,
    admitted: Admitted,
    error: ProviderError,
    delivered: int,
    sent: _Sent,
    trail: list[Attempt],
) -> None:
    """Book and record a committed stream's failure, then raise what ends it: the
    provider's refusal (content filter, unless its policy falls over) or :class:`_Cut`."""
    provider = admitted.provider
    partial = "".join(sent.text)
    # after the commit only the total deadline can be the caller's (a stall never is)
    admitted.caller_limited = (
        type(error) is ProviderTimeout
        and request.timeout is not None
        and request.timeout < router.settings.total_timeout
    )
    router.settle_failure(admitted, error, request, max(delivered, 1))
    error_type = error.error_type
    if isinstance(error, ProviderConnectionError):
        error_type = "stream_cut"
    reason = f"stream cut after {delivered} chars: {error.reason}"
    router.record_failure(
        provider, error, reason, router._ms(admitted.begun), request, trail, error_type,
        endpoint=admitted.endpoint,
    )
    if isinstance(error, ContentFiltered):
        router.raise_if_refused(error, request, trail, partial)
    interrupted = StreamInterrupted(
        f"the stream from {provider.value} failed after it began: {error.reason}",
        partial,
        trail,
        request.trace_id,
    )
    interrupted.__cause__ = error
    raise _Cut(interrupted)


def _note_skipped(router: Router, opened: OpenedStream, trail: list[Attempt], at: int) -> None:
    """A stream that skipped malformed events says so in its trail entry and the log
    (issue 13 item 5)."""
    skipped = getattr(opened.decoder, "malformed", 0)
    if not skipped or not 0 <= at < len(trail):
        return
    entry = trail[at]
    trail[at] = replace(entry, reason=f"{entry.reason}; skipped {skipped} malformed event(s)")
    logger.warning(
        "%s: skipped %d malformed stream event(s)",
        entry.provider.value,
        skipped,
        extra={"provider": entry.provider.value, "malformed_events": skipped},
    )


def stream_attempt(
    router: Router, admitted: Admitted, request: LLMRequest, timeout: float, **marks: Any
) -> FlowGen:
    """Open ``request``'s stream on ``admitted`` and read to its first content within the
    first-token timeout (-> :class:`OpenedStream`, with ``marks`` set on it)."""
    adapter = admitted.endpoint.adapter
    ftt = router.settings.first_token_timeout
    limit = min(timeout, ftt)
    admitted.caller_limited = admitted.caller_limited and timeout < ftt
    first_by = router.clock.monotonic() + limit
    opened = yield OpenStream(adapter.build(request, stream=True), limit)
    if type(opened) is HttpReply:
        router._parse(admitted.endpoint, opened)  # raises the provider's error
        raise BadResponseError("not a stream", status=opened.status)
    if "html" in opened.headers.get("content-type", ""):
        yield CloseStream(opened)
        raise BadResponseError(
            "HTML instead of a stream (a tunnel or proxy page?)", status=opened.status
        )
    router._note_quota(admitted.endpoint, opened.headers, opened.status)
    try:
        decoder = adapter.stream_decoder()
        events: list[StreamEvent] = []
        while not any(e.text or e.reasoning or e.tool_calls or e.done for e in events):
            left = first_by - router.clock.monotonic()
            if left <= 0:
                raise ProviderTimeout(f"no first token within {limit:.1f}s")
            data = yield Read(opened, left)
            events = decoder.feed(data) if data else decoder.close()
            if not data and not events:
                raise BadResponseError("stream ended before any content")
        if not any(e.text or e.reasoning or e.tool_calls for e in events):  # no content yet
            for event in events:
                raise_if_refusal(event.finish_reason, admitted.provider.value)
    except ProviderError:
        yield CloseStream(opened)
        raise
    return OpenedStream(opened, decoder, events, **marks)
