"""Hedging: race the first free provider against the next one when the first is slow.

When a ``complete()`` allows it (``SARVANOM_HEDGE`` or ``hedge=True``) and the first free
provider has not answered within its recent p95 latency (after enough samples) or the
configured delay, the same request also goes to the next free provider; the first answer
wins and the other call is cancelled. Never onto a paid provider unless ``hedge_paid``.
These are flow steps of :class:`~sarvanom_sdk.router.Router`, kept apart because the
race is a concern of its own; each takes the router as its first argument.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from .effects import Cancel, Send, Start, WaitFirst
from .endpoints import Admitted
from .errors import ProviderError, ProviderTimeout
from .routing import MIN_SAMPLES_FOR_HEDGE
from .types import PAID_PROVIDERS, Attempt, AttemptOutcome, LLMRequest, ProviderName

if TYPE_CHECKING:
    from .router import Router

FlowGen = Generator[Any, Any, Any]


def hedging_wanted(router: Router, request: LLMRequest, order: Sequence[ProviderName]) -> bool:
    wanted = router.settings.hedge if request.hedge is None else request.hedge
    return wanted and len(_hedgeable(router, order)) >= 2


def _hedgeable(router: Router, order: Sequence[ProviderName]) -> list[ProviderName]:
    if router.settings.hedge_paid:
        return list(order)
    return [p for p in order if p not in PAID_PROVIDERS]


def _hedge_delay(router: Router, provider: ProviderName) -> float | None:
    if router.settings.hedge_delay is not None:
        return router.settings.hedge_delay
    if router.health.sample_count(provider) < MIN_SAMPLES_FOR_HEDGE:
        return None
    p95 = router.health.latency_percentile(provider, 0.95)
    return None if p95 is None else p95 / 1000.0


def hedged(
    router: Router,
    request: LLMRequest,
    started: float,
    trail: list[Attempt],
    order: Sequence[ProviderName],
) -> FlowGen:
    """Race the first free provider against the next one, started only if the first
    is slower than its hedge delay. Returns (routed or None, the providers left)."""
    deadline = started + (request.timeout or router.settings.total_timeout)
    running: list[Admitted] = []
    try:
        outcome = yield from _race(router, request, trail, order, deadline, running)
    except BaseException:  # closed, cancelled, or a refusal raised to the caller
        for loser in running:  # the runner cancels what it started
            router.abandon(loser, request)
        raise
    for loser in running:
        yield Cancel(loser.handle)
        router.abandon(loser, request)  # a paid loser books its reservation (F8)
        router._note(
            loser.provider,
            AttemptOutcome.SKIPPED,
            "hedge lost: cancelled",
            request,
            trail,
            router._ms(loser.begun),
            endpoint=loser.endpoint,
        )
    return outcome


def _race(
    router: Router,
    request: LLMRequest,
    trail: list[Attempt],
    order: Sequence[ProviderName],
    deadline: float,
    running: list[Admitted],
) -> FlowGen:
    candidates = _hedgeable(router, order)
    used: list[ProviderName] = []
    backup_at: float | None = None
    while True:
        if not running or (backup_at is not None and router.clock.monotonic() >= backup_at):
            backup_at = None
            added = yield from _start_next(
                router, candidates, used, request, trail, deadline, queue=not running
            )
            if added is not None:
                if running:
                    router.hedges += 1
                else:
                    delay = _hedge_delay(router, added.provider)
                    if delay is not None:
                        backup_at = router.clock.monotonic() + delay
                running.append(added)
            elif not running:
                return None, [p for p in order if p not in used]
        wake = deadline if backup_at is None else min(deadline, backup_at)
        handles = [a.handle for a in running]
        done = yield WaitFirst(handles, max(0.0, wake - router.clock.monotonic()))
        if not done and router.clock.monotonic() >= deadline:
            for late in running:
                yield Cancel(late.handle)
                router._failed(late, ProviderTimeout("total deadline reached"), request, trail)
                late.leave_when_done()
            running.clear()
            return None, []
        for admitted in [a for a in running if a.handle in done]:
            running.remove(admitted)
            admitted.endpoint.bulkhead.leave()
            try:
                completion = router._parse(admitted.endpoint, admitted.handle.result(), request)
            except ProviderError as error:
                router._failed(admitted, error, request, trail)
                router.raise_if_refused(error, request, trail)
                continue
            router._succeeded(admitted, request, trail)
            return (admitted, completion), []


def _start_next(
    router: Router,
    candidates: list[ProviderName],
    used: list[ProviderName],
    request: LLMRequest,
    trail: list[Attempt],
    deadline: float,
    *,
    queue: bool,
) -> FlowGen:
    for provider in candidates:
        if provider in used:
            continue
        used.append(provider)
        # A backup takes only a free slot: queueing for it would delay the primary.
        admitted = yield from router._admit(provider, request, trail, deadline, queue=queue)
        if admitted is not None:
            timeout = router.attempt_limit(admitted, request, deadline)
            call = admitted.endpoint.adapter.build(request)
            admitted.handle = yield Start(Send(call, timeout))
            return admitted
    return None
