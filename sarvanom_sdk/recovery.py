"""Stream recovery policies (issue 13 item 3): what the stream flow does when a stream
fails after its first chunk reached the caller. Small strategy objects the flow asks at
the cut; each answers with the providers to try next and how to call them, or None to end
the stream with :class:`~sarvanom_sdk.errors.StreamInterrupted`.

``raise`` (the default)
    Today's contract: the caller gets ``StreamInterrupted`` with the text so far. Nothing
    it has shown is ever silently replaced or extended by another model's words.
``restart``
    Re-run the request on the next providers and stream the whole new answer, after an
    empty chunk with ``restart=True`` telling the caller to discard what it holds; the
    trail entry of the new provider says "restarted".
``continue``
    Send the next provider the conversation plus the text so far as an assistant prefill
    and append its continuation — only to providers whose adapter declares
    ``accepts_prefill`` (Anthropic natively; an OpenAI-compatible server when configured
    so). A provider without prefill, or one that refuses the prefill with a 4xx, is asked
    again without it, as a restart: a prefill refusal is never the caller's final error.
    A stream cut after tool-call deltas restarts instead (half a tool call cannot be
    continued as text).

The cost of every attempt's delivered tokens is booked by the flow (F8), whichever policy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from .endpoints import Admitted
from .errors import ClientRequestError, ProviderTimeout
from .types import Attempt, AttemptOutcome, LLMRequest, Message, ProviderName

if TYPE_CHECKING:
    from .router import Router

FlowGen = Generator[Any, Any, Any]
#: One attempt on an admitted provider: (admitted, request, time limit) -> opened stream.
Attempter = Callable[[Admitted, LLMRequest, float], FlowGen]
#: The stream flow's attempt step: (router, admitted, request, limit, **marks).
StreamAttempt = Callable[..., FlowGen]
Plan = tuple[tuple[ProviderName, ...], Attempter]

RESTARTED = "streaming (restarted after a cut: earlier chunks to be discarded)"


class Recovery(Protocol):
    def at_cut(
        self,
        router: Router,
        request: LLMRequest,
        remaining: tuple[ProviderName, ...],
        sent: Sequence[str],
        attempt: StreamAttempt,
        trail: list[Attempt],
    ) -> Plan | None:
        """The providers to try next and the attempt to make on each, or None to raise.
        ``sent``: the text pieces the caller holds; ``attempt``: the flow's stream step;
        ``trail``: the request's attempt trail."""


class RaiseRecovery:
    def at_cut(self, *args: Any) -> Plan | None:
        return None


class RestartRecovery:
    def at_cut(
        self,
        router: Router,
        request: LLMRequest,
        remaining: tuple[ProviderName, ...],
        sent: Sequence[str],
        attempt: StreamAttempt,
        trail: list[Attempt],
    ) -> Plan | None:
        if not remaining:
            return None

        def restart(admitted: Admitted, req: LLMRequest, timeout: float) -> FlowGen:
            return attempt(router, admitted, req, timeout, restart=True, commit_reason=RESTARTED)

        return remaining, restart


class ContinueRecovery:
    def at_cut(
        self,
        router: Router,
        request: LLMRequest,
        remaining: tuple[ProviderName, ...],
        sent: Sequence[str],
        attempt: StreamAttempt,
        trail: list[Attempt],
    ) -> Plan | None:
        prefix = "".join(sent).rstrip()  # Anthropic refuses a prefill ending in whitespace
        if not prefix:
            return RestartRecovery().at_cut(router, request, remaining, sent, attempt, trail)
        if not remaining:
            return None
        reason = f"streaming (continuing after {len(prefix)} chars)"

        def resume(admitted: Admitted, req: LLMRequest, timeout: float) -> FlowGen:
            begun = router.clock.monotonic()
            if getattr(admitted.endpoint.adapter, "accepts_prefill", False):
                try:
                    return (
                        yield from attempt(
                            router,
                            admitted,
                            with_prefill(req, prefix),
                            timeout,
                            continued=True,
                            commit_reason=reason,
                        )
                    )
                except ClientRequestError as error:
                    router._note(
                        admitted.provider,
                        AttemptOutcome.FAILED,
                        f"prefill refused, restarting without it: {error.reason}",
                        req,
                        trail,
                        router._ms(begun),
                        error.status,
                        error.error_type,
                        endpoint=admitted.endpoint,
                    )
            left = timeout - (router.clock.monotonic() - begun)
            if left <= 0:
                raise ProviderTimeout("no time left to restart after a refused prefill")
            return (
                yield from attempt(
                    router, admitted, req, left, restart=True, commit_reason=RESTARTED
                )
            )

        return remaining, resume


def with_prefill(request: LLMRequest, prefix: str) -> LLMRequest:
    """``request``'s conversation with ``prefix`` as a final assistant message to continue
    (never cached: it is a fragment of another answer)."""
    asked = request.messages or (Message("user", request.prompt or ""),)
    messages = (*asked, Message("assistant", prefix))
    return replace(request, prompt=None, messages=messages, cache=False)


_POLICIES: dict[str, Recovery] = {
    "raise": RaiseRecovery(),
    "restart": RestartRecovery(),
    "continue": ContinueRecovery(),
}


def recovery_for(name: str) -> Recovery:
    """The strategy named by ``stream_recovery`` (validated by Settings/LLMRequest)."""
    return _POLICIES[name]
