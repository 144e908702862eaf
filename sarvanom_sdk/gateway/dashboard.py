"""The live dashboard (issue 17 item 2): ``GET /dashboard`` and ``GET /dashboard/state.json``.

:func:`install_dashboard` adds to a gateway app:

* ``GET /dashboard`` (+ ``/dashboard/dashboard.js``, ``/dashboard/dashboard.css``): a static
  page, plain HTML/CSS/JS shipped in the package (no build step, no external resource).
  **Public** (listed in :data:`PUBLIC_PATHS`): a browser cannot send a bearer token when it
  navigates to a page, and the shell holds no data — every number comes from
  ``state.json``. The page asks for the token once, keeps it in ``sessionStorage`` (gone
  when the tab closes; never in the URL) and sends it as ``Authorization: Bearer``. The
  page is served with a strict Content-Security-Policy (only its own script, style and
  ``state.json``), ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``.
* ``GET /dashboard/state.json``: the data, for the page and for scripts; **needs the
  gateway token** when one is set, like every other endpoint. Polled by the page every
  2 seconds.

``state.json`` (``"version": 1``; ``generated_at`` and ``circuit_open_until`` are ISO-8601
UTC, other times Unix seconds; latencies in ms; ``null`` when unknown)::

    {
      "version": 1,
      "generated_at": "2026-12-03T20:00:00Z",
      "uptime_s": 812,                        # since the gateway started
      "status": "healthy" | "degraded",       # degraded: only the stub can answer now
      "gateway": {"in_flight": 0, "waiting": 0},
      "window": {"bucket_seconds": 10.0, "buckets": 30, "seconds": 300.0},
      "totals": {                             # over the window
        "requests": 42, "cache_hits": 3,
        "stale": 1, "stub": 2,                # fallbacks: a stale cached answer, the stub's
        "hedges": 0, "cost_usd": 0.0},
      "hedges_total": 0,                      # since start (the router's count)
      "budget": {"budget_usd": 5.0 | null, "spent_usd": 0.12 | null,
                 "remaining_usd": 4.88 | null, "error": null | "..."},
      "series": [{"t": 1764792000.0, "requests": 3, "cache_hits": 0, "stale": 0,
                  "stub": 0, "hedges": 0, "cost_usd": 0.0}, ...],   # oldest first
      "providers": [{                         # chain order, the stub not included
        "name": "ollama_local",
        "status": "healthy" | "unhealthy" | "circuit_open" | "unknown",
        "circuit_state": "closed" | "half-open" | "open",
        "circuit_open_until": "2026-12-03T20:01:00Z" | null,
        "reopens_in_s": 41.5 | null,          # seconds until the breaker lets a trial in
        "consecutive_failures": 0, "success_count": 40, "error_count": 2,   # since start
        "latency_ms": 12.5,                   # smoothed latency of recent calls
        "last_failure_reason": "HTTP 503: ..." | null,
        "window": {"attempts": 12, "ok": 11, "failed": 1, "skipped": 0,
                   "success_rate": 0.9167 | null, "p50_ms": 10.4, "p95_ms": 31.0},
        "series": [{"t": ..., "attempts": .., "ok": .., "failed": .., "skipped": ..,
                    "success_rate": .., "p50_ms": .., "p95_ms": ..}, ...],
        "endpoints": [{"url": "http://127.0.0.1:8001", "circuit_state": "closed",
                       "circuit_open_until": null, "reopens_in_s": null,
                       "consecutive_failures": 0, "in_flight": 0, "latency_ms": 12.1,
                       "window": {...} | null}]   # as the provider's, this endpoint only
      }, ...],
      "recent": [{                            # newest first, at most 50
        "time": 1764792000.123, "trace_id": "...", "provider": "ollama_local",
        "outcome": "ok" | "cached" | "stale" | "stub", "latency_ms": 13.2,
        "cost_usd": 0.0,
        "trail": [{"provider": "remote_gpu", "endpoint": "http://gpu:8001" | null,
                   "outcome": "ok" | "failed" | "skipped", "reason": "connection refused",
                   "error_type": "connection" | null, "latency_ms": 1.2,
                   "status": 503 | null}, ...]
      }, ...]
    }

No prompt, answer, key or token is in it (see :mod:`.activity`). p50/p95 come from a
log-scale histogram (within 10%).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..layers.cost import BudgetLedger
from ..types import HealthStatus, ProviderHealth
from .activity import ActivityRecorder

if TYPE_CHECKING:
    from .app import Gateway

#: Paths served without the token: the static shell only, never data.
PUBLIC_PATHS = frozenset({"/dashboard", "/dashboard/dashboard.js", "/dashboard/dashboard.css"})
STATE_PATH = "/dashboard/state.json"
RECORDER = web.AppKey("sarvanom_dashboard_activity", ActivityRecorder)

_STATIC = {
    "/dashboard": ("dashboard.html", "text/html"),
    "/dashboard/dashboard.js": ("dashboard.js", "text/javascript"),
    "/dashboard/dashboard.css": ("dashboard.css", "text/css"),
}
_SHELL_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def install_dashboard(
    app: web.Application, gateway: Gateway, token: str | None = None, **recorder_options: Any
) -> None:
    """Add the dashboard's routes to ``app`` and start recording ``gateway``'s activity
    (a router observer and a response observer, removed again on cleanup). ``token`` (the
    gateway's) is redacted from reasons like the providers' keys. ``recorder_options`` go
    to :class:`ActivityRecorder` (``bucket_seconds``, ``buckets``, ``recent``)."""
    client = gateway.client
    router = client.router
    secrets = [*client.settings.secrets(), *([token] if token else [])]
    recorder = ActivityRecorder(
        router.clock, secrets=secrets, hedge_count=lambda: router.hedges, **recorder_options
    )
    app[RECORDER] = recorder
    router.observers.append(recorder.observe_attempt)
    gateway.response_observers.append(recorder.observe_response)

    async def detach(app: web.Application) -> None:
        if recorder.observe_attempt in router.observers:
            router.observers.remove(recorder.observe_attempt)

    app.on_cleanup.insert(0, detach)
    for path, (name, content_type) in _STATIC.items():
        app.router.add_get(path, _static_handler(name, content_type))

    async def state(request: web.Request) -> web.Response:
        body = await dashboard_state(gateway, recorder)
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    app.router.add_get(STATE_PATH, state)


async def dashboard_state(gateway: Gateway, recorder: ActivityRecorder) -> dict[str, Any]:
    """The ``state.json`` document (schema in the module docstring)."""
    client = gateway.client
    health = await client.get_provider_health()
    now = client.router.clock.wall()
    activity = recorder.snapshot(health)
    providers = [
        _provider_entry(h, activity["providers"].get(name, {}), activity["endpoints"], now)
        for name, h in health.items()
    ]
    answering = any(
        p["circuit_state"] != "open" and p["status"] != HealthStatus.UNHEALTHY.value
        for p in providers
    )
    return {
        "version": 1,
        "generated_at": _iso(now),
        "uptime_s": max(0, int(now.timestamp()) - gateway.started),
        "status": "healthy" if answering else "degraded",
        "gateway": {"in_flight": gateway.gate.in_flight, "waiting": gateway.gate.waiting},
        "window": activity["window"],
        "totals": activity["totals"],
        "hedges_total": client.router.hedges,
        "budget": await _budget(client.router.gate.ledger),
        "series": activity["series"],
        "providers": providers,
        "recent": activity["recent"],
    }


def _provider_entry(
    health: ProviderHealth,
    activity: dict[str, Any],
    endpoint_windows: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """One provider's entry; an endpoint's window is its own when attempts name it, else
    (a provider with one endpoint) the provider's."""
    single = activity.get("window") if len(health.endpoints) == 1 else None
    return {
        "name": health.provider.value,
        "status": health.status.value,
        "circuit_state": health.circuit_state,
        "circuit_open_until": _iso(health.circuit_open_until),
        "reopens_in_s": _seconds_until(health.circuit_open_until, now),
        "consecutive_failures": health.consecutive_failures,
        "success_count": health.success_count,
        "error_count": health.error_count,
        "latency_ms": round(health.latency_ms, 3),
        "last_failure_reason": activity.get("last_failure_reason"),
        "window": activity.get("window"),
        "series": activity.get("series", []),
        "endpoints": [
            {
                "url": e.url,
                "circuit_state": e.circuit_state,
                "circuit_open_until": _iso(e.circuit_open_until),
                "reopens_in_s": _seconds_until(e.circuit_open_until, now),
                "consecutive_failures": e.consecutive_failures,
                "in_flight": e.in_flight,
                "latency_ms": round(e.latency_ms, 3),
                "window": endpoint_windows.get(e.url, single),
            }
            for e in health.endpoints
        ],
    }


async def _budget(ledger: Any) -> dict[str, Any]:
    """Budget, spend and what is left; a shared (Redis) ledger is read off the event loop,
    and its failure is reported, not raised."""

    def read() -> tuple[float, float | None]:
        return float(ledger.spent_usd), ledger.remaining()

    budget = getattr(ledger, "budget_usd", None)
    try:
        spent, remaining = (
            read() if isinstance(ledger, BudgetLedger) else await asyncio.to_thread(read)
        )
    except Exception as error:  # a shared ledger that does not answer
        return {
            "budget_usd": budget,
            "spent_usd": None,
            "remaining_usd": None,
            "error": f"ledger unavailable ({type(error).__name__})",
        }
    return {
        "budget_usd": budget,
        "spent_usd": round(spent, 6),
        "remaining_usd": None if remaining is None else round(max(remaining, 0.0), 6),
        "error": None,
    }


def _static_handler(name: str, content_type: str) -> Any:
    body = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type=content_type, charset="utf-8", headers=_SHELL_HEADERS
        )

    return handle


def _seconds_until(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round(max((moment - now).total_seconds(), 0.0), 3)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
