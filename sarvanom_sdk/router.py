"""Routing: the deadline, the free-first fallback over the chain, and per provider the cost
gate, retry, circuit breaker and attempt timeout — written once, as flows.

A flow is a generator that decides and yields the I/O it needs (:mod:`effects`); a runner
(:mod:`runners`) performs it with the sync or the async transport. So both clients share
every decision, and the only code that exists twice is the runner's dispatch.

``complete_flow``: for each provider in the chain, free first — skip it (with the reason
in the trail) when the cost gate or its breaker says so; otherwise call it with an attempt
timeout of ``min(LLM_TIMEOUT_SECONDS, what is left of the total deadline)``, retry once for
transient failures when time allows, and return the first real answer. When every provider
failed, the local stub answers (a stale cached answer is preferred by the cache layer).

``stream_flow`` (in :mod:`streamflow`, with its recovery policies in :mod:`recovery`):
the same, but a provider is committed to only when its first content arrives within the
first-token timeout; before that, a failure or silence moves on to the next provider,
unseen by the caller. After the commit a failure follows the stream recovery policy — by
default it ends the stream with :class:`~sarvanom_sdk.errors.StreamInterrupted` carrying
the text so far, never a clean end.

Whose fault a failure is decides what it counts (F5): a timeout under a limit the
request's own ``timeout`` shortened, or a 4xx or timeout answering the request's own
``model`` override, gives the breaker admission back without counting; a content-filter
refusal never counts either, and is raised to the caller unless ``on_content_filter`` is
"fallback". A failure after which the provider may have billed (a timeout) books its
reservation (F8).

Per provider the flow picks one of its endpoints (:func:`endpoints.choose`), waits at most
``queue_timeout`` for a slot in that endpoint's bulkhead (else "busy": next provider),
and after every reply reads the provider's quota headers (an exhausted quota keeps it out
until its reset, without a call). With hedging on, a ``complete()`` whose first free
provider has not answered within its recent p95 also asks the next free provider; the
first answer wins and the other call is cancelled (never onto a paid provider unless
``hedge_paid``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from .answers import UNSUPPORTED, checked_answer
from .chain import not_in_chain_reason
from .chat import unsupported_reason
from .clock import Clock
from .effects import Enter, Probe, Send, Sleep
from .endpoints import Admitted, Endpoint, choose
from .errors import (
    ContentFiltered,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    raise_if_refusal,
)
from .health import HealthRegistry
from .hedging import hedged, hedging_wanted
from .http import HttpReply
from .layers.cache import ResponseCache, request_key, served_from_cache
from .layers.cost import CostGate
from .layers.retry import RetryPolicy
from .providers.base import Completion
from .providers.stub import STUB_MODEL, failure_summary, stub_text
from .routing import order_providers, quota_exhausted_for
from .settings import Settings
from .streamflow import stream_flow
from .types import (
    Attempt,
    AttemptOutcome,
    LLMRequest,
    LLMResponse,
    ProviderName,
)

logger = logging.getLogger("sarvanom_sdk")

Observer = Callable[[Attempt, LLMRequest], None]
FlowGen = Generator[Any, Any, Any]
_STUB = ProviderName.LOCAL_STUB


#: While a breaker is open: how long one health probe may take (issue 13 item 8).
PROBE_TIMEOUT_SECONDS = 3.0


class Router:
    def __init__(
        self,
        *,
        settings: Settings,
        chain: Sequence[ProviderName],
        endpoints: Mapping[ProviderName, Sequence[Endpoint]],
        health: HealthRegistry,
        gate: CostGate,
        retry: RetryPolicy,
        cache: ResponseCache,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.chain = tuple(p for p in chain if p is not _STUB)
        self.endpoints = {p: tuple(e) for p, e in endpoints.items()}
        self.adapters = {p: e[0].adapter for p, e in self.endpoints.items()}
        self.health = health
        self.gate = gate
        self.retry = retry
        self.cache = cache
        self.clock = clock
        self.observers: list[Observer] = []
        self.hedges = 0
        self._rng = random.Random()
        self.chain_identity = "|".join(
            f"{p.value}={self.adapters[p].default_model}" for p in self.chain
        )

    # -- flows --------------------------------------------------------------------------
    def complete_flow(self, request: LLMRequest) -> FlowGen:
        started = self.clock.monotonic()
        trail: list[Attempt] = []
        order = self._candidates(request, trail)
        routed = None
        if hedging_wanted(self, request, order):
            routed, order = yield from hedged(self, request, started, trail, order)
        if routed is None:
            routed = yield from self._route(request, started, trail, self._complete_attempt, order)
        if routed is None:
            return self.stub_response(request, trail, started)
        admitted, completion = routed
        return self._respond(request, admitted, completion, trail, started)

    def stream_flow(self, request: LLMRequest) -> FlowGen:
        """The streaming flow (:func:`sarvanom_sdk.streamflow.stream_flow`)."""
        return stream_flow(self, request)

    # -- one attempt --------------------------------------------------------------------
    def _complete_attempt(self, admitted: Admitted, request: LLMRequest, timeout: float) -> Send:
        """A ``complete()`` attempt is one exchange: its :class:`Send`, whose reply
        :meth:`_route` parses with :meth:`_parse` (no generator of its own, issue 18)."""
        return Send(admitted.endpoint.adapter.build(request), timeout)

    def _parse(
        self, endpoint: Endpoint, reply: HttpReply, request: LLMRequest | None = None
    ) -> Completion:
        """The adapter's answer in ``reply``, its refusal raised, and (given ``request``)
        checked against what the request asked for (:func:`checked_answer`)."""
        self._note_quota(endpoint, reply.headers, reply.status)
        completion = endpoint.adapter.parse(reply)
        raise_if_refusal(completion.finish_reason, endpoint.provider.value)
        if request is None:
            return completion
        return checked_answer(request, completion, endpoint.provider)

    def _note_quota(self, endpoint: Endpoint, headers: Mapping[str, str], status: int) -> None:
        wait = quota_exhausted_for(headers, status, self.clock.wall)
        if wait:
            endpoint.circuit.hold_for(wait)

    # -- the fallback loop --------------------------------------------------------------
    def _route(
        self,
        request: LLMRequest,
        started: float,
        trail: list[Attempt],
        attempt: Callable[[Admitted, LLMRequest, float], FlowGen | Send],
        order: Sequence[ProviderName],
        *,
        hold: bool = False,
    ) -> FlowGen:
        """Try ``order``'s providers in turn; return (Admitted, attempt result) or None.

        ``attempt`` gives a flow whose return value is the result, or, for an attempt that
        is one whole exchange, its :class:`Send`: the reply is then parsed here
        (:meth:`_parse`), so a waiting ``complete()`` holds one generator frame less.

        ``hold=True`` keeps the bulkhead slot of the provider that answered (a stream
        gives it back when it ends)."""
        deadline = started + (request.timeout or self.settings.total_timeout)
        for provider in order:
            retries = 0
            while True:
                admitted = yield from self._admit(provider, request, trail, deadline)
                if admitted is None:
                    break
                limit = self.attempt_limit(admitted, request, deadline)
                try:
                    step: Any = attempt(admitted, request, limit)  # a Send or a flow
                    if type(step) is Send:
                        result = self._parse(admitted.endpoint, (yield step), request)
                    else:
                        result = yield from step
                except ProviderError as error:
                    admitted.endpoint.bulkhead.leave()
                    self._failed(admitted, error, request, trail)
                    self.raise_if_refused(error, request, trail)
                    wait = self.retry.delay(retries, error, deadline - self.clock.monotonic())
                    if wait is None:
                        break
                    retries += 1
                    if wait > 0:
                        yield Sleep(wait)
                    continue
                except BaseException:
                    self.abandon(admitted, request)  # cancelled or closed: no outcome
                    raise
                if hold:  # a stream: its outcome is known only when it ends
                    reason = getattr(result, "commit_reason", "streaming")
                    self._committed(admitted, request, trail, reason)
                else:
                    admitted.endpoint.bulkhead.leave()
                    self._succeeded(admitted, request, trail)
                return admitted, result
        return None

    def _admit(
        self,
        provider: ProviderName,
        request: LLMRequest,
        trail: list[Attempt],
        deadline: float,
        *,
        queue: bool = True,
    ) -> FlowGen:
        """Pass the cost gate, an endpoint's breaker and its bulkhead (waiting at most
        ``queue_timeout``, or not at all with ``queue=False``): an :class:`Admitted`, or
        None with the reason in the trail."""
        endpoints = self.endpoints[provider]
        model = request.model or endpoints[0].adapter.default_model
        hold = self.gate.hold(provider, model, request)
        refusal = hold if isinstance(hold, str) else None
        if not isinstance(hold, str):
            for endpoint in choose(endpoints, self._rng, self.clock.monotonic()):
                ticket = endpoint.circuit.admit()
                if type(ticket) is not int:
                    refusal = refusal or str(ticket)
                    probe = self._probe_if_due(endpoint, str(ticket))
                    if probe is not None:
                        yield probe
                    continue
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0.001:
                    endpoint.circuit.release(ticket)
                    self.gate.release(hold)
                    self._note(
                        provider, AttemptOutcome.SKIPPED, "total deadline reached", request, trail
                    )
                    return None
                try:
                    entered = endpoint.bulkhead.try_enter() or (
                        queue
                        and (
                            yield Enter(
                                endpoint.bulkhead, min(self.settings.queue_timeout, remaining)
                            )
                        )
                    )
                except BaseException:  # the flow was closed while queueing
                    endpoint.circuit.release(ticket)
                    self.gate.release(hold)
                    raise
                if entered:
                    return Admitted(provider, endpoint, ticket, self.clock.monotonic(), hold=hold)
                endpoint.circuit.release(ticket)
                refusal = f"busy ({endpoint.bulkhead.limit} in flight at {endpoint.label})"
            self.gate.release(hold)
        self._note(provider, AttemptOutcome.SKIPPED, refusal or "unavailable", request, trail)
        return None

    def _probe_if_due(self, endpoint: Endpoint, refusal: str) -> Probe | None:
        """While ``endpoint``'s breaker is open, a background health probe at most every
        ``SARVANOM_BREAKER_PROBE_SECONDS`` (0: never) and one at a time (issue 13 item 8):
        a healthy answer ends the open period, so a recovered provider waits seconds for
        its trial call, not the whole reset period (which stays the longest wait)."""
        interval = self.settings.breaker_probe_interval
        if not interval or not refusal.startswith("circuit open"):
            return None
        now = self.clock.monotonic()
        if now < endpoint.next_probe_at:
            return None
        call = endpoint.adapter.health_call()
        if call is None or not endpoint.probe_gate.acquire(blocking=False):
            return None
        endpoint.next_probe_at = now + interval
        timeout = min(PROBE_TIMEOUT_SECONDS, self.settings.attempt_timeout)

        def done(reply: HttpReply | None, error: ProviderError | None) -> None:
            try:
                if error is None and reply is not None and 200 <= reply.status < 300:
                    endpoint.circuit.allow_trial()
            finally:
                endpoint.probe_gate.release()

        return Probe(call, timeout, done)

    def _succeeded(self, admitted: Admitted, request: LLMRequest, trail: list[Attempt]) -> None:
        latency = self._ms(admitted.begun)
        admitted.endpoint.circuit.record_success(admitted.ticket)
        admitted.endpoint.observe(latency, self.clock.monotonic())
        self.health.record_success(admitted.provider, latency)
        self._note(
            admitted.provider, AttemptOutcome.OK, "answered", request, trail, latency,
            endpoint=admitted.endpoint,
        )

    def _committed(
        self, admitted: Admitted, request: LLMRequest, trail: list[Attempt], reason: str
    ) -> None:
        """A stream's first content arrived: note the time to it; the breaker and the
        health counts learn the outcome when the stream ends."""
        latency = self._ms(admitted.begun)
        admitted.endpoint.observe(latency, self.clock.monotonic())
        self._note(
            admitted.provider, AttemptOutcome.OK, reason, request, trail, latency,
            endpoint=admitted.endpoint,
        )

    def attempt_limit(self, admitted: Admitted, request: LLMRequest, deadline: float) -> float:
        """An attempt's time limit: the attempt timeout, or what is left of the deadline.
        Marks ``admitted.caller_limited`` when the request's own ``timeout`` made it
        shorter than the client's total deadline would have (F5)."""
        now = self.clock.monotonic()
        limit = min(self.settings.attempt_timeout, deadline - now)
        if request.timeout is not None and request.timeout < self.settings.total_timeout:
            configured_end = deadline - request.timeout + self.settings.total_timeout
            configured = min(self.settings.attempt_timeout, configured_end - now)
            admitted.caller_limited = limit < configured
        return limit

    def caller_caused(self, admitted: Admitted, error: ProviderError, request: LLMRequest) -> bool:
        """Whether ``error`` came from the caller's own request rather than the provider's
        health (F5): a timeout under a limit the request's ``timeout`` shortened, or a
        timeout or 4xx (but 429) answering the request's ``model`` override. Such failures
        give the breaker admission back without counting, so one caller cannot open a
        provider's breaker for everyone. (Not counted per model instead: per-model state
        keyed by a caller's model names would grow without bound, in Redis too.)"""
        if isinstance(error, ProviderTimeout):
            return admitted.caller_limited or request.model is not None
        return (
            request.model is not None
            and isinstance(error, ProviderHTTPError)
            and error.status is not None
            and 400 <= error.status < 500
            and error.status != 429
        )

    def settle_failure(
        self,
        admitted: Admitted,
        error: ProviderError,
        request: LLMRequest,
        delivered_chars: int = 0,
    ) -> None:
        """The breaker and the budget learn of a failed attempt: not counted when the
        caller or the content caused it (F5, issue 13 items 6-7); the reservation booked
        when the provider may have billed (a timeout, or content already delivered: F8),
        released otherwise."""
        circuit = admitted.endpoint.circuit
        if isinstance(error, ContentFiltered) or self.caller_caused(admitted, error, request):
            if error.status == 429 and error.retry_after:
                circuit.hold_for(error.retry_after)
            circuit.release(admitted.ticket)
        else:
            circuit.record_failure(admitted.ticket, error)
        if delivered_chars or isinstance(error, ProviderTimeout):
            self.gate.forfeit(
                admitted.hold, admitted.provider, self.model_of(admitted, request), request,
                delivered_chars,
            )
        else:
            self.gate.release(admitted.hold)

    def _failed(
        self, admitted: Admitted, error: ProviderError, request: LLMRequest, trail: list[Attempt]
    ) -> None:
        latency = self._ms(admitted.begun)
        self.settle_failure(admitted, error, request)
        admitted.endpoint.observe_failure(
            self.settings.attempt_timeout * 1000.0, self.clock.monotonic()
        )
        self.record_failure(
            admitted.provider, error, error.reason, latency, request, trail,
            endpoint=admitted.endpoint,
        )

    def raise_if_refused(
        self, error: ProviderError, request: LLMRequest, trail: list[Attempt], partial: str = ""
    ) -> None:
        """A content-filter refusal ends the request (issue 13 item 6) unless its policy
        says to fall over: raise it with the trail."""
        if not isinstance(error, ContentFiltered):
            return
        policy = request.on_content_filter or self.settings.on_content_filter
        if policy == "fallback":
            return
        error.attempts = tuple(trail)
        error.trace_id = request.trace_id
        error.partial_text = partial
        raise error

    def abandon(self, admitted: Admitted, request: LLMRequest | None = None) -> None:
        """Give back everything an admitted call holds, counting no breaker outcome; the
        call was sent, so a paid one books its reservation (F8: the provider may bill it)."""
        admitted.endpoint.circuit.release(admitted.ticket)
        if request is None:
            self.gate.release(admitted.hold)
        else:
            self.gate.forfeit(
                admitted.hold, admitted.provider, self.model_of(admitted, request), request
            )
        admitted.leave_when_done()

    def model_of(self, admitted: Admitted, request: LLMRequest) -> str:
        """The model a call to ``admitted`` is priced at."""
        return request.model or admitted.endpoint.adapter.default_model

    def _candidates(self, request: LLMRequest, trail: list[Attempt]) -> tuple[ProviderName, ...]:
        """The providers to try, in order: the chain (or the pin), without those lacking
        a capability the request needs (each noted in the trail)."""
        pinned = request.provider
        if pinned is None:
            order = order_providers(
                self.chain, request, self.settings.routing_policy, self._best_latency
            )
        elif pinned is _STUB:
            return ()
        elif pinned in self.chain:
            order = (pinned,)
        else:
            reason = not_in_chain_reason(pinned, self.settings)
            self._note(pinned, AttemptOutcome.SKIPPED, reason, request, trail)
            return ()
        needed = request.needed_capabilities()
        return self._capable(order, needed, request, trail) if needed else order

    def _capable(
        self,
        order: Sequence[ProviderName],
        needed: frozenset[str],
        request: LLMRequest,
        trail: list[Attempt],
    ) -> tuple[ProviderName, ...]:
        """``order`` without the providers whose adapter lacks one of ``needed``: each is
        noted skipped ("no tool support", error_type ``unsupported``), with no call and
        no breaker or health effect (issue 14 item 5)."""
        capable = []
        for provider in order:
            missing = needed - self.adapters[provider].capabilities
            if missing:
                self._note(
                    provider, AttemptOutcome.SKIPPED, unsupported_reason(missing), request,
                    trail, error_type=UNSUPPORTED,
                )
            else:
                capable.append(provider)
        return tuple(capable)

    def _best_latency(self, provider: ProviderName) -> float | None:
        now = self.clock.monotonic()
        known = [ms for e in self.endpoints[provider] if (ms := e.latency_ms(now)) > 0]
        return min(known) if known else None

    # -- answers ------------------------------------------------------------------------
    def _respond(
        self,
        request: LLMRequest,
        admitted: Admitted,
        completion: Completion,
        trail: list[Attempt],
        started: float,
    ) -> LLMResponse:
        provider = admitted.provider
        adapter = self.adapters[provider]
        priced_model = request.model or adapter.default_model
        return LLMResponse(
            success=True,
            provider=provider,
            content=completion.content,
            model=completion.model or priced_model,
            latency_ms=self._ms(started),
            usage=completion.usage,
            cost_usd=self.gate.settle(admitted.hold, provider, priced_model, completion.usage),
            trace_id=request.trace_id,
            attempts=tuple(trail),
            reasoning=completion.reasoning,
            finish_reason=completion.finish_reason,
            tool_calls=completion.tool_calls,
            parsed=completion.parsed,
        )

    def stub_response(
        self, request: LLMRequest, trail: list[Attempt], started: float
    ) -> LLMResponse:
        self._note(_STUB, AttemptOutcome.OK, "last resort", request, trail)
        failed = trail[:-1]
        return LLMResponse(
            success=False,
            provider=_STUB,
            content=stub_text(failed),
            error_message=failure_summary(failed),
            model=STUB_MODEL,
            latency_ms=self._ms(started),
            trace_id=request.trace_id,
            attempts=tuple(trail),
        )

    def fallback_response(
        self, request: LLMRequest, trail: list[Attempt], started: float, key: str | None
    ) -> LLMResponse:
        """A stale cached answer if there is one, else the stub's."""
        stale = self.cache.get_stale(key) if key is not None else None
        if stale is not None:
            return served_from_cache(
                stale, request, stale=True, attempts=trail, latency_ms=self._ms(started)
            )
        return self.stub_response(request, trail, started)

    def cache_key(self, request: LLMRequest) -> str | None:
        """The request's cache key, or None when it is not to be cached."""
        if not (request.cache and self.cache.enabled) or request.provider is _STUB:
            return None
        return request_key(request, self.chain_identity)

    def _stub_allowed(self, request: LLMRequest) -> bool:
        return self.settings.fallback_to_stub or request.provider is _STUB

    # -- bookkeeping --------------------------------------------------------------------
    def record_failure(
        self,
        provider: ProviderName,
        error: ProviderError,
        reason: str,
        latency_ms: float,
        request: LLMRequest,
        trail: list[Attempt],
        error_type: str | None = None,
        *,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.health.record_failure(provider, reason)
        self._note(
            provider,
            AttemptOutcome.FAILED,
            reason,
            request,
            trail,
            latency_ms,
            error.status,
            error_type or error.error_type,
            endpoint=endpoint,
        )

    def _note(
        self,
        provider: ProviderName,
        outcome: AttemptOutcome,
        reason: str,
        request: LLMRequest,
        trail: list[Attempt],
        latency_ms: float = 0.0,
        status: int | None = None,
        error_type: str | None = None,
        *,
        endpoint: Endpoint | None = None,
    ) -> None:
        """Append an attempt to the trail, log it and tell the observers. The endpoint is
        named (scheme, host, port) when the provider has several (D7); the log line's
        message carries the request's trace id (D16)."""
        label = None
        if endpoint is not None and len(self.endpoints.get(provider, ())) > 1:
            label = endpoint.label
        attempt = Attempt(provider, outcome, reason, latency_ms, status, error_type, label)
        trail.append(attempt)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s%s %s (%s) %.1f ms trace=%s",
                provider.value,
                f" {label}" if label else "",
                outcome.value,
                reason,
                latency_ms,
                request.trace_id,
                extra={
                    "provider": provider.value,
                    "endpoint": label,
                    "outcome": outcome.value,
                    "reason": reason,
                    "latency_ms": round(latency_ms, 3),
                    "status": status,
                    "error_type": error_type,
                    "trace_id": request.trace_id,
                },
            )
        for observer in self.observers:
            observer(attempt, request)

    def _ms(self, since: float) -> float:
        return (self.clock.monotonic() - since) * 1000.0

