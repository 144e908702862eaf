"""Hedging: race the first free provider against the next one when the first is slow.

When a ``complete()`` allows it (``SARVANOM_HEDGE`` or ``hedge=True``) and the first free
provider has not answered within its recent p95 latency (after enough samples) or the
configured delay, the same request also goes to the next free provider; the first answer
wins and the other call is cancelled. Never onto a paid provider unless ``hedge_paid``.
A mixin of :class:`~sarvanom_sdk.router.Router`: these are flow steps like its others.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .effects import Cancel, Send, Start, WaitFirst
from .endpoints import Admitted, Endpoint
from .errors import ProviderError, ProviderTimeout
from .routing import MIN_SAMPLES_FOR_HEDGE
from .types import PAID_PROVIDERS, Attempt, AttemptOutcome, LLMRequest, ProviderName

if TYPE_CHECKING:
    from .clock import Clock
    from .health import HealthRegistry
    from .http import HttpReply
    from .layers.cost import CostGate
    from .providers.base import Completion
    from .settings import Settings

FlowGen = Generator[Any, Any, Any]


class HedgingMixin:
    hedges: int

    if TYPE_CHECKING:  # provided by Router
        settings: Settings
        health: HealthRegistry
        clock: Clock
        gate: CostGate
        endpoints: Mapping[ProviderName, Sequence[Endpoint]]

        def _admit(
            self,
            provider: ProviderName,
            request: LLMRequest,
            trail: list[Attempt],
            deadline: float,
            *,
            queue: bool = True,
        ) -> FlowGen: ...

        def _parse(self, endpoint: Endpoint, reply: HttpReply) -> Completion: ...

        def _succeeded(
            self, admitted: Admitted, request: LLMRequest, trail: list[Attempt]
        ) -> None: ...

        def _failed(
            self,
            admitted: Admitted,
            error: ProviderError,
            request: LLMRequest,
            trail: list[Attempt],
        ) -> None: ...

        def _note(
            self,
            provider: ProviderName,
            outcome: AttemptOutcome,
            reason: str,
            request: LLMRequest,
            trail: list[Attempt],
            latency_ms: float = 0.0,
            status: int | None = None,
        ) -> None: ...

        def _ms(self, since: float) -> float: ...

    def _hedging(self, request: LLMRequest, order: Sequence[ProviderName]) -> bool:
        wanted = self.settings.hedge if request.hedge is None else request.hedge
        return wanted and len(self._hedgeable(order)) >= 2

    def _hedgeable(self, order: Sequence[ProviderName]) -> list[ProviderName]:
        if self.settings.hedge_paid:
            return list(order)
        return [p for p in order if p not in PAID_PROVIDERS]

    def _hedge_delay(self, provider: ProviderName) -> float | None:
        if self.settings.hedge_delay is not None:
            return self.settings.hedge_delay
        if self.health.sample_count(provider) < MIN_SAMPLES_FOR_HEDGE:
            return None
        p95 = self.health.latency_percentile(provider, 0.95)
        return None if p95 is None else p95 / 1000.0

    def _hedged(
        self,
        request: LLMRequest,
        started: float,
        trail: list[Attempt],
        order: Sequence[ProviderName],
    ) -> FlowGen:
        """Race the first free provider against the next one, started only if the first
        is slower than its hedge delay. Returns (routed or None, the providers left)."""
        deadline = started + (request.timeout or self.settings.total_timeout)
        running: list[Admitted] = []
        try:
            outcome = yield from self._race(request, trail, order, deadline, running)
        except GeneratorExit:
            for loser in running:  # the runner cancels what it started
                self._abandon(loser)
            raise
        for loser in running:
            yield Cancel(loser.handle)
            self._abandon(loser)
            self._note(
                loser.provider,
                AttemptOutcome.SKIPPED,
                "hedge lost: cancelled",
                request,
                trail,
                self._ms(loser.begun),
            )
        return outcome

    def _race(
        self,
        request: LLMRequest,
        trail: list[Attempt],
        order: Sequence[ProviderName],
        deadline: float,
        running: list[Admitted],
    ) -> FlowGen:
        candidates = self._hedgeable(order)
        used: list[ProviderName] = []
        backup_at: float | None = None
        while True:
            if not running or (backup_at is not None and self.clock.monotonic() >= backup_at):
                backup_at = None
                added = yield from self._start_next(
                    candidates, used, request, trail, deadline, queue=not running
                )
                if added is not None:
                    if running:
                        self.hedges += 1
                    else:
                        delay = self._hedge_delay(added.provider)
                        if delay is not None:
                            backup_at = self.clock.monotonic() + delay
                    running.append(added)
                elif not running:
                    return None, [p for p in order if p not in used]
            wake = deadline if backup_at is None else min(deadline, backup_at)
            handles = [a.handle for a in running]
            done = yield WaitFirst(handles, max(0.0, wake - self.clock.monotonic()))
            if not done and self.clock.monotonic() >= deadline:
                for late in running:
                    yield Cancel(late.handle)
                    self._failed(late, ProviderTimeout("total deadline reached"), request, trail)
                    self._leave_when_done(late)
                running.clear()
                return None, []
            for admitted in [a for a in running if a.handle in done]:
                running.remove(admitted)
                admitted.endpoint.bulkhead.leave()
                try:
                    completion = self._parse(admitted.endpoint, admitted.handle.result())
                except ProviderError as error:
                    self._failed(admitted, error, request, trail)
                    continue
                self._succeeded(admitted, request, trail)
                return (admitted, completion), []

    def _abandon(self, admitted: Admitted) -> None:
        """Give back everything an admitted call holds, counting no outcome."""
        admitted.endpoint.circuit.release(admitted.ticket)
        self.gate.release(admitted.hold)
        self._leave_when_done(admitted)

    @staticmethod
    def _leave_when_done(admitted: Admitted) -> None:
        """Free the bulkhead slot of a started call only when the call has really ended: a
        cancelled task ends at once, but a sync call already running in a thread cannot be
        interrupted and keeps its slot until it returns (so the limit holds)."""
        if admitted.handle is None:
            admitted.endpoint.bulkhead.leave()
        else:
            admitted.handle.add_done_callback(lambda _: admitted.endpoint.bulkhead.leave())

    def _start_next(
        self,
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
            admitted = yield from self._admit(provider, request, trail, deadline, queue=queue)
            if admitted is not None:
                timeout = min(self.settings.attempt_timeout, deadline - self.clock.monotonic())
                call = admitted.endpoint.adapter.build(request)
                admitted.handle = yield Start(Send(call, timeout))
                return admitted
        return None
