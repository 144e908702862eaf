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


class GatewayUnreachable(Exception):
    """The gateway did not give its health JSON; the message says why (no token, no URL
    credentials in it)."""


def check_gateway_url(url: str) -> str:
    """``url`` without a trailing slash, if it is an http(s) URL with a host and nothing
    else (no credentials, query or fragment); GatewayUnreachable otherwise, without echoing
    the value."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError when malformed
    except ValueError:
        raise GatewayUnreachable("--url: malformed URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GatewayUnreachable("--url: must be an http:// or https:// URL with a host")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise GatewayUnreachable(
            "--url: give scheme://host:port[/path] only (the token goes in --token or "
            "SARVANOM_GATEWAY_TOKEN)"
        )
    return url.strip().rstrip("/")


def fetch_gateway(
    url: str, *, token: str | None, probe: bool, timeout: float = 10.0
) -> tuple[str, dict[str, Any]]:
    """A running gateway's ``GET /health`` status and ``GET /health/gpu-providers`` JSON.

    Redirects are not followed (the token stays with the host it was meant for). Raises
    :class:`GatewayUnreachable` for a refused connection, a timeout, an HTTP error (401: the
    token is missing or wrong) or a body that is not the seed's health JSON.
    """
    import json
    import urllib.error
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect)

    def get(path: str, auth: bool) -> Any:
        headers = {"Accept": "application/json"}
        if auth and token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url + path, headers=headers)
        try:
            with opener.open(request, timeout=timeout) as reply:
                return json.loads(reply.read(4 * 1024 * 1024))
        except urllib.error.HTTPError as error:
            hint = " (set SARVANOM_GATEWAY_TOKEN or --token)" if error.code == 401 else ""
            raise GatewayUnreachable(f"GET {path}: HTTP {error.code}{hint}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GatewayUnreachable(f"GET {path}: {reason}") from None
        except ValueError:
            raise GatewayUnreachable(f"GET {path}: the reply is not JSON") from None

    alive = get("/health", auth=False)
    report = get("/health/gpu-providers" + ("?probe=true" if probe else ""), auth=True)
    providers = (
        report.get("gpu_providers", {}).get("providers") if isinstance(report, dict) else None
    )
    if not isinstance(providers, dict):
        raise GatewayUnreachable("GET /health/gpu-providers: not the seed's health JSON")
    status = alive.get("status", "?") if isinstance(alive, dict) else "?"
    return str(status), report
