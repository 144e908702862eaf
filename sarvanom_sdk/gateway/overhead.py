"""The gateway's own time for a request, excluding providers (issue 17 §4).

``x-sarvanom-overhead-ms`` on every answer of ``/api/query`` and ``/v1/chat/completions``
(and the ``sarvanom_gateway_overhead_seconds`` histogram): the time since the request's
headers arrived until its answer starts (a stream: its first chunk), minus the time its
provider attempts took (as the SDK's attempt trail measures them). What is left is the
gateway's and the SDK's own work: reading and checking the body, routing, the cache,
waiting for a slot. Overlapping attempts (hedging) are summed, so the figure can only err
low; it is never negative. Attempts are matched to requests by trace id: two requests sent
at once with the same ``X-Request-ID`` may mix their figures.
"""

from __future__ import annotations

from ..types import Attempt, AttemptOutcome, LLMRequest

HEADER = "x-sarvanom-overhead-ms"


class OverheadMeter:
    """Sums provider time per request (a router observer), keyed by trace id."""

    def __init__(self) -> None:
        self._provider_ms: dict[str, float] = {}

    def observe_attempt(self, attempt: Attempt, request: LLMRequest) -> None:
        if attempt.outcome is not AttemptOutcome.SKIPPED and request.trace_id in self._provider_ms:
            self._provider_ms[request.trace_id] += attempt.latency_ms

    def watch(self, trace_id: str) -> None:
        """Count the attempts of the request ``trace_id`` from now until :meth:`forget`
        (plain calls, no context-manager generator per request: issue 18)."""
        self._provider_ms[trace_id] = 0.0

    def forget(self, trace_id: str) -> None:
        """Stop counting for ``trace_id`` (its request ended)."""
        self._provider_ms.pop(trace_id, None)

    def overhead_ms(self, trace_id: str, elapsed_ms: float) -> float:
        """``elapsed_ms`` minus the provider time counted so far for ``trace_id``."""
        return max(0.0, elapsed_ms - self._provider_ms.get(trace_id, 0.0))
