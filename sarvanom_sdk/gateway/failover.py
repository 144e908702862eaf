"""How the gateway tells callers about failover (issue 13): refusals in OpenAI's shape, the
stream recovery policy on the wire, and the one rule for a stream's end.

* **Content filter** (:class:`~sarvanom_sdk.errors.ContentFiltered`, raised by the SDK
  unless ``on_content_filter="fallback"``): 400 ``{"error": {..., "type":
  "invalid_request_error", "code": "content_filter"}}`` carrying the provider's reason;
  after a stream began, the same error object as its last event (never ``[DONE]``).
* **Context length on every provider**: when every provider that was tried refused the
  request as too long for its context window, the stub's placeholder (or a strict
  client's 503) would hide the cause: 400 ``context_length_exceeded`` (``param:
  "messages"``) with each provider's reason instead, as OpenAI answers it.
* **Stream recovery** (``stream_recovery``: the client's ``SARVANOM_STREAM_RECOVERY``, or
  the request's ``"stream_recovery"`` field when the caller policy allows it): every
  streamed answer carries ``x-sarvanom-stream-recovery: raise|restart|continue``. On a
  restart the stream carries the SSE comment ``: sarvanom.restart {"provider": ...,
  "model": ...}``: discard every content delta received so far; the next chunks are the
  new provider's whole answer (their ``model`` names it). A comment, because an SSE
  comment is what every SSE reader skips: the official ``openai`` client parses the data
  of *named* events too (``event: x`` with a data line would reach the caller as a broken
  chunk), but drops comments — so a plain OpenAI client sees the old text followed by the
  new one. A caller that cannot discard should use ``raise`` (the default: the cut ends
  with an error) or ``continue`` (the next provider continues the text; nothing to
  discard).
* **A stream's end**: ``data: [DONE]`` only after a complete answer. Anything else that
  ends a begun stream — the SDK's :class:`~sarvanom_sdk.errors.StreamInterrupted`, a
  content filter, the request's deadline, even a gateway bug — ends it with an error event
  in OpenAI's shape (the official client raises ``APIError``), because an OpenAI client
  takes a body that just stops for a complete answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence

from ..errors import ContentFiltered, StreamInterrupted
from ..types import Attempt, AttemptOutcome, LLMResponse, ProviderName, StreamChunk
from .limits import GatewayError

#: The response header announcing a streamed answer's recovery policy.
RECOVERY_HEADER = "x-sarvanom-stream-recovery"
#: The SSE comment that starts a restarted answer.
RESTART_COMMENT = "sarvanom.restart"
_STUB = ProviderName.LOCAL_STUB


class ContentRefused(GatewayError):
    """400 ``content_filter``; ``filtered`` keeps the SDK's error for endpoints that answer
    a refusal in their own protocol's way (Anthropic's ``stop_reason: "refusal"``)."""

    def __init__(self, filtered: ContentFiltered) -> None:
        who = f"{filtered.provider}: " if filtered.provider else ""
        super().__init__(
            400, f"refused by the provider's content filter ({who}{filtered.reason})",
            code="content_filter",
        )
        self.filtered = filtered


def refused(error: ContentFiltered) -> ContentRefused:
    """400 ``content_filter`` with the provider's reason."""
    return ContentRefused(error)


def context_exhausted(attempts: Sequence[Attempt]) -> GatewayError | None:
    """400 ``context_length_exceeded`` when every failed attempt was a context-length
    refusal (at least one); None otherwise."""
    failed = [a for a in attempts if a.outcome is AttemptOutcome.FAILED]
    if not failed or any(a.error_type != "context_length" for a in failed):
        return None
    reasons = "; ".join(f"{a.provider.value}: {a.reason}" for a in failed)
    return GatewayError(
        400,
        f"the request does not fit the context window of any provider tried ({reasons})",
        code="context_length_exceeded",
        param="messages",
    )


def check_answer(response: LLMResponse) -> None:
    """Raise :func:`context_exhausted`'s 400 when the stub answered only because every
    provider found the request too long."""
    if response.provider is _STUB:
        exhausted = context_exhausted(response.attempts)
        if exhausted is not None:
            raise exhausted


async def settled(
    rest: AsyncIterator[StreamChunk], response: Callable[[], LLMResponse | None]
) -> AsyncIterator[StreamChunk]:
    """The stub's stream read to its end (it does no I/O) and checked with
    :func:`check_answer` before any byte is sent; its chunks, replayed."""
    chunks = [chunk async for chunk in rest]
    final = response()
    if final is not None:
        check_answer(final)
    return _replay(chunks)


async def _replay(chunks: list[StreamChunk]) -> AsyncIterator[StreamChunk]:
    for chunk in chunks:
        yield chunk


def ending(error: BaseException, provider: ProviderName, limit: float) -> GatewayError:
    """The error event that ends a begun stream (see the module docstring)."""
    if isinstance(error, ContentFiltered):
        return refused(error)
    if isinstance(error, StreamInterrupted):
        return GatewayError(502, str(error), code="stream_interrupted")
    if isinstance(error, asyncio.TimeoutError):
        return GatewayError(
            502,
            f"the answer from {provider.value} was still running at the request's deadline "
            f"of {limit:g}s",
            code="stream_interrupted",
        )
    return GatewayError(500, "internal error: the answer ended early", code="internal_error")


def restart_comment(provider: ProviderName | None, model: str) -> bytes:
    """The SSE comment announcing a restarted answer (see the module docstring)."""
    detail = {"provider": provider.value if provider else None, "model": model}
    return f": {RESTART_COMMENT} {json.dumps(detail)}\n\n".encode()
