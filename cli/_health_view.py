"""What ``sarvanom health`` shows and the exit status it gives, from the seed's health JSON.

One view for both sources: this process's providers (``sarvanom health [--probe]``) and a
running gateway's ``/health/gpu-providers`` (``sarvanom health --url``). Pure functions of
the JSON, so the exit-status rule is written once.

Exit status, for monitoring (D23):

* ``0`` (:data:`EXIT_HEALTHY`): at least one real provider is healthy;
* ``3`` (:data:`EXIT_UNHEALTHY`): none is (nothing configured, or every provider failed or
  has its breaker open): only the local stub would answer;
* ``4`` (:data:`EXIT_UNKNOWN`): none is known to be healthy and some are unknown (no call
  and no probe yet: run with ``--probe``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 3
EXIT_UNKNOWN = 4


def verdict(providers: Mapping[str, Mapping[str, Any]]) -> tuple[int, str, str]:
    """(exit status, overall status word, one-line summary) for the seed's ``providers``
    mapping (name -> {"status": ...})."""
    statuses = [str(p.get("status", "unknown")) for p in providers.values()]
    if not statuses:
        return EXIT_UNHEALTHY, "degraded", (
            "no real provider is configured: only the local stub would answer"
        )
    healthy = statuses.count("healthy")
    if healthy:
        return EXIT_HEALTHY, "healthy", f"{healthy} of {len(statuses)} real providers healthy"
    unknown = statuses.count("unknown")
    if unknown:
        return EXIT_UNKNOWN, "unknown", (
            f"{unknown} of {len(statuses)} real providers unknown (no call or probe yet; "
            "use --probe) and none known to be healthy"
        )
    return EXIT_UNHEALTHY, "degraded", (
        "no real provider is healthy: only the local stub would answer"
    )


def table(
    providers: Mapping[str, Mapping[str, Any]],
    endpoints: Mapping[str, Sequence[Any]] | None = None,
) -> list[str]:
    """The table: one row per provider (status, latency, counts, breaker, last error) and,
    for providers with several endpoints, one row per endpoint (``EndpointHealth``)."""
    lines = [
        f"{'provider':<14}{'status':<14}{'latency':>10}{'ok':>6}{'errors':>8}  "
        f"{'breaker':<10}last error"
    ]
    for name, h in providers.items():
        breaker = "open" if h.get("circuit_open_until") else "closed"
        breaker = str(h.get("circuit_state", breaker))
        lines.append(
            f"{name:<14}{str(h.get('status')):<14}{float(h.get('latency_ms') or 0):>8.1f}ms"
            f"{int(h.get('success_count') or 0):>6}{int(h.get('error_count') or 0):>8}  "
            f"{breaker:<10}{h.get('last_error') or ''}"
        )
        several = (endpoints or {}).get(name, ())
        if len(several) > 1:
            for endpoint in several:
                lines.append(
                    f"  {endpoint.url:<38}{endpoint.latency_ms:>8.1f}ms  "
                    f"{endpoint.in_flight} in flight  breaker {endpoint.circuit_state}"
                )
    return lines
